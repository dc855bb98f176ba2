"""Automatic poster layout that respects the picture.

A cost map marks where the picture is busy: local detail (luminance gradient) plus saliency (how far
a colour is from the picture's mean), with a wide halo around the most salient region, the main
subject. The title and subtitle go together where the mean cost under their box is least, inside the
safe area (print margins, or a phone's status-bar/clock and home-indicator zones); the footer takes
the calmer free end. Layers the user placed (x, y set) stay where they were put, moved back inside
the safe area if a new aspect ratio pushes them out. Then each layer's colour is chosen on the actual
pixels beneath it (app.poster.contrast). Everything is computed per picture size, so batch exports
re-flow the same poster to every aspect ratio.

May import: numpy, Pillow, app.poster (model, contrast, text); QtGui through app.poster.text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from . import contrast
from .model import Poster, TextLayer
from .text import Block, measure

COST_SIDE = 96  # long side of the cost map
CONTRAST_SIDE = 768  # long side of the copy whose pixels the contrast is measured on
VERTICAL_STEPS = 28
SNAP_GUIDES = (0.0, 1 / 3, 0.5, 2 / 3, 1.0)  # fractions of the safe area the panel snaps to
SAFE_MARGINS = {  # (left, top, right, bottom) as fractions of width and height
    "print": (0.06, 0.05, 0.06, 0.05),
    "phone": (0.07, 0.30, 0.07, 0.12),  # status bar and lock-screen clock on top; home bar below
    "none": (0.02, 0.02, 0.02, 0.02),
}


@dataclass
class Placement:
    """A layer placed at one picture size, with the colours it is drawn in and its contrast."""

    block: Block
    colour: str
    contrast: contrast.ContrastResult
    band_opacity: float | None
    band_colour: str
    effect_colour: str

    @property
    def role(self) -> str:
        return self.block.layer.role


def safe_rect(safe_area: str, width: float, height: float) -> tuple[float, float, float, float]:
    """The safe area (left, top, right, bottom) in pixels."""
    left, top, right, bottom = SAFE_MARGINS[safe_area]
    return left * width, top * height, width * (1 - right), height * (1 - bottom)


def cost_map(image: Image.Image) -> np.ndarray:
    """Per-cell busyness in 0..~1.5 on a grid COST_SIDE cells on the long side."""
    scale = COST_SIDE / max(image.size)
    size = (max(4, round(image.width * scale)), max(4, round(image.height * scale)))
    small = np.asarray(image.convert("RGB").resize(size, Image.Resampling.BOX), dtype=np.float64)
    grey = small @ np.array([0.299, 0.587, 0.114])
    gy, gx = np.gradient(grey)
    detail = _normalise(_blur(np.hypot(gx, gy), 1.5))
    saliency = _normalise(_blur(np.linalg.norm(small - small.reshape(-1, 3).mean(axis=0), axis=2), 2.0))
    busy = 0.65 * detail + 0.35 * saliency
    subject = _normalise(_blur((busy >= np.quantile(busy, 0.9)).astype(np.float64), max(size) / 10))
    return busy + 0.5 * subject


def _blur(values: np.ndarray, radius: float) -> np.ndarray:
    peak = float(values.max()) or 1.0
    image = Image.fromarray(np.uint8(np.clip(values / peak * 255, 0, 255)))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float64) / 255 * peak


def _normalise(values: np.ndarray) -> np.ndarray:
    top = float(np.quantile(values, 0.98)) or 1.0
    return np.clip(values / top, 0, 1)


class _Integral:
    """Mean of the cost map over any pixel rectangle of the picture, in constant time."""

    def __init__(self, cost: np.ndarray, width: float, height: float) -> None:
        self.table = np.pad(cost.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        self.sx, self.sy = cost.shape[1] / width, cost.shape[0] / height

    def mean(self, rect: tuple[float, float, float, float]) -> float:
        rows, cols = self.table.shape[0] - 1, self.table.shape[1] - 1
        left = int(np.clip(np.floor(rect[0] * self.sx), 0, cols - 1))
        top = int(np.clip(np.floor(rect[1] * self.sy), 0, rows - 1))
        right = int(np.clip(np.ceil(rect[2] * self.sx), left + 1, cols))
        bottom = int(np.clip(np.ceil(rect[3] * self.sy), top + 1, rows))
        t = self.table
        total = t[bottom, right] - t[top, right] - t[bottom, left] + t[top, left]
        return float(total / ((bottom - top) * (right - left)))


def _group_rect(blocks: list[Block]) -> tuple[float, float, float, float]:
    rects = [block.rect for block in blocks]
    return min(r[0] for r in rects), min(r[1] for r in rects), max(r[2] for r in rects), max(r[3] for r in rects)


def _stack(blocks: list[Block], anchor_x: float, top: float) -> None:
    """Place blocks one under the other from top, sharing anchor_x, with a small gap."""
    for block in blocks:
        block.move_to_anchor(anchor_x, top)
        top += block.height + 0.35 * block.font.pixelSize()


def _candidates(safe: tuple[float, float, float, float]) -> list[tuple[str, float, float]]:
    """(align, wrap width, anchor x) choices: full width centred, or a half at either side."""
    left, _top, right, _bottom = safe
    width = right - left
    return [("center", width, (left + right) / 2), ("left", width * 0.5, left), ("right", width * 0.5, right)]


def _place_group(layers: list[TextLayer], size: tuple[float, float], safe, integral: _Integral) -> list[Block]:
    """The automatic title/subtitle group: the calmest (align, width, height) in the safe area."""
    width, height = size
    best: tuple[float, list[Block]] | None = None
    for align, wrap_width, anchor_x in _candidates(safe):
        aligned = [_with_align(layer, align) for layer in layers]
        blocks = [measure(layer, width, height, wrap_width * layer.max_width) for layer in aligned]
        total_h = sum(b.height for b in blocks) + sum(0.35 * b.font.pixelSize() for b in blocks[:-1])
        room = (safe[3] - safe[1]) - total_h
        steps = [safe[1] + room * k / VERTICAL_STEPS for k in range(VERTICAL_STEPS + 1)] if room > 0 else [safe[1]]
        for top in steps:
            _stack(blocks, anchor_x, top)
            rect = _group_rect(blocks)
            edge = min(rect[1] - safe[1], safe[3] - rect[3]) / max(1.0, safe[3] - safe[1])
            score = integral.mean(rect) + 0.08 * edge + (0.02 if align != "center" else 0.0)
            if best is None or score < best[0]:
                best = (score, [_copy_block(b) for b in blocks])
    return best[1] if best else []


def _with_align(layer: TextLayer, align: str) -> TextLayer:
    from dataclasses import replace

    return replace(layer, align=align)


def _copy_block(block: Block) -> Block:
    from dataclasses import replace

    return replace(block, lines=list(block.lines), line_widths=list(block.line_widths))


def _place_footer(layer: TextLayer, size, safe, integral: _Integral, taken: list[Block]) -> Block:
    """The footer at the top or bottom of the safe area, whichever is calmer and free."""
    block = measure(layer, size[0], size[1], (safe[2] - safe[0]) * layer.max_width)
    anchor = {"left": safe[0], "center": (safe[0] + safe[2]) / 2, "right": safe[2]}[layer.align]
    options = []
    for top in (safe[3] - block.height, safe[1]):
        block.move_to_anchor(anchor, top)
        overlap = any(_overlaps(block.rect, other.rect) for other in taken)
        options.append((overlap, integral.mean(block.rect) - (0.05 if top > safe[1] else 0.0), top))
    _overlap, _score, top = min(options)
    block.move_to_anchor(anchor, top)
    return block


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place_manual(layer: TextLayer, size, safe) -> Block:
    """A layer the user placed, kept inside the safe area."""
    width, height = size
    block = measure(layer, width, height, (safe[2] - safe[0]) * layer.max_width)
    block.move_to_anchor(layer.x * width, layer.y * height)
    dx = max(0.0, safe[0] - block.left) - max(0.0, block.left + block.width - safe[2])
    dy = max(0.0, safe[1] - block.top) - max(0.0, block.top + block.height - safe[3])
    block.left, block.top = block.left + dx, block.top + dy
    return block


def place_blocks(image: Image.Image, poster: Poster, width: float, height: float) -> list[Block]:
    """Every visible layer's block at picture size width x height (image: the picture at that aspect)."""
    size = (width, height)
    safe = safe_rect(poster.safe_area, width, height)
    integral = _Integral(cost_map(image), width, height)
    layers = poster.visible_layers()
    placed = {layer.role: _place_manual(layer, size, safe) for layer in layers if layer.placed}
    group = [layer for layer in layers if layer.role in ("title", "subtitle") and not layer.placed]
    if group and any(role in placed for role in ("title", "subtitle")):  # follow the placed one
        anchor = placed.get("title") or placed.get("subtitle")
        for layer in group:
            layer = _with_align(layer, anchor.layer.align)  # lines up under (or over) the placed one
            block = measure(layer, width, height, (safe[2] - safe[0]) * layer.max_width)
            below = anchor.top + anchor.height + 0.35 * anchor.font.pixelSize()
            block.move_to_anchor(anchor.anchor_x, below if layer.role == "subtitle" else anchor.top - block.height)
            placed[layer.role] = block
    elif group:
        for block in _place_group(group, size, safe, integral):
            placed[block.layer.role] = block
    footer = next((layer for layer in layers if layer.role == "footer" and not layer.placed), None)
    if footer is not None:
        placed["footer"] = _place_footer(footer, size, safe, integral, list(placed.values()))
    return [placed[layer.role] for layer in layers if layer.role in placed]


def colour_blocks(image: Image.Image, blocks: list[Block], width: float, height: float) -> list[Placement]:
    """Colours and contrast of each placed block, measured on image's pixels beneath it."""
    scale = min(1.0, CONTRAST_SIDE / max(image.size))
    sample = image.convert("RGB")
    if scale < 1.0:
        sample = sample.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                               Image.Resampling.BOX)
    sx, sy = sample.width / width, sample.height / height
    out = []
    for block in blocks:
        layer = block.layer
        left, top, right, bottom = block.rect
        pixels = contrast.region_pixels(sample, (left * sx, top * sy, right * sx, bottom * sy))
        result = contrast.check_layer(layer.role, layer.colour, pixels, layer.band, layer.band_colour,
                                      layer.band_opacity, add_band=layer.colour == "auto" and layer.effect == "none")
        band_opacity = result.band_opacity if result.band_opacity is not None else (layer.band_opacity if layer.band else None)
        band_colour = contrast._band_rgb(layer.band_colour, result.colour, pixels)
        opposite = "#000000" if contrast.luminance(contrast.hex_to_rgb(result.colour)) > 0.5 else "#ffffff"
        effect_colour = opposite if layer.effect_colour == "auto" else layer.effect_colour
        out.append(Placement(block, result.colour, result, band_opacity, contrast.rgb_to_hex(band_colour), effect_colour))
    return out


def layout(image: Image.Image, poster: Poster, width: float | None = None, height: float | None = None) -> list[Placement]:
    """The poster laid out over image at width x height (default: the image's own size)."""
    width = float(width or image.width)
    height = float(height or image.height)
    return colour_blocks(image, place_blocks(image, poster, width, height), width, height)


def snap(value: float, low: float, high: float, tolerance: float) -> float:
    """value moved onto the nearest guide between low and high (thirds, centre, edges) when within tolerance."""
    guides = [low + (high - low) * g for g in SNAP_GUIDES]
    nearest = min(guides, key=lambda guide: abs(guide - value))
    return nearest if abs(nearest - value) <= tolerance else value
