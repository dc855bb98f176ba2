"""Make docs/screenshots/export_tile_span.png: the export dialog on a tileable image and a plain one,
"Fill by repeating the tile" chosen, "Span across my screens" on with a bezel gap, after the export
(so "Set as wallpaper" shows), then "Set as wallpaper" pressed as on KDE Plasma, whose per-screen
script is built but not sent (no desktop is changed), so the dialog shows what it says there.

    xvfb-run -s "-screen 0 1600x1000x24" python docs/screenshots/make_export_tile_span.py

The screens are a synthetic three-screen desk (2560×1440, 1920×1080, a 2× laptop), passed to the
dialog in place of the Xvfb screen; the images are drawn (a wrapping pattern, a flat colour) in a
throw-away gallery, and the export goes to a temporary folder.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).resolve().parent / "export_tile_span.png"


def pattern(side: int = 256) -> Image.Image:
    """A picture that wraps around both axes (whole periods of sines)."""
    y, x = np.mgrid[0:side, 0:side] / side * 2 * np.pi
    rgb = np.stack([128 + 100 * np.sin(2 * x) * np.cos(y), 128 + 100 * np.cos(x + y), 128 + 90 * np.sin(3 * y)], -1)
    return Image.fromarray(rgb.astype(np.uint8))


def main() -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    from app.gallery import Gallery
    from app.screens import Screen
    from ui.export_dialog import ExportDialog

    tmp = Path(tempfile.mkdtemp(prefix="sigma-shot-"))
    gallery = Gallery(tmp / "gallery")
    base = {"negative": "", "steps": 20, "guidance": 4.5, "model": "demo", "kv_compress": "off"}
    tiles = gallery.add(pattern(), {**base, "prompt": "art deco tiles, gold and teal", "seed": 42, "tileable": "both"})
    plain = gallery.add(Image.new("RGB", (320, 180), (30, 60, 90)), {**base, "prompt": "misty harbour at dawn", "seed": 7})
    screens = [Screen("DP-1", 0, 0, 2560, 1440, width_mm=597), Screen("DP-2", 2560, 0, 1920, 1080, width_mm=527),
               Screen("eDP-1", 4480, 0, 1440, 900, dpr=2.0, width_mm=300)]
    dialog = ExportDialog([tiles, plain], screens=screens)
    dialog.set_out_dir(tmp / "out")
    dialog.span_box.setChecked(True)
    dialog.span_box.bezel.setValue(12.5)
    dialog.show()

    def set_wallpaper_as_on_kde() -> None:
        import functools
        import subprocess

        from app.wallpaper import set_wallpaper

        def not_sent(command, **_kwargs):
            return subprocess.CompletedProcess(command, 0, "", "")

        dialog.wallpaper.setter = functools.partial(set_wallpaper, desktop="kde", run=not_sent, which={}.get)
        dialog.wallpaper.done.connect(lambda *_args: QTimer.singleShot(300, grab))
        dialog.wallpaper.set_now()

    def grab() -> None:
        dialog.grab().save(str(OUT))
        print(f"{OUT} ({dialog.width()}x{dialog.height()})")
        gallery.close()
        app.quit()

    dialog.finished_export.connect(lambda _report: QTimer.singleShot(300, set_wallpaper_as_on_kde))
    QTimer.singleShot(300, dialog.start)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
