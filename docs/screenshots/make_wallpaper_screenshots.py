"""Make the issue-14 screenshots: the size picker on "Span all screens" (span_size.png) and the
gallery's context menu with "Set as wallpaper" (gallery_wallpaper.png).

Run on a desktop or under Xvfb; the studio runs on the fake engine (no model, no torch):

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 QT_QPA_PLATFORM=xcb python docs/screenshots/make_wallpaper_screenshots.py

Xvfb gives Qt one screen (its RandR keeps no --setmonitor monitors, and Qt 6 reads no Xinerama
heads), so with fewer than two screens the picker is given a synthetic pair (a 27-inch 2560×1440
next to a 24-inch 1920×1080) through SizePicker.set_screens; the script says which it used.
Popups are separate windows, so both pictures are grabs of the screen cropped to the window.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_screenshots import MAX_BYTES, WINDOW_SIZE, procedural_wallpaper, pump  # noqa: E402

SYNTHETIC = [("DP-1", 0, 0, 2560, 1440, 1.0, 597.0, 336.0), ("HDMI-1", 2560, 180, 1920, 1080, 1.0, 527.0, 296.0)]
BEZEL_MM = 12.0
GALLERY = [("Misty mountains at dawn, layered ridges fading into fog", "mountains", None),
           ("Terrazzo tiles, seamless pattern, warm pastel chips", "dunes", "both"),
           ("Neon city skyline at night, glowing magenta and cyan", "neon", None),
           ("Minimal sunset over a calm sea, large warm sun", "sunset", None),
           ("Aurora borealis over a frozen lake, green ribbons", "aurora", None),
           ("Desert dunes under a violet sky, long shadows", "dunes", None)]


def grab_screen(app, window, path: Path) -> None:
    """The screen under the window (popups included), cropped to the window's frame, as a small PNG."""
    from PIL import Image

    frame = window.frameGeometry()
    pixmap = app.primaryScreen().grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
    pixmap.save(str(path))
    if path.stat().st_size > MAX_BYTES:
        image = Image.open(path).convert("RGB")
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"{path}: {path.stat().st_size // 1024} KB")


def terrazzo(seed: int, size: tuple[int, int]):
    """A drawn seamless tile (chips wrapped around its edges), repeated to `size` by app.tiles.fill."""
    import random

    from PIL import Image, ImageDraw

    from app.tiles import fill

    rng = random.Random(seed)
    tile = Image.new("RGB", (160, 120), (238, 226, 212))
    draw = ImageDraw.Draw(tile)
    for _ in range(40):
        x, y, r = rng.randrange(160), rng.randrange(120), rng.randint(3, 11)
        colour = rng.choice([(214, 120, 96), (120, 150, 140), (70, 80, 110), (230, 180, 120), (180, 170, 200)])
        for dx in (-160, 0, 160):
            for dy in (-120, 0, 120):
                draw.ellipse([x + dx - r, y + dy - r * 0.7, x + dx + r, y + dy + r * 0.7], fill=colour)
    return fill(tile, size)


def fill_gallery(gallery) -> None:
    for i, (prompt, kind, tileable) in enumerate(GALLERY):
        seed = 2000 + i * 7919
        image = terrazzo(seed, (640, 360)) if tileable else procedural_wallpaper(kind, seed, (640, 360))
        gallery.add(image, {"prompt": prompt, "negative": "", "width": image.width, "height": image.height,
                            "seed": 2000 + i, "steps": 20, "guidance": 4.5, "model": "demo", "kv_compress": "auto",
                            **({"tileable": tileable} if tileable else {})})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent))
    args = parser.parse_args()
    os.environ["SIGMA_STUDIO_HOME"] = tempfile.mkdtemp(prefix="sigma-shots-")
    out = Path(args.out)

    from PySide6.QtWidgets import QApplication, QMenu

    app = QApplication(["sigma-studio"])
    app.setApplicationName("Sigma Studio")
    from app.bootstrap import build_window
    from app.gallery import Gallery
    from app.screens import Screen, read_screens
    from app.settings import Settings
    from tests.fake_engine import FakeEngine
    from ui.theme import apply_theme

    gallery = Gallery()
    fill_gallery(gallery)
    settings = Settings.load()
    apply_theme(app, settings.theme)
    window = build_window(settings, gallery, functools.partial(FakeEngine, step_s=0.0))
    window.resize(*WINDOW_SIZE)
    window.move(0, 0)
    window.show()
    window.start(None)
    pump(app, until=lambda: window.model_info is not None, timeout=30)

    # -- the size picker on the span entry, with a bezel gap
    screens = read_screens(app)
    print("Qt sees:", ", ".join(f"{s.name} {s.width}x{s.height}+{s.x}+{s.y}" for s in screens))
    if len(screens) < 2:
        screens = [Screen(*values) for values in SYNTHETIC]
        print("one screen: using synthetic screens", ", ".join(s.name for s in screens))
    picker = window.size_picker
    picker.set_screens(screens)
    picker.bezel.setValue(BEZEL_MM)
    picker.select_span()
    window.editor.set_prompt("A long panorama of misty mountains at dawn, one ridge line across both screens")
    pump(app, 0.5)
    grab_screen(app, window, out / "span_size.png")
    picker.combo.showPopup()
    pump(app, 0.6)
    grab_screen(app, window, out / "span_size_popup.png")
    picker.combo.hidePopup()

    # -- the gallery's context menu on the tileable image
    panel = window.gallery_panel
    window.tabs.setCurrentWidget(panel)
    sizes = window.splitter.sizes()
    window.splitter.setSizes([sizes[0], sizes[1] + sizes[2] - 620, 620])
    pump(app, until=lambda: len(panel.model._pixmaps) >= panel.model.rowCount(), timeout=30)
    row = next(r for r in range(panel.model.rowCount()) if panel.model.record_at(r).params.get("tileable"))
    panel.select_rows([row])
    pump(app, 0.3)
    centre = panel.view.visualRect(panel.model.index(row)).center()
    panel._context_menu(centre)
    pump(app, 0.5)
    menu = panel.findChildren(QMenu)[-1]
    menu.setActiveAction(panel.wallpaper_action)
    pump(app, 0.4)
    grab_screen(app, window, out / "gallery_wallpaper.png")
    menu.close()
    window.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
