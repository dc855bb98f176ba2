"""Poster data: text layers, the poster that holds them, paper sizes, and their JSON form.

A poster is data beside an untouched image (non-destructive): the gallery keeps it in the record's
params and in the image's Contract-2 JSON under `poster`; presets may carry one. Sizes and positions
are relative (font size as a fraction of the picture's shorter side, positions as fractions of its
width and height), so the same poster re-flows to any export size.

May import: the standard library only (no Qt, no Pillow).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

POSTER_FORMAT_VERSION = 1
ROLES = ("title", "subtitle", "footer")
ALIGNS = ("left", "center", "right")
EFFECTS = ("none", "shadow", "outline")
SAFE_AREAS = ("print", "phone", "none")
AUTO = "auto"
MM_PER_INCH = 25.4
DEFAULT_BLEED_MM = 3.0
PRINT_DPI = 300
MAX_TEXT = 500
_HEX = re.compile(r"#[0-9a-fA-F]{6}")

# paper name -> (width mm, height mm) in portrait
PAPERS_MM: dict[str, tuple[float, float]] = {
    "a4": (210, 297),
    "a3": (297, 420),
    "a2": (420, 594),
    "letter": (215.9, 279.4),
    "legal": (215.9, 355.6),
    "tabloid": (279.4, 431.8),
    "us-18x24": (457.2, 609.6),
    "us-24x36": (609.6, 914.4),
}


class PosterError(ValueError):
    """A poster, layer or paper value that cannot be used; the message names the field."""


@dataclass
class TextLayer:
    """One block of text. x/y None: placed by the automatic layout; else x is the anchor named by
    `align` (left edge, centre or right edge) and y the block's top, both as fractions of the picture."""

    role: str = "title"
    text: str = ""
    family: str = "Bebas Neue"
    weight: int = 400
    italic: bool = False
    size: float = 0.1  # pixel size as a fraction of the picture's shorter side
    colour: str = AUTO  # "#rrggbb" or "auto" (black or white, whichever reads best on the pixels)
    align: str = "center"
    letter_spacing: float = 0.0  # extra space between letters, in em
    line_height: float = 1.1  # line distance as a multiple of the font size
    effect: str = "none"
    effect_colour: str = AUTO
    band: bool = False
    band_colour: str = AUTO
    band_opacity: float = 0.6
    max_width: float = 0.84  # the widest a line may be, as a fraction of the safe area's width
    x: float | None = None
    y: float | None = None

    def validate(self) -> None:
        """PosterError naming the layer and the field for anything out of range."""
        where = f"poster layer {self.role!r}"
        _check(self.role in ROLES, f"{where}: role must be one of {', '.join(ROLES)}")
        _check(isinstance(self.text, str) and len(self.text) <= MAX_TEXT,
               f"{where}: text must be at most {MAX_TEXT} characters")
        _check(isinstance(self.family, str) and 0 < len(self.family) <= 100, f"{where}: font family is empty")
        _check(_is_int(self.weight) and 100 <= self.weight <= 900, f"{where}: weight must be 100-900")
        _check(_is_num(self.size) and 0.005 <= self.size <= 0.5, f"{where}: size must be 0.005-0.5")
        for name in ("colour", "effect_colour", "band_colour"):
            value = getattr(self, name)
            _check(value == AUTO or (isinstance(value, str) and _HEX.fullmatch(value)),
                   f"{where}: {name} must be '#rrggbb' or 'auto'")
        _check(self.align in ALIGNS, f"{where}: align must be one of {', '.join(ALIGNS)}")
        _check(self.effect in EFFECTS, f"{where}: effect must be one of {', '.join(EFFECTS)}")
        _check(_is_num(self.letter_spacing) and -0.2 <= self.letter_spacing <= 1.0,
               f"{where}: letter_spacing must be -0.2-1.0 em")
        _check(_is_num(self.line_height) and 0.6 <= self.line_height <= 3.0, f"{where}: line_height must be 0.6-3")
        _check(_is_num(self.band_opacity) and 0 <= self.band_opacity <= 1, f"{where}: band_opacity must be 0-1")
        _check(_is_num(self.max_width) and 0.1 <= self.max_width <= 1, f"{where}: max_width must be 0.1-1")
        for name in ("x", "y"):
            value = getattr(self, name)
            _check(value is None or (_is_num(value) and 0 <= value <= 1), f"{where}: {name} must be 0-1 or null")

    @property
    def placed(self) -> bool:
        """Whether the user placed this layer (else the automatic layout does)."""
        return self.x is not None and self.y is not None


def default_layer(role: str, text: str = "") -> TextLayer:
    """A good-looking starting point for each role."""
    if role == "title":
        return TextLayer("title", text, "Bebas Neue", 400, size=0.12, letter_spacing=0.02, line_height=1.0)
    if role == "subtitle":
        return TextLayer("subtitle", text, "Lato", 400, size=0.045, letter_spacing=0.05, line_height=1.2)
    return TextLayer("footer", text, "Roboto Condensed", 400, size=0.028, letter_spacing=0.08, line_height=1.2)


@dataclass
class Poster:
    """The text layers over one picture, and the safe area the automatic layout keeps them in."""

    layers: list[TextLayer] = field(default_factory=list)
    safe_area: str = "print"
    version: int = POSTER_FORMAT_VERSION

    def layer(self, role: str) -> TextLayer | None:
        """The layer with this role, or None."""
        return next((layer for layer in self.layers if layer.role == role), None)

    def visible_layers(self) -> list[TextLayer]:
        """Layers with text, in drawing order."""
        return [layer for layer in self.layers if layer.text.strip()]

    def validate(self) -> None:
        _check(self.safe_area in SAFE_AREAS, f"poster: safe_area must be one of {', '.join(SAFE_AREAS)}")
        roles = [layer.role for layer in self.layers]
        _check(len(roles) == len(set(roles)), "poster: each role (title, subtitle, footer) at most once")
        for layer in self.layers:
            layer.validate()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (Contract 2 `poster` object, preset `poster` key)."""
        return {"version": self.version, "safe_area": self.safe_area,
                "layers": [dataclasses.asdict(layer) for layer in self.layers]}

    @classmethod
    def from_dict(cls, data: Any) -> Poster:
        """The poster in data; PosterError for anything malformed, newer or out of range."""
        _check(isinstance(data, dict), "poster: expected an object")
        version = data.get("version", POSTER_FORMAT_VERSION)
        _check(_is_int(version), "poster: version must be a whole number")
        _check(version <= POSTER_FORMAT_VERSION,
               f"poster: format version {version} is newer than this Sigma Studio reads ({POSTER_FORMAT_VERSION})")
        raw_layers = data.get("layers", [])
        _check(isinstance(raw_layers, list) and len(raw_layers) <= len(ROLES), "poster: layers must be a list of up to 3")
        names = {f.name for f in dataclasses.fields(TextLayer)}
        layers = []
        for raw in raw_layers:
            _check(isinstance(raw, dict), "poster: each layer must be an object")
            base = default_layer(raw.get("role", "title")) if raw.get("role") in ROLES else TextLayer(role=str(raw.get("role")))
            values = {key: value for key, value in raw.items() if key in names}  # unknown keys ignored
            layers.append(dataclasses.replace(base, **values))
        poster = cls(layers=layers, safe_area=data.get("safe_area", "print"), version=POSTER_FORMAT_VERSION)
        poster.validate()
        return poster


def make_poster(title: str = "", subtitle: str = "", footer: str = "", family: str | None = None,
                safe_area: str = "print") -> Poster:
    """A poster with the given texts in the default styles (family: one font for every layer)."""
    layers = [default_layer(role, text) for role, text in (("title", title), ("subtitle", subtitle), ("footer", footer))]
    if family:
        for layer in layers:
            layer.family = family
    poster = Poster(layers=layers, safe_area=safe_area)
    poster.validate()
    return poster


def poster_from_params(params: dict[str, Any] | None) -> Poster | None:
    """The poster stored in an image's or record's settings, None when there is none; PosterError
    when one is there but unusable."""
    if not params or params.get("poster") in (None, {}):
        return None
    return Poster.from_dict(params["poster"])


@dataclass(frozen=True)
class Paper:
    """A print size: trim size in mm, bleed in mm."""

    name: str
    width_mm: float
    height_mm: float
    bleed_mm: float = DEFAULT_BLEED_MM

    def pixels(self, dpi: int = PRINT_DPI, bleed: bool = False) -> tuple[int, int]:
        """The trim (or trim + bleed) size in pixels at dpi."""
        extra = 2 * self.bleed_mm if bleed else 0.0
        return (round((self.width_mm + extra) / MM_PER_INCH * dpi), round((self.height_mm + extra) / MM_PER_INCH * dpi))


def parse_paper(name: str, bleed_mm: float = DEFAULT_BLEED_MM) -> Paper:
    """'a3-portrait', 'A4 landscape', 'letter' (portrait when no orientation is given)."""
    key = re.sub(r"[^0-9a-z]+", "-", str(name).lower()).strip("-")
    orientation = "portrait"
    for suffix in ("-portrait", "-landscape"):
        if key.endswith(suffix):
            key, orientation = key[: -len(suffix)], suffix[1:]
    if key not in PAPERS_MM:
        names = ", ".join(f"{paper}-portrait|-landscape" for paper in PAPERS_MM)
        raise PosterError(f"unknown paper {name!r}; use one of {names}")
    _check(_is_num(bleed_mm) and 0 <= bleed_mm <= 20, f"bleed {bleed_mm} mm must be 0-20 mm")
    width, height = PAPERS_MM[key]
    if orientation == "landscape":
        width, height = height, width
    return Paper(f"{key}-{orientation}", width, height, float(bleed_mm))


def _check(condition: Any, message: str) -> None:
    if not condition:
        raise PosterError(message)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
