"""Sizes the model can make: multiples of 16 px (8x VAE, patch 2), 256..4096 per side.

May import: model.errors. Never torch, Qt, app/ or ui/.
"""

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
