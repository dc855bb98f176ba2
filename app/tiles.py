"""Tileable images: fill any wallpaper size by repeating the tile (no resize, so the pattern stays
crisp), the 3x3 preview picture, the tileable setting as a gallery badge, and the Contract-2 key.

May import: Pillow, app.model_service (TILEABLE_CHOICES, torch-free). Never torch, model/ or ui/.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from .model_service import TILEABLE_CHOICES

__all__ = ["TILEABLE_CHOICES", "TILEABLE_LABELS", "BADGES", "tileable_of", "badge", "fill", "grid3"]

TILEABLE_LABELS = {"off": "Off", "x": "Horizontal (x)", "y": "Vertical (y)", "both": "Both axes"}
BADGES = {"x": "⇆", "y": "⇅", "both": "✣"}  # gallery badge per axis choice
MAX_FILL_SIDE = 16384


def tileable_of(params: dict[str, Any] | None) -> str:
    """The tileable axes an image was made with ("off" when it was not, or the value is unknown)."""
    value = (params or {}).get("tileable", "off")
    return value if value in BADGES else "off"


def badge(params: dict[str, Any] | None) -> str:
    """A short badge for a gallery cell ('' for normal images)."""
    return BADGES.get(tileable_of(params), "")


def fill(tile: Image.Image, size: tuple[int, int], offset: tuple[int, int] = (0, 0)) -> Image.Image:
    """An image of `size` made of copies of `tile` pasted edge to edge, shifted by `offset` (no resize)."""
    width, height = int(size[0]), int(size[1])
    if not (1 <= width <= MAX_FILL_SIDE and 1 <= height <= MAX_FILL_SIDE):
        raise ValueError(f"a filled size must be 1-{MAX_FILL_SIDE} px a side (got {width}x{height})")
    tw, th = tile.size
    ox, oy = offset[0] % tw, offset[1] % th
    out = Image.new(tile.mode, (width, height))
    for top in range(-oy, height, th):
        for left in range(-ox, width, tw):
            out.paste(tile, (left, top))
    return out


def grid3(tile: Image.Image) -> Image.Image:
    """The tile repeated 3x3 (the preview that shows whether the seams vanish)."""
    return fill(tile, (tile.width * 3, tile.height * 3))
