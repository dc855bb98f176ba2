"""Size presets (wallpapers, phones, posters at 300 DPI) and how each target is made by the model.

The model makes sides of 256-4096 px in multiples of 16 (see model.resolution). A target it cannot
make exactly is generated at the nearest makeable size and then resized, upscaled or center-cropped to
exactly the target when the image is saved; `plan_size` says which, in words the UI can show.

May import: Pillow (lazily), app.model_service (size rules); no Qt, no torch.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model_service import GRID, MAX_SIDE, MIN_SIDE, BadRequest, check_size, largest_makeable, snap_to_grid

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_SIZE = "3840x2160"
POSTER_DPI = 300
MM_PER_INCH = 25.4
MAX_TARGET_SIDE = 16384  # largest side we resize to on save (a 4x upscale of the largest made side)
RATIO_TOLERANCE = 0.01  # ratio changes up to 1% are resized (invisible); larger ones are center-cropped

GROUPS = ("Desktop wallpaper", "Phone", "Poster", "Square")

_WXH = re.compile(r"^\s*(\d+)\s*[x×*]\s*(\d+)\s*$", re.IGNORECASE)


class SizeError(ValueError, BadRequest):
    """A size that is neither WxH within limits nor a known size preset."""


@dataclass(frozen=True)
class SizePreset:
    """A named target size: what the saved image measures (and prints at, for posters)."""

    key: str
    label: str
    group: str
    width: int
    height: int
    dpi: int | None = None
    note: str = ""
    aliases: tuple[str, ...] = ()  # other names find_preset accepts, e.g. "4K" for "4K UHD"

    @property
    def size_text(self) -> str:
        """The size as WxH, e.g. '3840x2160'."""
        return f"{self.width}x{self.height}"


@dataclass
class SizePlan:
    """How a target size is made: the size the model generates and what happens on save."""

    target: tuple[int, int]
    made: tuple[int, int]
    action: str  # "exact" | "resize" | "upscale" | "crop"
    message: str
    dpi: int | None = None
    preset: SizePreset | None = None


# ---------------------------------------------------------------------------------------------------
# Preset builders
# ---------------------------------------------------------------------------------------------------


def _desktop(key: str, label: str, width: int, height: int, note: str, *aliases: str) -> SizePreset:
    """A desktop wallpaper preset."""
    return SizePreset(key, label, "Desktop wallpaper", width, height, None, note, aliases)


def _phone(key: str, label: str, width: int, height: int, note: str) -> SizePreset:
    """A phone wallpaper preset (portrait)."""
    return SizePreset(key, label, "Phone", width, height, None, note)


def _square(side: int) -> SizePreset:
    """A square preset."""
    return SizePreset(f"square-{side}", f"Square {side}", "Square", side, side, None, f"{side}×{side} px")


def _inches(mm: float) -> float:
    """Millimetres to inches."""
    return mm / MM_PER_INCH


def _poster_pair(key: str, label: str, width_in: float, height_in: float, note: str) -> list[SizePreset]:
    """Portrait and landscape posters of a print size in inches, at POSTER_DPI."""
    width, height = round(width_in * POSTER_DPI), round(height_in * POSTER_DPI)
    return [
        SizePreset(f"{key}-portrait", f"{label} portrait", "Poster", width, height, POSTER_DPI, note),
        SizePreset(f"{key}-landscape", f"{label} landscape", "Poster", height, width, POSTER_DPI, note),
    ]


def _paper(name: str, width_mm: int, height_mm: int) -> list[SizePreset]:
    """ISO paper posters (A4, A3, ...) at POSTER_DPI."""
    note = f"{width_mm}×{height_mm} mm at {POSTER_DPI} DPI"
    return _poster_pair(name.lower(), name, _inches(width_mm), _inches(height_mm), note)


def _largest_exact_ratio(short: int, long: int) -> tuple[int, int]:
    """The largest (short_side, long_side) with exactly the ratio short:long, both multiples of GRID
    and within MAX_SIDE, so the model makes it directly with no resize."""
    step = math.lcm(GRID // math.gcd(short, GRID), GRID // math.gcd(long, GRID))
    k = MAX_SIDE // (long * step) * step
    return short * k, long * k


def _ratio_poster(short: int, long: int) -> list[SizePreset]:
    """A poster of an exact ratio at the largest size made directly (2:3 -> 2720×4080)."""
    width, height = _largest_exact_ratio(short, long)
    note = (
        f"Largest exact {short}:{long} the model makes, no resize; "
        f"prints {width / POSTER_DPI:.1f}×{height / POSTER_DPI:.1f} in at {POSTER_DPI} DPI"
    )
    return _poster_pair(f"{short}x{long}", f"{short}:{long}", width / POSTER_DPI, height / POSTER_DPI, note)


SIZE_PRESETS: list[SizePreset] = [
    _desktop("4k-uhd", "4K UHD", 3840, 2160, "4K monitors and TVs (16:9)", "4K", "UHD", "2160p"),
    _desktop("1440p", "1440p", 2560, 1440, "QHD monitors (16:9)", "QHD"),
    _desktop("1080p", "1080p", 1920, 1080, "Full HD monitors (16:9)", "Full HD", "FHD"),
    _desktop("ultrawide-21x9", "Ultrawide 21:9", 3440, 1440, "34-inch ultrawide monitors"),
    _desktop("super-ultrawide-32x9", "Super-ultrawide 32:9", 5120, 1440, "49-inch super-ultrawide monitors"),
    _desktop("5k", "5K", 5120, 2880, "5K displays (16:9)"),
    _phone("iphone-13-14", "iPhone 13/14", 1170, 2532, "iPhone 12, 13, 14"),
    _phone("iphone-15-16", "iPhone 15/16", 1179, 2556, "iPhone 14 Pro, 15, 16"),
    _phone("iphone-pro-max", "iPhone Pro Max", 1290, 2796, "iPhone 14 Pro Max, 15/16 Plus, 15 Pro Max"),
    _phone("android-fhd-plus", "Android FHD+", 1080, 2400, "Most Android phones (20:9)"),
    _phone("android-qhd-plus", "Android QHD+", 1440, 3200, "High-end Android phones (20:9)"),
    _phone("phone-1080x1920", "Phone 9:16", 1080, 1920, "Older phones, stories and reels (9:16)"),
    *_paper("A4", 210, 297),
    *_paper("A3", 297, 420),
    *_paper("A2", 420, 594),
    *_poster_pair("us-18x24", "US 18×24 in", 18, 24, f"18×24 in at {POSTER_DPI} DPI"),
    *_ratio_poster(2, 3),
    *_ratio_poster(3, 4),
    *_ratio_poster(4, 5),
    _square(1024),
    _square(2048),
    _square(4096),
]


def _normalize(name: str) -> str:
    """'US 18×24 in Portrait' -> 'us-18x24-in-portrait': how names and keys are compared."""
    return re.sub(r"[^0-9a-z]+", "-", name.lower().replace("×", "x")).strip("-")


_BY_NAME: dict[str, SizePreset] = {}
for _preset in SIZE_PRESETS:
    for _name in (_preset.key, _preset.label, *_preset.aliases):
        _BY_NAME.setdefault(_normalize(_name), _preset)


def groups() -> dict[str, list[SizePreset]]:
    """The presets by group, in display order."""
    return {group: [p for p in SIZE_PRESETS if p.group == group] for group in GROUPS}


def find_preset(name_or_key: str) -> SizePreset | None:
    """The preset with this key, label or alias (case, spaces and punctuation ignored), else None."""
    return _BY_NAME.get(_normalize(name_or_key)) if isinstance(name_or_key, str) else None


# ---------------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------------


def _fmt(size: tuple[int, int]) -> str:
    """(3840, 2160) -> '3840×2160'."""
    return f"{size[0]}×{size[1]}"


def _ratio_change(made: tuple[int, int], target: tuple[int, int]) -> float:
    """How much the aspect ratio changes from made to target, as a fraction."""
    return abs((made[0] / made[1]) / (target[0] / target[1]) - 1)


def _cover_size(source: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """source scaled (ratio kept) to the smallest size that covers target."""
    scale = max(target[0] / source[0], target[1] / source[1])
    return max(target[0], round(source[0] * scale)), max(target[1], round(source[1] * scale))


def _check_target(width: int, height: int, dpi: int | None) -> None:
    """Raise SizeError unless width, height and dpi are usable."""
    for name, side in (("width", width), ("height", height)):
        if isinstance(side, bool) or not isinstance(side, int) or not 1 <= side <= MAX_TARGET_SIDE:
            raise SizeError(f"{name} {side!r} must be a whole number of pixels from 1 to {MAX_TARGET_SIDE}")
    if dpi is not None and (isinstance(dpi, bool) or not isinstance(dpi, int) or dpi <= 0):
        raise SizeError(f"dpi {dpi!r} must be a positive whole number (posters use {POSTER_DPI})")


def plan_size(width: int, height: int, dpi: int | None = None) -> SizePlan:
    """How to make a width x height image: the size the model generates and the fit on save."""
    _check_target(width, height, dpi)
    target = (width, height)
    in_range = MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE
    made = snap_to_grid(width, height) if in_range else largest_makeable(width, height)

    if made == target:
        action, message = "exact", f"Made at exactly {_fmt(target)}"
    elif _ratio_change(made, target) > RATIO_TOLERANCE:
        cover = _cover_size(made, target)
        scaled = "" if cover == made else f", scaled to {_fmt(cover)}"
        action = "crop"
        message = f"Made at {_fmt(made)}{scaled} and center-cropped to {_fmt(target)} on save"
    elif max(width / made[0], height / made[1]) > 1 + RATIO_TOLERANCE:
        action = "upscale"
        message = f"Made at {_fmt(made)} and upscaled to {_fmt(target)} on save"
    else:
        action, message = "resize", f"Made at {_fmt(made)}, resized to {_fmt(target)} on save"
    if dpi:
        message += f"; prints {width / dpi:.1f}×{height / dpi:.1f} in at {dpi} DPI"
    return SizePlan(target, made, action, message, dpi)


def _unknown_size_message(text: str) -> str:
    """The error for text that is neither WxH nor a preset, with the closest preset names."""
    message = (
        f"size {text!r} is not WxH (each side {MIN_SIDE}-{MAX_SIDE} px, for example {DEFAULT_SIZE}) "
        "or a size preset name (for example '4K UHD' or 'a3-portrait')"
    )
    names = {_normalize(p.label): p.label for p in SIZE_PRESETS} | {p.key: p.key for p in SIZE_PRESETS}
    close = difflib.get_close_matches(_normalize(text), list(names), n=3, cutoff=0.6)
    if close:
        message += "; did you mean " + " or ".join(repr(names[c]) for c in close) + "?"
    return message


def resolve_size(text: str) -> SizePlan:
    """The plan for 'WxH' (each side 256-4096) or a size preset name or key; SizeError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise SizeError(_unknown_size_message(str(text or "")))
    match = _WXH.match(text)
    if match:
        width, height = int(match[1]), int(match[2])
        try:
            check_size(width, height)
        except BadRequest as exc:
            hint = (
                "; for larger prints pick a size preset such as 'A2 portrait'"
                if max(width, height) > MAX_SIDE
                else ""
            )
            raise SizeError(f"size {text.strip()!r}: {exc}{hint}") from None
        return plan_size(width, height)
    preset = find_preset(text)
    if preset is None:
        raise SizeError(_unknown_size_message(text.strip()))
    plan = plan_size(preset.width, preset.height, preset.dpi)
    plan.preset = preset
    return plan


def fit_to_target(image: Image.Image, plan: SizePlan) -> Image.Image:
    """The made image resized (Lanczos) to exactly plan.target; center-cropped when ratios differ."""
    from PIL import Image, ImageOps

    target = plan.target
    if image.size == target:
        return image
    if _ratio_change(image.size, target) <= RATIO_TOLERANCE:
        return image.resize(target, Image.Resampling.LANCZOS)
    return ImageOps.fit(image, target, Image.Resampling.LANCZOS)
