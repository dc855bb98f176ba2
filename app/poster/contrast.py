"""Text contrast on the actual pixels (WCAG 2.x): relative luminance, contrast ratio, and the text
colour (and, when needed, the band opacity) that reaches AA 4.5:1 over a region of the picture.

The ratio of a colour over a region is the one that COVERAGE of the region's pixels reach or beat
(the few darkest or brightest pixels, often anti-aliasing, do not decide it).

May import: numpy, Pillow; no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

AA_NORMAL = 4.5
COVERAGE = 0.95
WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def _linear(channel: np.ndarray) -> np.ndarray:
    c = channel / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def luminance(rgb: np.ndarray | tuple[int, int, int]) -> np.ndarray:
    """WCAG relative luminance of sRGB values (..., 3) in 0-255."""
    array = np.asarray(rgb, dtype=np.float64)
    lin = _linear(array)
    return 0.2126 * lin[..., 0] + 0.7152 * lin[..., 1] + 0.0722 * lin[..., 2]


def ratio(lum_a: np.ndarray | float, lum_b: np.ndarray | float) -> np.ndarray:
    """WCAG contrast ratio (1-21) between luminances."""
    high, low = np.maximum(lum_a, lum_b), np.minimum(lum_a, lum_b)
    return (high + 0.05) / (low + 0.05)


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def rgb_to_hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def region_pixels(image: Image.Image, box: tuple[float, float, float, float]) -> np.ndarray:
    """The RGB pixels (N, 3) of image inside box (left, top, right, bottom in its pixels)."""
    left, top, right, bottom = (int(round(v)) for v in box)
    left, top = max(0, left), max(0, top)
    right, bottom = min(image.width, max(right, left + 1)), min(image.height, max(bottom, top + 1))
    crop = image.convert("RGB").crop((left, top, right, bottom))
    return np.asarray(crop, dtype=np.float64).reshape(-1, 3)


def contrast_over(colour: tuple[int, int, int], pixels: np.ndarray) -> float:
    """The contrast ratio COVERAGE of the pixels reach against colour."""
    if pixels.size == 0:
        return 21.0
    ratios = ratio(luminance(colour), luminance(pixels))
    return float(np.quantile(ratios, 1.0 - COVERAGE))


def blend(pixels: np.ndarray, colour: tuple[int, int, int], opacity: float) -> np.ndarray:
    """pixels under a band of colour at opacity."""
    return pixels * (1.0 - opacity) + np.asarray(colour, dtype=np.float64) * opacity


@dataclass(frozen=True)
class ContrastResult:
    """The text colour chosen for a layer, the ratio it reaches, whether that meets AA, and a band
    opacity that makes it meet AA (None: no band needed, or the user's band stands)."""

    role: str
    colour: str
    ratio: float
    ok: bool
    band_opacity: float | None = None

    @property
    def message(self) -> str:
        verdict = "meets" if self.ok else "is below"
        text = f"{self.role}: {self.ratio:.1f}:1 {verdict} WCAG AA {AA_NORMAL}:1"
        if self.band_opacity is not None:
            text += f" (with a band at {self.band_opacity:.0%})"
        elif not self.ok:
            text += " on this part of the picture; add a band, a shadow or an outline, or move the text"
        return text


def best_colour(pixels: np.ndarray) -> tuple[tuple[int, int, int], float]:
    """White or black, whichever contrasts more over pixels, and its ratio."""
    white, black = contrast_over(WHITE, pixels), contrast_over(BLACK, pixels)
    return (WHITE, white) if white >= black else (BLACK, black)


def band_opacity_for(pixels: np.ndarray, text: tuple[int, int, int], band: tuple[int, int, int],
                     target: float = AA_NORMAL) -> float | None:
    """The least band opacity (in 5 % steps) at which text reaches target over pixels; None if none does."""
    for step in range(0, 21):
        opacity = step / 20
        if contrast_over(text, blend(pixels, band, opacity)) >= target:
            return opacity
    return None


def check_layer(role: str, colour: str, pixels: np.ndarray, band: bool = False, band_colour: str = "auto",
                band_opacity: float = 0.6, add_band: bool = False) -> ContrastResult:
    """The contrast of a layer over its pixels. colour 'auto' picks white or black; with add_band, a
    failing auto colour gets the least opacity of band that reaches AA."""
    if band:
        under = blend(pixels, _band_rgb(band_colour, colour, pixels), band_opacity)
    else:
        under = pixels
    if colour == "auto":
        rgb, value = best_colour(under)
    else:
        rgb = hex_to_rgb(colour)
        value = contrast_over(rgb, under)
    if value >= AA_NORMAL or band or not add_band:
        return ContrastResult(role, rgb_to_hex(rgb), value, value >= AA_NORMAL)
    band_rgb = _band_rgb(band_colour, rgb_to_hex(rgb), pixels)
    opacity = band_opacity_for(pixels, rgb, band_rgb)
    if opacity is None:
        return ContrastResult(role, rgb_to_hex(rgb), value, False)
    return ContrastResult(role, rgb_to_hex(rgb), contrast_over(rgb, blend(pixels, band_rgb, opacity)), True, opacity)


def _band_rgb(band_colour: str, text_colour: str, pixels: np.ndarray) -> tuple[int, int, int]:
    """The band's colour: the user's, else the opposite of the text (black under white text)."""
    if band_colour != "auto":
        return hex_to_rgb(band_colour)
    if text_colour == "auto":
        text_rgb, _ = best_colour(pixels)
    else:
        text_rgb = hex_to_rgb(text_colour)
    return BLACK if luminance(text_rgb) > 0.5 else WHITE
