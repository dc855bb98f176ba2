"""The gallery panel: the thumbnail grid with search, favourites, delete/undo, drag out, export, and
set as wallpaper (on a pool thread: a desktop's command may take up to 20 s).

May import: PySide6, ui.gallery's model/delegate, ui.tasks, app.gallery (the undo window), app.tiles,
app.wallpaper; never torch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPoint,
    QProcess,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QDesktopServices,
    QKeySequence,
    QPainter,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.gallery import UNDO_WINDOW
from app.tiles import tileable_of
from app.wallpaper import WallpaperError, set_wallpaper
from ui.gallery.delegate import CELL, GalleryDelegate
from ui.gallery.model import FavouriteRole, GalleryModel
from ui.gallery.thumbnails import ICON_SIZE
from ui.tasks import run_task

SEARCH_DEBOUNCE_MS = 250
SCROLL_SETTLE_MS = 120  # thumbnails start loading once scrolling pauses this long
UNDO_VISIBLE_MS = int(UNDO_WINDOW.total_seconds() * 1000)  # the trash is purged on quit after this
DESKTOP_NAMES = {"gnome": "GNOME", "kde": "KDE Plasma", "windows": "Windows", "macos": "macOS"}


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
    poster_requested = Signal(object)  # one record: the poster panel (issue 13)
    status_message = Signal(str)

    def __init__(self, gallery: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self._undo_tokens: list[Any] = []
        self.wallpaper_call = set_wallpaper  # (path, tiled=...) -> desktop name; run on a pool thread
        self.wallpaper_task: Any = None  # the ui.tasks.Task while a wallpaper is being set
        self.wallpaper_box: QMessageBox | None = None  # the last failure's message box

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
        self.poster_action = self._action("Make a poster…", self.poster_selected)
        self.wallpaper_action = self._action("Set as wallpaper", self.set_wallpaper_selected, "Ctrl+Shift+W")
        self._update_actions()

    def _update_actions(self, *_args: Any) -> None:
        count = len(self.view.selectionModel().selectedIndexes())
        for action in (self.open_action, self.reveal_action, self.favourite_action, self.delete_action,
                       self.export_action):
            action.setEnabled(count > 0)
        self.use_action.setEnabled(count == 1)
        self.poster_action.setEnabled(count == 1)
        self.wallpaper_action.setEnabled(count == 1 and self.wallpaper_task is None)
        self.undo_action.setEnabled(bool(self._undo_tokens))

    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if index.isValid() and not self.view.selectionModel().isSelected(index):
            self.view.setCurrentIndex(index)
        self._update_actions()
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        for action in (self.open_action, self.reveal_action, self.use_action, None, self.favourite_action,
                       self.delete_action, self.undo_action, None, self.export_action, self.poster_action,
                       self.wallpaper_action):
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

    def poster_selected(self) -> None:
        """Context menu ▸ Make a poster…: the poster panel for the one selected record."""
        records = self.selected_records()
        if len(records) == 1:
            self.poster_requested.emit(records[0])

    def set_wallpaper_selected(self) -> None:
        """Context menu ▸ Set as wallpaper (Ctrl+Shift+W): the one selected image, tiled when it is
        tileable, set on a pool thread; the outcome comes back as a status message (a box on failure)."""
        records = self.selected_records()
        if len(records) != 1 or self.wallpaper_task is not None:
            return
        record = records[0]
        if not record.exists:
            self._wallpaper_failed(WallpaperError(f"The image file is missing: {record.path}"))
            return
        path, tiled, call = Path(record.path), tileable_of(record.params) != "off", self.wallpaper_call
        self.status_message.emit(f"Setting {path.name} as the wallpaper{' (tiled)' if tiled else ''}…")
        self.wallpaper_task = run_task(lambda _ctx: call(path, tiled=tiled), on_result=self._wallpaper_set,
                                       on_error=self._wallpaper_failed, on_finished=self._wallpaper_done,
                                       owner=self)
        self._update_actions()

    def _wallpaper_set(self, desktop: Any) -> None:
        self.status_message.emit(f"Wallpaper set ({DESKTOP_NAMES.get(desktop, desktop)})")

    def _wallpaper_failed(self, error: BaseException) -> None:
        text = str(error) if isinstance(error, WallpaperError) else f"Setting the wallpaper failed: {error}"
        self.status_message.emit(text)
        box = QMessageBox(QMessageBox.Icon.Warning, "Set as wallpaper", text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.wallpaper_box = box
        box.open()  # window-modal, not a nested event loop

    def _wallpaper_done(self) -> None:
        self.wallpaper_task = None
        self._update_actions()

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
