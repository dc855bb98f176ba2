"""The gallery panel: a virtualised thumbnail grid with search, favourites, delete/undo, drag out, export."""

from __future__ import annotations

import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QProcess,
    QRect,
    QSize,
    Qt,
    QThread,
    QThreadPool,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QColor,
    QDesktopServices,
    QFont,
    QImage,
    QKeySequence,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.tasks import run_task

ICON_SIZE = 160
CELL = QSize(ICON_SIZE + 14, ICON_SIZE + 34)
PAGE_SIZE = 40
RECORD_CACHE = 3000
PIXMAP_CACHE = 600
SEARCH_DEBOUNCE_MS = 250
SCROLL_SETTLE_MS = 120  # thumbnails start loading once scrolling pauses this long
UNDO_VISIBLE_MS = 15000

RecordRole = Qt.ItemDataRole.UserRole + 1
IdRole = Qt.ItemDataRole.UserRole + 2
FavouriteRole = Qt.ItemDataRole.UserRole + 3


# ---------------------------------------------------------------------------------------------
# Thumbnails
# ---------------------------------------------------------------------------------------------

def _placeholder(text: str, colour: str) -> QPixmap:
    """A flat square with a short label, shown until (or instead of) a thumbnail."""
    pixmap = QPixmap(ICON_SIZE, ICON_SIZE)
    pixmap.fill(QColor(colour))
    painter = QPainter(pixmap)
    painter.setPen(QColor("#9a9a9a"))
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return pixmap


def _load_thumbnail(gallery: Any, image_id: int) -> QImage:
    """Read (or make) the thumbnail of one record and scale it to the grid's icon size (worker thread)."""
    image = QImage(str(gallery.thumbnail(image_id)))
    if image.isNull():
        raise OSError(f"unreadable thumbnail for image {image_id}")
    return image.scaled(
        ICON_SIZE, ICON_SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


class ThumbnailLoader(QObject):
    """Loads thumbnails on a small thread pool, newest requests first, dropping ones scrolled past."""

    loaded = Signal(int, QImage)
    failed = Signal(int, str)

    MAX_PENDING = 400

    def __init__(self, gallery: Any, parent: QObject | None = None, threads: int | None = None) -> None:
        super().__init__(parent)
        self._gallery = gallery
        self.pool = QThreadPool(self)
        # Leave a core to the UI thread: thumbnails are small, one or two threads keep up.
        self.pool.setMaxThreadCount(threads or max(1, min(2, QThread.idealThreadCount() - 1)))
        self.pool.setExpiryTimeout(-1)  # keep threads (and their SQLite connections) alive
        self._pending: OrderedDict[int, None] = OrderedDict()
        self._in_flight: set[int] = set()
        self._paused = False

    def request(self, image_id: int) -> None:
        """Ask for a thumbnail; a repeated request moves it to the front of the queue."""
        if image_id in self._in_flight:
            return
        self._pending[image_id] = None
        self._pending.move_to_end(image_id)
        while len(self._pending) > self.MAX_PENDING:
            self._pending.popitem(last=False)
        self._pump()

    def clear(self) -> None:
        """Forget queued requests (after a new search); loads already running still finish."""
        self._pending.clear()

    def pause(self) -> None:
        """Start no new loads (while the user scrolls fast, so the UI thread keeps the CPU)."""
        self._paused = True

    def resume(self, keep: set[int] | None = None) -> None:
        """Start loading again, first dropping queued requests not in `keep` (the visible ids)."""
        self._paused = False
        if keep is not None:
            for image_id in [i for i in self._pending if i not in keep]:
                del self._pending[image_id]
        self._pump()

    def _pump(self) -> None:
        while not self._paused and self._pending and len(self._in_flight) < self.pool.maxThreadCount():
            image_id, _ = self._pending.popitem(last=True)
            self._in_flight.add(image_id)
            run_task(
                lambda _ctx, g=self._gallery, i=image_id: _load_thumbnail(g, i),
                on_result=lambda image, i=image_id: self._done(i, image, ""),
                on_error=lambda exc, i=image_id: self._done(i, None, str(exc)),
                pool=self.pool,
                owner=self,
            )

    def _done(self, image_id: int, image: QImage | None, error: str) -> None:
        self._in_flight.discard(image_id)
        if image is not None:
            self.loaded.emit(image_id, image)
        else:
            self.failed.emit(image_id, error)
        self._pump()

    def wait(self, msecs: int = 10000) -> bool:
        """Block until running loads finish (shutdown and tests)."""
        self._pending.clear()
        return self.pool.waitForDone(msecs)


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Delegate
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Panel
# ---------------------------------------------------------------------------------------------

class GalleryListView(QListView):
    """The thumbnail grid; says what to do when it has nothing to show instead of staying blank."""

    empty_text = ""

    def paintEvent(self, event: Any) -> None:
        """Draw the grid, or the empty-state text centred in it."""
        super().paintEvent(event)
        model = self.model()
        if self.empty_text and model is not None and model.rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            rect = self.viewport().rect().adjusted(16, 16, -16, -16)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
            painter.end()


def reveal_in_folder(path: Path) -> None:
    """Show a file in the system file manager (selected where the platform allows it)."""
    if sys.platform == "darwin":
        QProcess.startDetached("open", ["-R", str(path)])
    elif sys.platform == "win32":
        QProcess.startDetached("explorer", ["/select,", str(path)])
    else:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))


class GalleryPanel(QWidget):
    """Thumbnail grid of the gallery with search, favourites, delete/undo, drag out and export."""

    use_settings = Signal(dict)
    export_requested = Signal(list)
    status_message = Signal(str)

    def __init__(self, gallery: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self._undo_tokens: list[Any] = []

        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search prompts…")
        self.search.setClearButtonEnabled(True)
        self.favourites = QToolButton(self)
        self.favourites.setText("★ Favourites")
        self.favourites.setCheckable(True)
        self.favourites.setToolTip("Show only favourites")
        self.count_label = QLabel(self)

        self.model = GalleryModel(gallery, self)
        self.delegate = GalleryDelegate(self)
        self.view = GalleryListView(self)
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setWrapping(True)
        self.view.setUniformItemSizes(True)
        self.view.setGridSize(CELL)
        self.view.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(2000)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setDragEnabled(True)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.view.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.verticalScrollBar().setSingleStep(40)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.setItemDelegate(self.delegate)
        self.view.setModel(self.model)

        self.undo_bar = QWidget(self)
        self.undo_label = QLabel(self.undo_bar)
        self.undo_button = QPushButton("Undo", self.undo_bar)
        undo_layout = QHBoxLayout(self.undo_bar)
        undo_layout.setContentsMargins(4, 0, 4, 0)
        undo_layout.addWidget(self.undo_label, 1)
        undo_layout.addWidget(self.undo_button)
        self.undo_bar.hide()
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.setInterval(UNDO_VISIBLE_MS)
        self._undo_timer.timeout.connect(self.undo_bar.hide)

        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.favourites)
        top.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.undo_bar)

        self._scroll_timer = QTimer(self)
        self._scroll_timer.setSingleShot(True)
        self._scroll_timer.setInterval(SCROLL_SETTLE_MS)
        self._scroll_timer.timeout.connect(self._scroll_settled)
        self.view.verticalScrollBar().valueChanged.connect(self._scrolling)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._search_timer.start)
        self.favourites.toggled.connect(self.refresh)
        self.delegate.star_clicked.connect(self._toggle_star)
        self.view.doubleClicked.connect(lambda index: self.open_selected())
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.selectionModel().selectionChanged.connect(self._update_actions)
        self.undo_button.clicked.connect(self.undo_delete)
        self._make_actions()
        self.refresh()

    # -- actions ------------------------------------------------------------------------------

    def _action(self, text: str, slot: Any, shortcut: QKeySequence | str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        self.view.addAction(action)  # shortcuts act while the grid has focus, never in the search box
        return action

    def _make_actions(self) -> None:
        self.open_action = self._action("Open in system viewer", self.open_selected, "Return")
        self.reveal_action = self._action("Reveal in folder", self.reveal_selected)
        self.use_action = self._action("Use these settings again", self.use_selected_settings)
        self.favourite_action = self._action("Favourite", self.toggle_favourite_selected, "F")
        self.delete_action = self._action("Delete", self.delete_selected, QKeySequence.StandardKey.Delete)
        self.undo_action = self._action("Undo delete", self.undo_delete, QKeySequence.StandardKey.Undo)
        self.export_action = self._action("Export selected…", self.export_selected, "Ctrl+E")
        self._update_actions()

    def _update_actions(self, *_args: Any) -> None:
        count = len(self.view.selectionModel().selectedIndexes())
        for action in (self.open_action, self.reveal_action, self.favourite_action, self.delete_action,
                       self.export_action):
            action.setEnabled(count > 0)
        self.use_action.setEnabled(count == 1)
        self.undo_action.setEnabled(bool(self._undo_tokens))

    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if index.isValid() and not self.view.selectionModel().isSelected(index):
            self.view.setCurrentIndex(index)
        self._update_actions()
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        for action in (self.open_action, self.reveal_action, self.use_action, None, self.favourite_action,
                       self.delete_action, self.undo_action, None, self.export_action):
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)
        menu.popup(self.view.viewport().mapToGlobal(pos))

    # -- public -------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the gallery for the current search text and favourites toggle."""
        self.model.reload(self.search.text().strip(), self.favourites.isChecked())
        self._update_count()
        self._update_actions()

    def add_record(self, record: Any) -> None:
        """Show a newly generated image at the top without reloading the grid."""
        if self.model.insert_record(record):
            self._update_count()

    def selected_rows(self) -> list[int]:
        """Selected rows, top to bottom."""
        return sorted(index.row() for index in self.view.selectionModel().selectedIndexes())

    def selected_records(self) -> list[Any]:
        """The selected records, top to bottom."""
        records = (self.model.record_at(row) for row in self.selected_rows())
        return [r for r in records if r is not None]

    def select_rows(self, rows: list[int]) -> None:
        """Select these rows (the first one becomes current)."""
        selection = self.view.selectionModel()
        selection.clearSelection()
        for row in rows:
            selection.select(self.model.index(row), selection.SelectionFlag.Select)
        if rows:
            selection.setCurrentIndex(self.model.index(rows[0]), selection.SelectionFlag.NoUpdate)

    def open_selected(self) -> None:
        """Open the selected images in the system's image viewer."""
        for record in self.selected_records():
            if not record.exists:
                self.status_message.emit(f"The image file is missing: {record.path}")
                continue
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(record.path)))

    def reveal_selected(self) -> None:
        """Show the first selected image in the file manager."""
        records = self.selected_records()
        if records:
            reveal_in_folder(records[0].path)

    def use_selected_settings(self) -> None:
        """Emit the settings of the selected image so the prompt editor can reuse them."""
        records = self.selected_records()
        if not records:
            return
        record = records[0]
        params = dict(record.params) or {
            "prompt": record.prompt, "negative": record.negative, "width": record.width,
            "height": record.height, "seed": record.seed, "steps": record.steps,
            "guidance": record.guidance, "model": record.model, "kv_compress": record.kv_compress,
        }
        self.use_settings.emit(params)
        self.status_message.emit("Settings loaded from the selected image")

    def toggle_favourite_selected(self) -> None:
        """Favourite the selection, or unfavourite it when every selected image already is one."""
        rows = self.selected_rows()
        records = [self.model.record_at(row) for row in rows]
        on = not all(r is not None and r.favourite for r in records)
        for row in rows:
            self.model.set_favourite(row, on)
        if rows:
            self.status_message.emit(f"{'Added' if on else 'Removed'} {len(rows)} favourite(s)")

    def delete_selected(self) -> None:
        """Move the selected images to the gallery's trash; Undo (or Ctrl+Z) brings them back."""
        ids = [self.model.id_at(row) for row in self.selected_rows()]
        if not ids:
            return
        token = self.gallery.delete(ids)
        self._undo_tokens.append(token)
        self.model.remove_ids(list(token.ids) if hasattr(token, "ids") else ids)
        self._update_count()
        message = f"Deleted {len(ids)} image{'s' if len(ids) != 1 else ''} — Ctrl+Z to undo"
        self.undo_label.setText(message)
        self.undo_bar.show()
        self._undo_timer.start()
        self._update_actions()
        self.status_message.emit(message)

    def undo_delete(self) -> None:
        """Restore the images of the last delete."""
        if not self._undo_tokens:
            self.status_message.emit("Nothing to undo")
            return
        token = self._undo_tokens.pop()
        try:
            restored = self.gallery.undo_delete(token)
        except Exception as exc:  # noqa: BLE001 - shown to the user, the grid stays as it is
            self.status_message.emit(str(exc))
            return
        scroll = self.view.verticalScrollBar().value()
        self.refresh()
        self.view.verticalScrollBar().setValue(scroll)
        rows = [r for r in (self.model.row_of(i) for i in restored) if r is not None]
        self.select_rows(rows)
        self.undo_bar.hide()
        self.status_message.emit(f"Restored {len(restored)} image{'s' if len(restored) != 1 else ''}")

    def export_selected(self) -> None:
        """Ask the main window to export the selected records."""
        records = self.selected_records()
        if records:
            self.export_requested.emit(records)

    # -- internals ----------------------------------------------------------------------------

    def _toggle_star(self, index: QModelIndex) -> None:
        if index.isValid():
            self.model.set_favourite(index.row(), not bool(index.data(FavouriteRole)))

    def _scrolling(self, _value: int) -> None:
        self.model.loader.pause()
        self._scroll_timer.start()

    def _scroll_settled(self) -> None:
        self.model.loader.resume(self.visible_ids())

    def visible_ids(self) -> set[int]:
        """Ids of the items the viewport shows now."""
        viewport = self.view.viewport().rect()
        first = self.view.indexAt(viewport.topLeft() + QPoint(1, 1))
        if not first.isValid():
            first = self.view.indexAt(QPoint(CELL.width() // 2, CELL.height() // 2))
        if not first.isValid():
            return set()
        per_row = max(1, viewport.width() // CELL.width())
        rows_shown = viewport.height() // CELL.height() + 2
        start = max(0, first.row() - per_row)
        stop = min(self.model.rowCount(), first.row() + per_row * (rows_shown + 1))
        return {self.model.id_at(row) for row in range(start, stop)}

    def _update_count(self) -> None:
        count = self.model.rowCount()
        self.count_label.setText(f"{count} image{'s' if count != 1 else ''}")
        if self.model.text or self.model.favourites_only:
            what = "favourites" if self.model.favourites_only else "images"
            found = f" matching “{self.model.text}”" if self.model.text else ""
            self.view.empty_text = f"No {what}{found}."
        else:
            self.view.empty_text = "No images yet.\nEverything you generate is kept here with its settings."
        self.view.viewport().update()

    def showEvent(self, event: Any) -> None:
        """On show, give way to window shortcuts with the same keys."""
        super().showEvent(event)
        self._yield_shared_shortcuts()

    def _yield_shared_shortcuts(self) -> None:
        """Drop our keys that a window-wide action also uses: Qt would call the pair ambiguous and run neither."""
        mine = self.view.actions()
        taken = {
            key.toString()
            for action in self.window().findChildren(QAction)
            if action not in mine
            and action.shortcutContext() in (Qt.ShortcutContext.WindowShortcut, Qt.ShortcutContext.ApplicationShortcut)
            for key in action.shortcuts()
        }
        for action in mine:
            keys = action.shortcuts()
            kept = [key for key in keys if key.toString() not in taken]
            if len(kept) != len(keys):
                action.setShortcuts(kept)

    def shutdown(self) -> None:
        """Wait for thumbnail loads to end (call before closing the gallery)."""
        self.model.loader.wait()

    def closeEvent(self, event: Any) -> None:
        """Stop thumbnail loading with the panel."""
        self.shutdown()
        super().closeEvent(event)
