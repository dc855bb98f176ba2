"""Fonts and text geometry for posters, through QtGui: the shipped fonts (resources/fonts), the
system's fonts (QFontDatabase), a layer's QFont at a picture size, word wrapping, and painting a
placed layer (band, shadow or outline, then the text itself as real text, so a PDF keeps it
selectable).

Text needs a QGuiApplication; `ensure_gui` makes an offscreen one for the command line and tests
that have none (the studio already has its QApplication).

May import: PySide6.QtCore/QtGui, resources; no QtWidgets, no torch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QGuiApplication,
    QPainter,
    QPainterPath,
    QPen,
)

from .model import TextLayer

FONT_SUFFIXES = (".ttf", ".otf")
BUNDLED_ROLES = {"serif": "EB Garamond", "sans": "Lato", "display": "Bebas Neue", "condensed": "Roboto Condensed"}
_APP: list[QGuiApplication] = []  # keeps an app made here alive
_registered: dict[str, list[str]] = {}
_lock = threading.Lock()


class FontError(ValueError):
    """A font family that is neither shipped nor installed; the message lists what is."""


def ensure_gui() -> None:
    """A QGuiApplication for font work: the running one, else an offscreen one made here."""
    if QGuiApplication.instance() is None:  # text needs no display: offscreen, whatever the environment says
        _APP.append(QGuiApplication(["sigma-studio-poster", "-platform", "offscreen"]))


def fonts_dir():
    from resources import root

    return root() / "fonts"


def register_bundled_fonts() -> list[str]:
    """Add the shipped fonts to Qt's database once; returns their families."""
    ensure_gui()
    with _lock:
        if not _registered:
            for path in sorted(fonts_dir().iterdir()):
                if path.suffix.lower() in FONT_SUFFIXES:
                    font_id = QFontDatabase.addApplicationFont(str(path))
                    _registered[path.name] = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
        return sorted({family for families in _registered.values() for family in families})


def bundled_families() -> list[str]:
    """The shipped families, in role order (serif, sans, display, condensed)."""
    register_bundled_fonts()
    return list(BUNDLED_ROLES.values())


def available_families() -> list[str]:
    """Every family Qt can draw: the shipped ones and the system's."""
    register_bundled_fonts()
    return list(QFontDatabase.families())


def resolve_family(name: str) -> str:
    """The family Qt knows for name (case-insensitive; 'serif', 'sans', 'display', 'condensed' name
    the shipped ones); FontError when there is none."""
    register_bundled_fonts()
    wanted = BUNDLED_ROLES.get(name.strip().lower(), name.strip())
    for family in QFontDatabase.families():
        if family.lower() == wanted.lower():
            return family
    shipped = ", ".join(BUNDLED_ROLES.values())
    raise FontError(f"font {name!r} is not installed; use one of the shipped fonts ({shipped}) "
                    "or an installed font family")


def pixel_size(layer: TextLayer, width: float, height: float) -> float:
    """The layer's font size in pixels at this picture size."""
    return max(1.0, layer.size * min(width, height))


def make_font(layer: TextLayer, width: float, height: float) -> QFont:
    """The layer's QFont at this picture size (pixel size, weight, italic, letter spacing)."""
    font = QFont(resolve_family(layer.family))
    size = pixel_size(layer, width, height)
    font.setPixelSize(max(1, round(size)))
    font.setWeight(QFont.Weight(int(layer.weight)))
    font.setItalic(bool(layer.italic))
    font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)  # same metrics at every scale
    if layer.letter_spacing:
        # As a percentage of the letters' mean advance: QPdfWriter scales absolute spacing wrongly
        # (about 3× at 300 DPI), while percentage spacing comes out the same in PDFs and pictures.
        text = "".join(layer.text.split()) or "x"
        mean_advance = QFontMetricsF(font).horizontalAdvance(text) / len(text)
        font.setLetterSpacing(QFont.SpacingType.PercentageSpacing,
                              max(1.0, 100.0 * (1.0 + layer.letter_spacing * size / mean_advance)))
    return font


def wrap(text: str, font: QFont, max_width: float) -> list[str]:
    """text broken into lines no wider than max_width (explicit newlines kept; a long word stays whole)."""
    metrics = QFontMetricsF(font)
    lines: list[str] = []
    for paragraph in text.strip().split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and metrics.horizontalAdvance(candidate) > max_width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


@dataclass
class Block:
    """A layer's text laid out at one picture size: lines, font and the box they fill."""

    layer: TextLayer
    font: QFont
    lines: list[str]
    line_widths: list[float]
    line_px: float
    ascent: float
    descent: float
    left: float = 0.0
    top: float = 0.0

    @property
    def width(self) -> float:
        return max(self.line_widths, default=0.0)

    @property
    def height(self) -> float:
        return self.line_px * len(self.lines)

    @property
    def rect(self) -> tuple[float, float, float, float]:
        return self.left, self.top, self.left + self.width, self.top + self.height

    def padding(self) -> tuple[float, float]:
        """The band's margin around the text (horizontal, vertical)."""
        size = self.font.pixelSize()
        return 0.4 * size, 0.2 * size

    def band_rect(self) -> tuple[float, float, float, float]:
        pad_x, pad_y = self.padding()
        left, top, right, bottom = self.rect
        return left - pad_x, top - pad_y, right + pad_x, bottom + pad_y

    def move_to_anchor(self, anchor_x: float, top: float) -> None:
        """Place the block with its align anchor (left edge, centre or right edge) at anchor_x."""
        shift = {"left": 0.0, "center": 0.5, "right": 1.0}[self.layer.align]
        self.left, self.top = anchor_x - shift * self.width, top

    @property
    def anchor_x(self) -> float:
        return self.left + {"left": 0.0, "center": 0.5, "right": 1.0}[self.layer.align] * self.width

    def baselines(self) -> list[tuple[float, float, str]]:
        """(x, baseline y, text) of every line."""
        shift = {"left": 0.0, "center": 0.5, "right": 1.0}[self.layer.align]
        out = []
        for index, (line, line_w) in enumerate(zip(self.lines, self.line_widths)):
            x = self.left + shift * (self.width - line_w)
            y = self.top + index * self.line_px + (self.line_px - self.ascent - self.descent) / 2 + self.ascent
            out.append((x, y, line))
        return out


def measure(layer: TextLayer, width: float, height: float, wrap_width: float) -> Block:
    """The layer's block at picture size width x height, wrapped at wrap_width pixels."""
    font = make_font(layer, width, height)
    metrics = QFontMetricsF(font)
    lines = wrap(layer.text, font, wrap_width)
    widths = [metrics.horizontalAdvance(line) for line in lines]
    line_px = layer.line_height * font.pixelSize()
    return Block(layer, font, lines, widths, line_px, metrics.ascent(), metrics.descent())


def paint_block(painter: QPainter, block: Block, colour: str, band_opacity: float | None,
                band_colour: str, effect_colour: str) -> None:
    """Draw one placed block: band, shadow or outline (vector shapes), then the text (real text)."""
    layer = block.layer
    size = block.font.pixelSize()
    if band_opacity:
        left, top, right, bottom = block.band_rect()
        band = QColor(band_colour)
        band.setAlphaF(float(band_opacity))
        painter.fillRect(QRectF(left, top, right - left, bottom - top), band)
    if layer.effect != "none":
        path = QPainterPath()
        for x, y, line in block.baselines():
            path.addText(QPointF(x, y), block.font, line)
        effect = QColor(effect_colour)
        if layer.effect == "shadow":
            effect.setAlphaF(0.6)
            painter.fillPath(path.translated(0.05 * size, 0.05 * size), effect)
        else:
            pen = QPen(effect, 0.12 * size, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
            painter.strokePath(path, pen)
    painter.setFont(block.font)
    painter.setPen(QColor(colour))
    for x, y, line in block.baselines():
        painter.drawText(QPointF(x, y), line)
