"""Make the README screenshots: main window mid-generation, the gallery tab and the export dialog.

Run on a desktop or under Xvfb (the grabs are of the windows themselves, not of the screen):

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 QT_QPA_PLATFORM=xcb python docs/screenshots/make_screenshots.py [--model SOURCE]

With no --model the studio loads its default model (the embedded demo). The gallery is filled in a
throw-away SIGMA_STUDIO_HOME: with --gallery generate (the default when the model makes real images)
the loaded model makes the gallery's images (at 512×288, or in turn at each of --gallery-sizes); with --gallery procedural it holds drawn
placeholder wallpapers (for a random test model, whose images are noise).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

WINDOW_SIZE = (1600, 1000)
MAX_BYTES = 400_000

PROMPTS = [
    ("Misty mountains at dawn, layered ridges fading into fog, soft pastel light", "mountains"),
    ("Minimal sunset over a calm sea, large warm sun, clean horizon, poster style", "sunset"),
    ("Neon city skyline at night, glowing magenta and cyan, synthwave", "neon"),
    ("Aurora borealis over a frozen lake, green ribbons, starry sky", "aurora"),
    ("Retro drive into a grid horizon, 80s sunset, chrome and purple haze", "neon"),
    ("Desert dunes under a violet sky, long shadows, minimal", "dunes"),
    ("Coastal travel poster, turquoise bay, white cliffs, vintage print", "sunset"),
    ("Deep space nebula, teal and orange clouds, distant stars", "aurora"),
    ("Alpine lake at golden hour, pine silhouettes, mirror reflection", "mountains"),
    ("Foggy forest hills, blue hour, quiet and cold", "mountains"),
    ("Tropical sunset, palm silhouettes, orange and pink gradient sky", "sunset"),
    ("Night sky over rolling dunes, milky way, deep blue", "dunes"),
    ("Abstract gradient waves, violet to peach, smooth", "dunes"),
    ("Northern lights above snowy peaks, long exposure", "aurora"),
]

MAIN_PROMPT = ("Misty mountains at dawn, layered ridges fading into soft fog, pastel pink and blue sky, "
               "a thin river of light in the valley, calm, ultra detailed 4K wallpaper")
QUEUED = [
    "Neon city skyline at night, glowing magenta and cyan, synthwave poster",
    "Aurora borealis over a frozen lake, green ribbons of light, starry sky",
]
# What the embedded demo model understands (model/demo_data.py's vocabulary): --prompts demo
DEMO_PROMPTS = [
    "white mountains under a dark blue sky",
    "sunset over the sea, purple sky, orange sun in the center",
    "yellow polka dots on a dark green background",
    "a gradient from dark blue to light pink",
    "a big orange circle in the center of a black poster",
    "teal background, white diagonal stripes",
    "red checkerboard on light grey",
    "pale yellow wallpaper with brown waves",
    "dark purple background, pink vertical stripes on the left",
    "light blue poster with white grid lines",
    "minimal green wallpaper with a yellow circle at the top",
    "black and white checkerboard",
]
DEMO_MAIN = "sunset over the sea, dark purple sky, orange sun on the right"
DEMO_QUEUED = ["white mountains under a teal sky", "pale pink wallpaper with red dots"]


# ---------------------------------------------------------------------------------------------
# Placeholder wallpapers (for a test model whose images are noise)
# ---------------------------------------------------------------------------------------------

def _lerp(a: tuple, b: tuple, t: float) -> tuple:
    return tuple(int(x + (y - x) * t) for x, y in zip(a, b))


def procedural_wallpaper(kind: str, seed: int, size: tuple[int, int] = (1280, 720)):
    """A simple drawn wallpaper (gradient sky, sun, ridges or grid) as a PIL image."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    w, h = size
    palettes = {
        "mountains": [((250, 200, 210), (120, 150, 200)), ((255, 214, 170), (90, 110, 170))],
        "sunset": [((255, 120, 60), (60, 30, 90)), ((255, 170, 90), (40, 60, 120))],
        "neon": [((20, 10, 50), (200, 40, 160)), ((10, 20, 60), (40, 200, 220))],
        "aurora": [((5, 15, 40), (20, 60, 80)), ((10, 10, 30), (30, 40, 90))],
        "dunes": [((110, 70, 160), (250, 190, 150)), ((60, 40, 120), (240, 150, 120))],
    }
    top, bottom = rng.choice(palettes[kind])
    t = np.linspace(0, 1, h)[:, None, None]
    sky = (np.array(top)[None, None, :] * (1 - t) + np.array(bottom)[None, None, :] * t)
    image = Image.fromarray(np.repeat(sky, w, axis=1).astype("uint8"), "RGB")
    draw = ImageDraw.Draw(image, "RGBA")
    if kind in ("aurora",):
        for _ in range(160):
            x, y = rng.randrange(w), rng.randrange(int(h * 0.6))
            draw.point((x, y), fill=(255, 255, 255, rng.randrange(120, 255)))
        glow = Image.new("RGBA", size, (0, 0, 0, 0))
        gdraw = ImageDraw.Draw(glow)
        for band in range(3):
            phase, amp, base = rng.uniform(0, 6), rng.uniform(30, 70), h * (0.2 + band * 0.12)
            colour = rng.choice([(60, 255, 160), (80, 220, 255), (170, 90, 255)])
            for x in range(0, w, 3):
                y = base + amp * math.sin(x / w * 5 + phase)
                gdraw.line([(x, y), (x, y + rng.uniform(40, 120))], fill=(*colour, 70), width=3)
        image.paste(glow.filter(ImageFilter.GaussianBlur(6)), (0, 0), glow.filter(ImageFilter.GaussianBlur(6)))
    if kind in ("sunset", "dunes", "neon"):
        r = rng.randint(h // 8, h // 5)
        cx, cy = rng.randint(w // 3, 2 * w // 3), int(h * rng.uniform(0.45, 0.6))
        for k in range(6, 0, -1):
            draw.ellipse([cx - r - k * 12, cy - r - k * 12, cx + r + k * 12, cy + r + k * 12],
                         fill=(255, 230, 180, 14))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 236, 190, 255))
    horizon = int(h * rng.uniform(0.6, 0.72))
    if kind == "neon":
        draw.rectangle([0, horizon, w, h], fill=(12, 6, 30, 255))
        for i in range(1, 14):
            y = horizon + (h - horizon) * (i / 14) ** 2
            draw.line([(0, y), (w, y)], fill=(255, 60, 200, 160), width=2)
        for i in range(-20, 21):
            draw.line([(w / 2 + i * 12, horizon), (w / 2 + i * 140, h)], fill=(60, 220, 255, 140), width=2)
        x = 0
        while x < w:
            bw, bh = rng.randint(30, 80), rng.randint(40, int(h * 0.35))
            draw.rectangle([x, horizon - bh, x + bw, horizon], fill=(20, 10, 45, 255))
            for _ in range(bh // 12):
                wx, wy = x + rng.randint(4, max(5, bw - 8)), horizon - rng.randint(6, bh - 4)
                draw.rectangle([wx, wy, wx + 3, wy + 4], fill=(255, 200, 255, 200))
            x += bw + rng.randint(0, 10)
    else:
        layers = 4 if kind in ("mountains", "aurora") else 3
        for layer in range(layers):
            depth = layer / max(1, layers - 1)
            colour = _lerp(bottom, (20, 20, 35) if kind != "dunes" else (90, 50, 90), 0.35 + 0.6 * depth)
            base = horizon + depth * (h - horizon) * 0.6 - (h * 0.18 if kind == "mountains" else 0)
            amp = (h * 0.12 if kind in ("mountains", "aurora") else h * 0.05) * (1.1 - depth * 0.4)
            f1, f2, p1, p2 = rng.uniform(2, 5), rng.uniform(7, 15), rng.uniform(0, 6), rng.uniform(0, 6)
            points = [(0, h)]
            for x in range(0, w + 8, 8):
                u = x / w
                y = base - amp * (math.sin(u * f1 + p1) + 0.35 * math.sin(u * f2 + p2))
                if kind in ("mountains", "aurora"):
                    y -= amp * 0.25 * abs(math.sin(u * 31 + p2))
                points.append((x, y))
            points.append((w, h))
            draw.polygon(points, fill=(*colour, 255))
            if kind in ("mountains",) and layer < layers - 1:
                fog = Image.new("RGBA", size, (*_lerp(top, (255, 255, 255), 0.4), 0))
                mask = Image.new("L", size, 0)
                ImageDraw.Draw(mask).rectangle([0, int(base), w, h], fill=60)
                fog.putalpha(mask.filter(ImageFilter.GaussianBlur(30)))
                image.paste(fog, (0, 0), fog)
                draw = ImageDraw.Draw(image, "RGBA")
    return image.filter(ImageFilter.SMOOTH)


def fill_gallery_procedural(gallery, count: int = 14) -> None:
    """Add drawn placeholder wallpapers with complete parameters."""
    for i in range(count):
        prompt, kind = PROMPTS[i % len(PROMPTS)]
        seed = 1000 + i * 7919
        image = procedural_wallpaper(kind, seed)
        gallery.add(image, {
            "prompt": prompt, "negative": "blurry, text, watermark", "width": image.width,
            "height": image.height, "seed": seed, "steps": 20, "guidance": 4.5, "model": "placeholder",
            "kv_compress": "auto",
        })


# ---------------------------------------------------------------------------------------------
# Driving the window
# ---------------------------------------------------------------------------------------------

def pump(app, seconds: float = 0.0, until=None, timeout: float = 120.0) -> bool:
    """Process events for `seconds`, or until `until()` is true (False on timeout)."""
    end = time.time() + (timeout if until else seconds)
    while time.time() < end:
        app.processEvents()
        if until is not None and until():
            return True
        time.sleep(0.02)
    return until is None


def save(widget, path: Path) -> None:
    """Grab a widget to PNG, shrinking it to a palette image if it is over MAX_BYTES."""
    from PIL import Image

    widget.grab().save(str(path))
    if path.stat().st_size > MAX_BYTES:
        image = Image.open(path).convert("RGB")
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"{path}: {path.stat().st_size // 1024} KB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model source (default: the studio's default model)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent))
    parser.add_argument("--gallery", choices=("generate", "procedural"), default=None,
                        help="how to fill the gallery (default: procedural for --model, else generate)")
    parser.add_argument("--steps", type=int, default=20, help="steps of the mid-generation job")
    parser.add_argument("--grab-at", type=int, default=7, help="grab the main window at this step")
    parser.add_argument("--prompts", choices=("full", "demo"), default="full",
                        help="prompts for the full model, or ones the demo model understands")
    parser.add_argument("--main-size", default="4k-uhd", help="size preset of the mid-generation job")
    parser.add_argument("--gallery-sizes", default="512x288",
                        help="WxH list the gallery's images are made at, in turn (e.g. 1920x1080,1080x1920)")
    parser.add_argument("--gallery-count", type=int, default=12, help="how many gallery images to make")
    args = parser.parse_args()
    from model.errors import BadRequest
    from model.resolution import parse_size

    try:
        gallery_sizes = [parse_size(text) for text in args.gallery_sizes.split(",")]
    except BadRequest as error:
        parser.error(f"--gallery-sizes: {error}")
    prompts = [(p, "") for p in DEMO_PROMPTS] if args.prompts == "demo" else PROMPTS
    main_prompt, queued = (DEMO_MAIN, DEMO_QUEUED) if args.prompts == "demo" else (MAIN_PROMPT, QUEUED)
    gallery_mode = args.gallery or ("procedural" if args.model else "generate")
    os.environ["SIGMA_STUDIO_HOME"] = os.environ.get("SCREENSHOT_HOME") or tempfile.mkdtemp(prefix="sigma-shots-")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtWidgets import QApplication

    app = QApplication(["sigma-studio"])
    app.setApplicationName("Sigma Studio")
    from app.bootstrap import build_window
    from app.gallery import Gallery
    from app.jobs import JobState
    from app.settings import Settings
    from ui.theme import apply_theme

    gallery = Gallery()
    if gallery_mode == "procedural":
        fill_gallery_procedural(gallery)
    settings = Settings.load()
    apply_theme(app, settings.theme)
    window = build_window(settings, gallery)
    window.resize(*WINDOW_SIZE)
    window.show()
    pump(app, 0.5)
    window.start(args.model)
    if not pump(app, until=lambda: window.model_info is not None or bool(window.last_error), timeout=300):
        print("the model did not load in time", file=sys.stderr)
        return 1
    if window.model_info is None:
        print(f"the model failed to load: {window.last_error}", file=sys.stderr)
        return 1

    if gallery_mode == "generate":
        window.gen_settings.set_values(steps=min(args.steps, 20), count=1)
        jobs = []
        for i, (prompt, _kind) in enumerate(prompts[:args.gallery_count]):
            window.size_picker.set_size(*gallery_sizes[i % len(gallery_sizes)])
            window.editor.set_prompt(prompt, "" if args.prompts == "demo" else "blurry, text, watermark")
            window.gen_settings.set_values(seed=4000 + i)
            jobs.append(window.generate())
        pump(app, until=lambda: all(j.state.is_finished for j in jobs), timeout=1800)
        window.queue.clear_finished()

    # -- the gallery tab: a wider right panel, a few selected, one favourite, one image shown
    panel = window.gallery_panel
    window.tabs.setCurrentWidget(panel)
    sizes = window.splitter.sizes()
    window.splitter.setSizes([sizes[0], sizes[1] + sizes[2] - 600, 600])
    panel.refresh()
    pump(app, until=lambda: len(panel.model._pixmaps) >= min(9, panel.model.rowCount()), timeout=60)
    pump(app, 0.5)
    if panel.model.rowCount() >= 4:
        panel.model.set_favourite(1, True)
        panel.model.set_favourite(3, True)
        panel.select_rows([0, 2, 4])
        record = panel.model.record_at(0)
        from PySide6.QtGui import QImage

        image = QImage(str(record.path))
        window.live_view.show_image(image, f"{record.width}×{record.height} · seed {record.seed} · "
                                          f"{record.path.name}")
        window.editor.set_prompt(record.prompt, record.negative)
    pump(app, 0.5)
    save(window, out / "gallery.png")

    # -- the export dialog for the three selected images
    dialog = window.open_export(panel.selected_records())
    dialog.set_sizes(["4k-uhd", "1440p", "iphone-15-16", "a3-portrait"])
    dialog.format_boxes["jpeg"].setChecked(True)
    dialog.set_out_dir("/home/you/Pictures/Sigma Studio")  # not the throw-away home's path
    pump(app, 1.0)
    save(dialog, out / "export_dialog.png")
    dialog.reject()

    # -- the main window mid-generation, two more jobs waiting
    window.tabs.setCurrentWidget(window.queue_view)
    window.splitter.setSizes(sizes)
    window.size_picker.select_preset(args.main_size)
    window.gen_settings.set_values(steps=args.steps, seed=None, count=1)
    negative = "" if args.prompts == "demo" else "blurry, text, watermark, frame"
    window.editor.set_prompt(main_prompt, negative)
    window.editor.set_style(None)
    first = window.generate()
    for prompt in queued:
        window.editor.set_prompt(prompt, negative)
        window.generate()
    window.editor.set_prompt(main_prompt, negative)
    reached = pump(app, until=lambda: first.state is JobState.running and first.step >= args.grab_at,
                   timeout=1800)
    if not reached:
        print(f"job 1 did not reach step {args.grab_at}: {first.state} {first.error}", file=sys.stderr)
    pump(app, 0.2)
    save(window, out / "main_window.png")
    window.runner.cancel_running()
    for job in list(window.queue):
        window.queue.cancel(job.id)
    window.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
