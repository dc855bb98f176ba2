"""The gallery grid's list model: rows are gallery ids; records fetched in pages, thumbnails on demand.

May import: PySide6, ui.gallery.thumbnails; the gallery store object is given to it (app.gallery).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QUrl,
)
from PySide6.QtGui import (
    QImage,
    QPixmap,
)

from ui.gallery.thumbnails import ThumbnailLoader, _placeholder

PAGE_SIZE = 40
RECORD_CACHE = 3000
PIXMAP_CACHE = 600

RecordRole = Qt.ItemDataRole.UserRole + 1
IdRole = Qt.ItemDataRole.UserRole + 2
FavouriteRole = Qt.ItemDataRole.UserRole + 3


def _matches(record: Any, text: str, favourites_only: bool) -> bool:
    """Whether a new record belongs in the current filter (word-prefix search, like the gallery's)."""
    if favourites_only and not record.favourite:
        return False
    haystack = f"{record.prompt} {record.negative}".lower()
    return all(word.lower() in haystack for word in text.split())


class GalleryModel(QAbstractListModel):
    """Rows are the ids of `gallery.ids(...)`; records are fetched in pages and thumbnails on demand."""

    def __init__(self, gallery: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self.text = ""
        self.favourites_only = False
        self._ids: list[int] = []
        self._row_of: dict[int, int] | None = None
        self._records: OrderedDict[int, Any] = OrderedDict()
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self._broken: set[int] = set()
        self.loader = ThumbnailLoader(gallery, self)
        self.loader.loaded.connect(self._thumbnail_loaded)
        self.loader.failed.connect(self._thumbnail_failed)
        self.placeholder = _placeholder("…", "#2b2b2b")
        self.missing = _placeholder("missing", "#3a2020")

    # -- rows ---------------------------------------------------------------------------------

    def reload(self, text: str | None = None, favourites_only: bool | None = None) -> None:
        """Re-read the ids for the current (or a new) filter; cached thumbnails are kept."""
        if text is not None:
            self.text = text
        if favourites_only is not None:
            self.favourites_only = favourites_only
        self.beginResetModel()
        self._ids = self.gallery.ids(self.text, self.favourites_only)
        self._row_of = None
        self._records.clear()
        self._broken.clear()
        self.loader.clear()
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        """Number of images in the current filter."""
        return 0 if parent.isValid() else len(self._ids)

    def id_at(self, row: int) -> int:
        """The record id shown in `row`."""
        return self._ids[row]

    def row_of(self, image_id: int) -> int | None:
        """The row showing `image_id`, or None."""
        if self._row_of is None:
            self._row_of = {image_id: row for row, image_id in enumerate(self._ids)}
        return self._row_of.get(image_id)

    def record_at(self, row: int) -> Any:
        """The record in `row`, fetching its page of records on first use."""
        image_id = self._ids[row]
        record = self._records.get(image_id)
        if record is not None:
            self._records.move_to_end(image_id)
            return record
        self._fetch_page(row - row % PAGE_SIZE)
        while len(self._records) > RECORD_CACHE:
            self._records.popitem(last=False)
        return self._records.get(image_id)

    def _fetch_page(self, start: int) -> None:
        """Cache the records of rows start..start+PAGE_SIZE with one query (one by one if out of step)."""
        wanted = self._ids[start:start + PAGE_SIZE]
        page = self.gallery.query(self.text, self.favourites_only, offset=start, limit=len(wanted))
        if [r.id for r in page] == wanted:
            self._records.update((r.id, r) for r in page)
            return
        # The database changed behind the view (added or deleted elsewhere): fetch by id instead.
        for other in wanted:
            if other not in self._records:
                fetched = self.gallery.get(other)
                if fetched is not None:
                    self._records[other] = fetched

    def insert_record(self, record: Any) -> bool:
        """Show a new record at the top when it matches the filter; False when it does not."""
        if not _matches(record, self.text, self.favourites_only) or self.row_of(record.id) is not None:
            return False
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._ids.insert(0, record.id)
        self._row_of = None
        self._records[record.id] = record
        self.endInsertRows()
        return True

    def remove_ids(self, ids: list[int]) -> None:
        """Drop rows for these ids (after a delete), in contiguous blocks from the bottom up."""
        rows = sorted((r for r in (self.row_of(i) for i in ids) if r is not None), reverse=True)
        while rows:
            last = first = rows.pop(0)
            while rows and rows[0] == first - 1:
                first = rows.pop(0)
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._ids[first:last + 1]
            self._row_of = None
            self.endRemoveRows()
        for image_id in ids:
            self._records.pop(image_id, None)
            self._pixmaps.pop(image_id, None)

    def set_favourite(self, row: int, on: bool) -> None:
        """Mark a row's record favourite (stored at once) and repaint it."""
        record = self.record_at(row)
        if record is None:
            return
        self.gallery.set_favourite(record.id, on)
        record.favourite = on
        index = self.index(row)
        self.dataChanged.emit(index, index, [FavouriteRole, Qt.ItemDataRole.DecorationRole])

    # -- data ---------------------------------------------------------------------------------

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Prompt text, thumbnail, tooltip and record for a row."""
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        row = index.row()
        if role == IdRole:
            return self._ids[row]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._pixmap(self._ids[row])
        record = self.record_at(row)
        if record is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return record.prompt or "(no prompt)"
        if role == RecordRole:
            return record
        if role == FavouriteRole:
            return record.favourite
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [record.prompt or "(no prompt)", f"{record.width}×{record.height}"]
            if record.seed is not None:
                lines[-1] += f" · seed {record.seed}"
            if record.model:
                lines.append(record.model)
            if not record.exists:
                lines.append(f"File missing: {record.path}")
            return "\n".join(lines)
        return None

    def _pixmap(self, image_id: int) -> QPixmap:
        pixmap = self._pixmaps.get(image_id)
        if pixmap is not None:
            self._pixmaps.move_to_end(image_id)
            return pixmap
        if image_id in self._broken:
            return self.missing
        self.loader.request(image_id)
        return self.placeholder

    def _thumbnail_loaded(self, image_id: int, image: QImage) -> None:
        self._pixmaps[image_id] = QPixmap.fromImage(image)
        while len(self._pixmaps) > PIXMAP_CACHE:
            self._pixmaps.popitem(last=False)
        self._changed(image_id)

    def _thumbnail_failed(self, image_id: int, _error: str) -> None:
        self._broken.add(image_id)
        self._changed(image_id)

    def _changed(self, image_id: int) -> None:
        row = self.row_of(image_id)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    # -- drag out -----------------------------------------------------------------------------

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        """Items are selectable and can be dragged out as files."""
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        """Dragged images are offered as file URLs."""
        return ["text/uri-list"]

    def supportedDragActions(self) -> Qt.DropAction:
        """Dragging out copies files; the gallery keeps its own."""
        return Qt.DropAction.CopyAction

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        """File URLs of the dragged images, so file managers and other apps receive the files."""
        paths: list[Path] = []
        for index in sorted(indexes, key=lambda i: i.row()):
            record = self.record_at(index.row())
            if record is not None and record.exists and record.path not in paths:
                paths.append(record.path)
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        mime.setText("\n".join(str(p) for p in paths))
        return mime
