"""Multi-screen spans: one picture across all screens, exported as one file per screen.

The geometry is pure (no Qt) so it can be tested with synthetic layouts: `Screen` is what Qt reports
(logical geometry, device pixel ratio, physical size in mm); `span_layout` places every screen on
one canvas at the largest device pixel ratio (so no screen gets fewer pixels than it shows), adds
an optional bezel gap in mm between neighbouring screens (the picture hidden behind the frames),
and `crop_screens` cuts the canvas into one image per screen at its native resolution (an exact
crop where the screen has the canvas's pixel ratio, a Lanczos downscale of its crop otherwise).
`span_target` is the size to make for a span within the app's size limits (app.sizes: a longer side
is scaled down, ratio kept, and says so). `read_screens` reads the screens of a running QGuiApplication (QtGui only, imported there).

May import: Pillow, app.sizes (limits), app.metadata (export_span); QtGui inside read_screens. Never
torch, model/ or ui/.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from PIL import Image

from .sizes import MAX_TARGET_SIDE

DEFAULT_PX_PER_MM = 96 / 25.4  # logical pixels per mm when a screen does not report its size


@dataclass(frozen=True)
class Screen:
    """One screen as the desktop arranges it: logical position and size, pixel ratio, physical mm."""

    name: str
    x: int
    y: int
    width: int
    height: int
    dpr: float = 1.0
    width_mm: float = 0.0
    height_mm: float = 0.0

    @property
    def native(self) -> tuple[int, int]:
        """The screen's size in device pixels."""
        return round(self.width * self.dpr), round(self.height * self.dpr)


@dataclass(frozen=True)
class ScreenCrop:
    """Where one screen lies on the span canvas (left, top, right, bottom) and the size it is saved at."""

    screen: Screen
    box: tuple[int, int, int, int]
    native: tuple[int, int]


@dataclass(frozen=True)
class SpanLayout:
    """The span canvas: its size, its pixels per logical pixel, and one crop per screen."""

    size: tuple[int, int]
    scale: float
    crops: list[ScreenCrop]


def _px_per_mm(screens: list[Screen]) -> float:
    """Logical pixels per mm: the median over screens that report their physical size."""
    known = [s.width / s.width_mm for s in screens if s.width_mm > 0]
    return median(known) if known else DEFAULT_PX_PER_MM


def span_layout(screens: list[Screen], bezel_mm: float = 0.0) -> SpanLayout:
    """Lay the screens out on one canvas (see the module doc); ValueError for no screens or a bad bezel."""
    if not screens:
        raise ValueError("no screens to span")
    if bezel_mm < 0 or bezel_mm > 200:
        raise ValueError(f"bezel {bezel_mm} mm is outside 0-200 mm")
    for s in screens:
        if s.width <= 0 or s.height <= 0 or s.dpr <= 0:
            raise ValueError(f"screen {s.name!r} has no size ({s.width}x{s.height} at {s.dpr}x)")
    scale = max(s.dpr for s in screens)
    gap = bezel_mm * _px_per_mm(screens)  # logical pixels hidden between two neighbouring screens
    left, top = min(s.x for s in screens), min(s.y for s in screens)
    crops = []
    for s in screens:
        columns = len({o.x + o.width for o in screens if o is not s and o.x + o.width <= s.x})
        rows = len({o.y + o.height for o in screens if o is not s and o.y + o.height <= s.y})
        x0 = round((s.x - left + columns * gap) * scale)
        y0 = round((s.y - top + rows * gap) * scale)
        box = (x0, y0, x0 + round(s.width * scale), y0 + round(s.height * scale))
        crops.append(ScreenCrop(s, box, s.native))
    size = (max(c.box[2] for c in crops), max(c.box[3] for c in crops))
    return SpanLayout(size, scale, crops)


@dataclass(frozen=True)
class SpanTarget:
    """The size to make for a span (`size`), and the span canvas it stands for (`full`)."""

    size: tuple[int, int]
    full: tuple[int, int]

    @property
    def scaled(self) -> bool:
        """True when the canvas was larger than the app makes and `size` is it scaled down."""
        return self.size != self.full


def span_target(screens: list[Screen], bezel_mm: float = 0.0, max_side: int = MAX_TARGET_SIDE,
                min_side: int = 1) -> SpanTarget:
    """The span's canvas size, scaled down (ratio kept) so no side is over `max_side`; ValueError
    (as span_layout, or when the short side would fall below `min_side`) when there is none to make."""
    full = span_layout(screens, bezel_mm).size
    factor = min(1.0, max_side / max(full))
    size = (max(1, min(max_side, round(full[0] * factor))), max(1, min(max_side, round(full[1] * factor))))
    if min(size) < min_side:
        raise ValueError(f"the span {full[0]}x{full[1]} is too narrow to make: scaled to {max_side} px on its "
                         f"long side, its short side would be {min(size)} px (at least {min_side})")
    return SpanTarget(size, full)


def crop_screens(image: Image.Image, layout: SpanLayout) -> list[tuple[Screen, Image.Image]]:
    """One image per screen at its native resolution; ValueError when the picture is not the span's size."""
    if image.size != layout.size:
        raise ValueError(f"the picture is {image.size[0]}x{image.size[1]} but the span needs "
                         f"{layout.size[0]}x{layout.size[1]}: make it at the span size first")
    parts = []
    for crop in layout.crops:
        part = image.crop(crop.box)
        if part.size != crop.native:
            part = part.resize(crop.native, Image.LANCZOS)
        parts.append((crop.screen, part))
    return parts


def screen_file_name(stem: str, index: int, screen: Screen, suffix: str = ".png") -> str:
    """`STEM-screen1-DP-1-2560x1440.png`: the screen's order, name and native size."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in screen.name) or "screen"
    w, h = screen.native
    return f"{stem}-screen{index + 1}-{safe}-{w}x{h}{suffix}"


def export_span(image: Image.Image, layout: SpanLayout, folder, stem: str, params: dict | None = None) -> list:
    """Write one PNG per screen (`screen_file_name`) into `folder`, with the image's settings when given."""
    from pathlib import Path

    from .metadata import save_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (screen, part) in enumerate(crop_screens(image, layout)):
        path = folder / screen_file_name(stem, index, screen)
        save_image(part, path, {**(params or {}), "width": part.width, "height": part.height,
                                "span": {"screen": screen.name, "box": list(layout.crops[index].box)}})
        paths.append(path)
    return paths


def read_screens(app=None) -> list[Screen]:
    """The screens of the running QGuiApplication (geometry, device pixel ratio, physical size)."""
    from PySide6.QtGui import QGuiApplication

    app = app or QGuiApplication.instance()
    if app is None:
        return []
    screens = []
    for qs in app.screens():
        g, mm = qs.geometry(), qs.physicalSize()
        screens.append(Screen(qs.name(), g.x(), g.y(), g.width(), g.height(), float(qs.devicePixelRatio()),
                              float(mm.width()), float(mm.height())))
    return screens
