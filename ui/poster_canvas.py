"""The poster's live preview: the picture scaled to the widget with the text layers painted by the
same code as the exports (app.poster.render.paint_placements), the safe area drawn dashed, and the
layers draggable; a dragged layer snaps to the safe area's edges, thirds and centre.

May import: PySide6, app.poster; no torch, nothing from model/.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.poster.layout import Placement, safe_rect, snap
from app.poster.render import paint_placements

SNAP_TOLERANCE = 0.015  # of the picture's width or height


class PosterCanvas(QWidget):
    """Preview of one poster; emits layer_moved(role, x, y) (fractions) when a layer is dropped."""

    layer_moved = Signal(str, float, float)
    layer_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 320)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.picture = QImage()
        self.design = (1.0, 1.0)
        self.placements: list[Placement] = []
        self.safe_area = "print"
        self.selected = "title"
        self._drag: dict[str, Any] | None = None
        self.guides: list[tuple[str, float]] = []  # ("x"|"y", design coordinate) shown while dragging

    def set_content(self, picture: QImage, design: tuple[float, float], placements: list[Placement], safe_area: str) -> None:
        """Show picture (any size) for a design of design (w, h) pixels, with these placements."""
        self.picture, self.design, self.placements, self.safe_area = picture, design, placements, safe_area
        self.update()

    def set_selected(self, role: str) -> None:
        self.selected = role
        self.update()

    # -- geometry --------------------------------------------------------------------------

    def target_rect(self) -> QRectF:
        """Where the picture is drawn, fitted and centred in the widget."""
        width, height = self.design
        scale = min((self.width() - 16) / width, (self.height() - 16) / height)
        w, h = width * scale, height * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def _scale(self) -> float:
        return self.target_rect().width() / self.design[0]

    def to_design(self, point: QPointF) -> QPointF:
        target = self.target_rect()
        return QPointF((point.x() - target.left()) / self._scale(), (point.y() - target.top()) / self._scale())

    def placement_at(self, point: QPointF) -> Placement | None:
        """The topmost layer under a widget point."""
        p = self.to_design(point)
        for place in reversed(self.placements):
            left, top, right, bottom = place.block.band_rect()
            if left <= p.x() <= right and top <= p.y() <= bottom:
                return place
        return None

    # -- painting --------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self.picture.isNull():
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No picture")
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        target = self.target_rect()
        painter.drawImage(target, self.picture)
        painter.save()
        painter.translate(target.topLeft())
        painter.scale(self._scale(), self._scale())
        paint_placements(painter, self.placements)
        painter.restore()
        self._paint_overlay(painter, target)
        painter.end()

    def _paint_overlay(self, painter: QPainter, target: QRectF) -> None:
        """Safe area (dashed), the selected layer's box, and the snap guides while dragging."""
        k = self._scale()
        left, top, right, bottom = safe_rect(self.safe_area, *self.design)
        pen = QPen(QColor(255, 255, 255, 150), 1, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(target.left() + left * k, target.top() + top * k, (right - left) * k, (bottom - top) * k))
        for place in self.placements:
            if place.role == self.selected:
                left, top, right, bottom = place.block.band_rect()
                painter.setPen(QPen(QColor("#3d7bd9"), 2))
                painter.drawRect(QRectF(target.left() + left * k, target.top() + top * k,
                                        (right - left) * k, (bottom - top) * k))
        painter.setPen(QPen(QColor("#ff3da5"), 1))
        for axis, value in self.guides:
            if axis == "x":
                x = target.left() + value * k
                painter.drawLine(QPointF(x, target.top()), QPointF(x, target.bottom()))
            else:
                y = target.top() + value * k
                painter.drawLine(QPointF(target.left(), y), QPointF(target.right(), y))

    # -- dragging --------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        place = self.placement_at(event.position())
        if place is None or event.button() != Qt.MouseButton.LeftButton:
            return
        self.selected = place.role
        self.layer_clicked.emit(place.role)
        start = self.to_design(event.position())
        self._drag = {"place": place, "start": start, "left": place.block.left, "top": place.block.top}
        self.setCursor(Qt.CursorShape.ClosedHandCursor)
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is None:
            over = self.placement_at(event.position()) is not None
            self.setCursor(Qt.CursorShape.OpenHandCursor if over else Qt.CursorShape.ArrowCursor)
            return
        point = self.to_design(event.position())
        block = self._drag["place"].block
        block.left = self._drag["left"] + point.x() - self._drag["start"].x()
        block.top = self._drag["top"] + point.y() - self._drag["start"].y()
        self._snap(block)
        self.update()

    def _snap(self, block: Any) -> None:
        """Move the block's anchor and centre onto nearby guides of the safe area; remember them to draw."""
        width, height = self.design
        left, top, right, bottom = safe_rect(self.safe_area, width, height)
        self.guides = []
        anchor = block.anchor_x
        snapped = snap(anchor, left, right, SNAP_TOLERANCE * width)
        if snapped != anchor:
            block.left += snapped - anchor
            self.guides.append(("x", snapped))
        centre = block.top + block.height / 2
        snapped = snap(centre, top, bottom, SNAP_TOLERANCE * height)
        if snapped != centre:
            block.top += snapped - centre
            self.guides.append(("y", snapped))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag is None:
            return
        block = self._drag["place"].block
        self._drag = None
        self.guides = []
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        width, height = self.design
        x = min(1.0, max(0.0, block.anchor_x / width))
        y = min(1.0, max(0.0, block.top / height))
        self.layer_moved.emit(block.layer.role, x, y)
