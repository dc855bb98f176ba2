"""The 3x3 tiled preview of a tileable result: a widget that paints its image once or repeated 3x3
(scaled to fit), toggled with a key (T by default) or `toggle()`; and the gallery's tileable badge.

May import: PySide6, app.tiles (badges).
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QKeySequence, QPainter
from PySide6.QtWidgets import QWidget

from app.tiles import badge

TOGGLE_KEY = "T"


class TilePreview(QWidget):
    """Shows one image, single or tiled 3x3; `tiled_changed(bool)` follows the toggle."""

    tiled_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None, key: str = TOGGLE_KEY) -> None:
        super().__init__(parent)
        self.setObjectName("tilePreview")
        self._image = QImage()
        self.tiled = False
        self.setMinimumSize(160, 160)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setToolTip(f"{key}: show the image tiled 3×3 to check its seams")
        self._key = QKeySequence(key)[0].key()

    def set_image(self, image: QImage) -> None:
        self._image = image
        self.update()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == self._key and not event.modifiers() & ~Qt.KeypadModifier:
            self.toggle()
            return
        super().keyPressEvent(event)

    def toggle(self) -> None:
        self.set_tiled(not self.tiled)

    def set_tiled(self, tiled: bool) -> None:
        if tiled != self.tiled:
            self.tiled = tiled
            self.tiled_changed.emit(tiled)
            self.update()

    def tile_rects(self) -> list[QRectF]:
        """Where each copy of the image is painted (1 or 9 rectangles, scaled to fit, centred)."""
        if self._image.isNull():
            return []
        n = 3 if self.tiled else 1
        iw, ih = self._image.width() * n, self._image.height() * n
        scale = min(self.width() / iw, self.height() / ih)
        w, h = self._image.width() * scale, self._image.height() * scale
        left, top = (self.width() - w * n) / 2, (self.height() - h * n) / 2
        return [QRectF(left + i * w, top + j * h, w, h) for j in range(n) for i in range(n)]

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#3a3a3a"))
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        for rect in self.tile_rects():
            painter.drawImage(rect, self._image)
        painter.end()


def paint_tile_badge(painter: QPainter, image: QRect, params: dict | None) -> bool:
    """The tileable badge (⇆ ⇅ ✣) in the thumbnail's top left corner; False for a normal image."""
    text = badge(params)
    if not text:
        return False
    painter.save()
    rect = QRect(image.left() + 3, image.top() + 3, 20, 20)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 130))
    painter.drawRoundedRect(rect, 4, 4)
    font = painter.font()
    font.setPixelSize(14)
    painter.setFont(font)
    painter.setPen(QColor("#7fd4ff"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()
    return True
