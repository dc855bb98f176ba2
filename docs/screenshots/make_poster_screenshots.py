"""Make the poster-mode screenshots: the poster panel over a gallery picture, and the exported PDF's
page rendered by poppler's `pdftoppm`.

    python main.py generate "sunset over the sea, purple sky, orange sun center" --size 512x724 --seed 7 --out sunset.png
    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 QT_QPA_PLATFORM=xcb python docs/screenshots/make_poster_screenshots.py sunset.png

Writes docs/screenshots/poster_panel.png and docs/screenshots/poster_pdf_page.png (the gallery is a
throw-away one in a temporary SIGMA_STUDIO_HOME). The panel's title is dragged with the mouse
first, so the grab shows a placed layer and its selection box.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--title", default="Sunset Sessions")
    parser.add_argument("--subtitle", default="Live music by the sea · every Friday in June")
    parser.add_argument("--footer", default="Praia da Rocha · 8 pm · free entry")
    args = parser.parse_args()
    os.environ["SIGMA_STUDIO_HOME"] = tempfile.mkdtemp(prefix="sigma-poster-shots-")
    from PIL import Image
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    from app import metadata
    from app.gallery.store import Gallery
    from ui.poster_panel import PosterPanel

    gallery = Gallery()
    with Image.open(args.image) as opened:
        params = metadata.read_params(opened) or {}
        record = gallery.add(opened.convert("RGB"), params)
    panel = PosterPanel(record.path, record.params, gallery, record.id)
    for role in ("title", "subtitle", "footer"):
        panel.poster.layer(role).text = getattr(args, role)
    panel.select_layer("title")
    panel.relayout()
    panel.show()
    _pump(app, 0.5)
    title = next(p for p in panel.placements if p.role == "title")
    canvas = panel.canvas
    target, scale = canvas.target_rect(), canvas.target_rect().width() / canvas.design[0]
    left, top, right, bottom = title.block.rect
    start = QPoint(int(target.left() + (left + right) / 2 * scale), int(target.top() + (top + bottom) / 2 * scale))
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(canvas, start + QPoint(0, 40))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(0, 40))
    panel.save()
    _pump(app, 0.3)
    panel.grab().save(str(HERE / "poster_panel.png"))
    out = Path(tempfile.mkdtemp()) / "poster.pdf"
    panel.crop_check.setChecked(True)
    started = time.perf_counter()
    panel.export_pdf(out)
    _pump(app, 120, until=lambda: panel._task is None and out.exists())
    print(f"PDF export from the panel: {time.perf_counter() - started:.1f} s -> {out}")
    _pump(app, 0.3)
    panel.grab().save(str(HERE / "poster_panel.png"))
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-singlefile", str(out), str(HERE / "poster_pdf_page")], check=True)
    for name in ("poster_panel.png", "poster_pdf_page.png"):
        print(f"{HERE / name}: {(HERE / name).stat().st_size // 1024} KB")
    gallery.close()
    return 0


def _pump(app, seconds: float, until=None) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        if until is not None and until():
            return
        time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
