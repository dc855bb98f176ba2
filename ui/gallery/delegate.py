"""How one gallery cell is painted: the thumbnail, its prompt under it, and a clickable star.

May import: PySide6, ui.gallery.model (roles), ui.gallery.thumbnails (icon size), ui.tile_preview (badge).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QPainter,
    QPixmap,
)
from PySide6.QtWidgets import (
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from ui.gallery.model import RecordRole
from ui.gallery.thumbnails import ICON_SIZE
from ui.tile_preview import paint_tile_badge

CELL = QSize(ICON_SIZE + 14, ICON_SIZE + 34)


class GalleryDelegate(QStyledItemDelegate):
    """Paints a thumbnail with its prompt under it and a clickable star in the corner."""

    star_clicked = Signal(QModelIndex)

    STAR = 22

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        """Every cell has the same size (the view relies on it for fast layout)."""
        return CELL

    @staticmethod
    def image_rect(cell: QRect, pixmap: Any) -> QRect:
        """Where the thumbnail is drawn in a cell: centred across, resting on the caption (as file managers do)."""
        size = pixmap.size() if isinstance(pixmap, QPixmap) and not pixmap.isNull() else QSize(ICON_SIZE, ICON_SIZE)
        x = cell.left() + (cell.width() - size.width()) // 2
        y = cell.top() + 6 + ICON_SIZE - size.height()
        return QRect(x, y, size.width(), size.height())

    def star_rect(self, cell: QRect, pixmap: Any = None) -> QRect:
        """Where the star sits: in the top right corner of the thumbnail itself."""
        image = self.image_rect(cell, pixmap)
        return QRect(image.right() - self.STAR - 3, image.top() + 3, self.STAR, self.STAR)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        """Draw selection, thumbnail, star and elided prompt."""
        painter.save()
        cell = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        record = index.data(RecordRole)  # one look-up for prompt and star
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        image = self.image_rect(cell, pixmap)
        text_rect = QRect(cell.left() + 4, cell.top() + ICON_SIZE + 8, cell.width() - 8, 20)
        if selected:  # around the thumbnail and its caption, not the empty space above a wide image
            painter.fillRect(QRect(cell.left() + 2, image.top() - 4, cell.width() - 4,
                                   text_rect.bottom() + 3 - image.top()), option.palette.highlight())
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            painter.drawPixmap(image.topLeft(), pixmap)
        favourite = bool(record is not None and record.favourite)
        star = self.star_rect(cell, pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 110))  # a dark disc keeps the star readable on light images
        painter.drawEllipse(star)
        font = QFont(painter.font())
        font.setPixelSize(16)
        painter.setFont(font)
        painter.setPen(QColor("#f5c518") if favourite else QColor(255, 255, 255, 200))
        painter.drawText(star, Qt.AlignmentFlag.AlignCenter, "★" if favourite else "☆")
        paint_tile_badge(painter, image, getattr(record, "params", None))  # tileable images (issue 14)
        painter.setFont(option.font)
        text = option.fontMetrics.elidedText(
            (record.prompt or "(no prompt)") if record is not None else "", Qt.TextElideMode.ElideRight,
            text_rect.width(),
        )
        painter.setPen(option.palette.highlightedText().color() if selected else option.palette.text().color())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, text)
        painter.restore()

    def editorEvent(self, event: QEvent, model: Any, option: QStyleOptionViewItem, index: QModelIndex) -> bool:
        """A click on the star toggles the favourite without changing the selection."""
        if event.type() not in (QEvent.Type.MouseButtonRelease, QEvent.Type.MouseButtonPress,
                                QEvent.Type.MouseButtonDblClick):
            return super().editorEvent(event, model, option, index)
        star = self.star_rect(option.rect, index.data(Qt.ItemDataRole.DecorationRole))
        if star.contains(event.position().toPoint()):
            if event.type() == QEvent.Type.MouseButtonRelease:
                self.star_clicked.emit(index)
            return True
        return super().editorEvent(event, model, option, index)
