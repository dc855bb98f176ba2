"""Sizes the model can make: multiples of 16 px (8x VAE, patch 2), 256..4096 per side, and
aspect-ratio bins that reach 4096 (diffusers' own bins stop at 2K)."""

from __future__ import annotations

import math

from .errors import BadRequest

GRID = 16  # pixels per DiT token side: VAE downsampling 8 x patch size 2
MIN_SIDE = 256
MAX_SIDE = 4096


def parse_size(text: str) -> tuple[int, int]:
    """'3840x2160' -> (3840, 2160); raises BadRequest with the accepted form."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise BadRequest(f"size {text!r} is not WxH (for example 3840x2160)")
    width, height = int(parts[0]), int(parts[1])
    check_size(width, height)
    return width, height


def check_size(width: int, height: int) -> None:
    """Raise BadRequest unless both sides are within MIN_SIDE..MAX_SIDE."""
    for name, side in (("width", width), ("height", height)):
        if not MIN_SIDE <= side <= MAX_SIDE:
            raise BadRequest(f"{name} {side} is outside {MIN_SIDE}-{MAX_SIDE} px")


def snap_side(side: int) -> int:
    """The nearest multiple of GRID, kept within MIN_SIDE..MAX_SIDE."""
    snapped = int(math.floor(side / GRID + 0.5)) * GRID
    return max(MIN_SIDE, min(MAX_SIDE, snapped))


def snap_to_grid(width: int, height: int) -> tuple[int, int]:
    """The size the model generates for a requested size (then resized to exactly width x height)."""
    return snap_side(width), snap_side(height)


def largest_makeable(width: int, height: int) -> tuple[int, int]:
    """The largest size the model can make with the aspect ratio of width x height.

    For targets beyond 4096 px (5K) or below 256 px: keeps the ratio, fits both sides in range.
    """
    scale = min(MAX_SIDE / width, MAX_SIDE / height, 1.0)
    scale = max(scale, MIN_SIDE / min(width, height)) if min(width, height) * scale < MIN_SIDE else scale
    return snap_to_grid(round(width * scale), round(height * scale))


def _bins_for_area(area_side: int) -> dict[str, tuple[int, int]]:
    """Aspect-ratio bins (ratio h/w -> (h, w)) of about area_side**2 pixels, sides multiples of GRID."""
    from diffusers.pipelines.pixart_alpha.pipeline_pixart_sigma import ASPECT_RATIO_2048_BIN

    bins = {}
    for key in ASPECT_RATIO_2048_BIN:
        ratio = float(key)
        width = math.sqrt(area_side * area_side / ratio)
        height = width * ratio
        shrink = min(1.0, MAX_SIDE / width, MAX_SIDE / height)
        h = int(height * shrink) // GRID * GRID
        w = int(width * shrink) // GRID * GRID
        bins[key] = (max(MIN_SIDE, h), max(MIN_SIDE, w))
    return bins


def aspect_ratio_bins(base: int = 4096) -> dict[str, tuple[int, int]]:
    """Bins (the ratio keys of diffusers' PixArt bins) at a base size up to 4096."""
    return _bins_for_area(base)


def closest_bin(width: int, height: int, base: int = 4096) -> tuple[int, int]:
    """The (width, height) of the bin whose ratio is closest to height/width."""
    bins = aspect_ratio_bins(base)
    ratio = height / width
    key = min(bins, key=lambda k: abs(float(k) - ratio))
    h, w = bins[key]
    return w, h
