"""Model manager dialog: released variants, the base T5/VAE, the demo and local models; download, import, use.

model.sources imports torch, so every call into it runs in a pool thread and is imported there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.tasks import Task, TaskContext, run_task

COLUMNS = ("Model", "Download", "State", "Location", "")
CHECKPOINT_FILTER = "Transformer checkpoints (*.safetensors *.pth *.pt);;All files (*)"


def _list_models(local_models: list[str]) -> tuple[list[dict], str]:
    """Rows of model.sources.installed_models plus the hub cache folder (pool thread)."""
    from model import loading as sources

    return sources.installed_models(list(local_models)), str(sources.hub_cache_dir())


def _download(ctx: TaskContext, repo: str) -> Path:
    """Download a variant or the base repo with progress and cancel (pool thread)."""
    from model import loading as sources

    return sources.download(repo, on_progress=ctx.progress, should_cancel=ctx.should_cancel)


def _validate_import(path: str) -> dict:
    """Check that a folder or checkpoint is a usable PixArt-Σ model; returns name, kind, location (pool thread)."""
    from model import loading as sources

    source = sources.resolve_source(path)
    if source.kind == "single_file":
        # resolve_source only looks at the suffix: read the tensors to be sure it is a PixArt transformer
        tensors, hint = sources.read_checkpoint(Path(source.location))
        converted, _kv = sources.convert_official_state_dict(tensors)
        sources.infer_transformer_config(converted, hint or None, Path(source.location).name)
    return {"name": source.name, "kind": source.kind, "location": source.location}


def _spec_for(row: dict) -> str | None:
    """What settings.default_model stores for a row (None: not a model one can choose)."""
    kind = row.get("kind")
    if kind == "variant":
        return str(row["name"])
    if kind == "demo":
        return "demo"
    if kind == "local":
        return str(row.get("spec") or row.get("path"))
    return None


def _gb(value: Any) -> str:
    return f"{value:.1f} GB" if value else "—"


class ModelManagerDialog(QDialog):
    """Lists models with their download size, state and location; downloads, imports and chooses them."""

    model_chosen = Signal(str)
    models_listed = Signal(list)
    download_finished = Signal(bool, str)  # ok, message
    import_finished = Signal(bool, str)  # ok, message

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.settings = settings
        self.rows: list[dict] = []
        self.cache_dir = ""
        self.download_buttons: dict[str, QPushButton] = {}
        self.use_buttons: dict[str, QPushButton] = {}
        self._list_task: Task | None = None
        self._download_task: Task | None = None
        self._download_repo = ""
        self._import_task: Task | None = None

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 4):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)

        self.message = QLabel("Looking for installed models…", self)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar(self)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel download", self)
        self.cancel_button.hide()
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)

        self.import_folder_button = QPushButton("Import folder…", self)
        self.import_file_button = QPushButton("Import checkpoint file…", self)
        self.open_cache_button = QPushButton("Open download folder", self)
        self.close_button = QPushButton("Close", self)
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_folder_button)
        buttons.addWidget(self.import_file_button)
        buttons.addWidget(self.open_cache_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(progress_row)
        layout.addLayout(buttons)
        self.resize(900, 420)

        self.import_folder_button.clicked.connect(self.choose_folder)
        self.import_file_button.clicked.connect(self.choose_file)
        self.open_cache_button.clicked.connect(self.open_cache)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.close_button.clicked.connect(self.reject)
        self.refresh()

    # -- listing ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read which models are installed (in a pool thread)."""
        local = list(getattr(self.settings, "local_models", []) or [])
        self._list_task = run_task(
            lambda _ctx: _list_models(local),
            on_result=self._listed,
            on_error=lambda exc: self._show(f"Could not list the models: {exc}", error=True),
            owner=self,
        )

    def is_busy(self) -> bool:
        """True while listing, downloading or importing."""
        return any(t is not None and not t.done for t in (self._list_task, self._download_task, self._import_task))

    def _listed(self, result: tuple[list[dict], str]) -> None:
        rows, self.cache_dir = result
        local_specs = list(getattr(self.settings, "local_models", []) or [])
        local_rows = [r for r in rows if r.get("kind") == "local"]
        for row, spec in zip(local_rows, local_specs):
            row["spec"] = spec
        self.rows = rows
        self._populate()
        if self.message.text().startswith("Looking for"):
            self._show("")
        self.models_listed.emit(rows)

    def _populate(self) -> None:
        self.table.setRowCount(0)
        self.download_buttons.clear()
        self.use_buttons.clear()
        current = getattr(self.settings, "default_model", None)
        for row in self.rows:
            self._add_row(row, current)
        self.table.resizeRowsToContents()

    def _add_row(self, row: dict, current: str | None) -> None:
        index = self.table.rowCount()
        self.table.insertRow(index)
        kind = row.get("kind")
        spec = _spec_for(row)
        title = str(row.get("name"))
        if kind == "demo":
            title += " — works offline, low quality"
        elif kind == "base" and "needed" not in title.lower():
            title += " — needed by every released variant"
        if spec is not None and spec == current:
            title = "✓ " + title
        name_item = QTableWidgetItem(title)
        details = [str(row.get("description") or ""), str(row.get("hub_id") or "")]
        name_item.setToolTip("\n".join(d for d in details if d))
        self.table.setItem(index, 0, name_item)
        self.table.setItem(index, 1, QTableWidgetItem(_gb(row.get("download_gb")) if kind in ("variant", "base")
                                                      else "local"))
        if row.get("error"):
            state = "Unusable"
        elif kind == "local" or kind == "demo":
            state = "Ready"
        else:
            state = "Installed" if row.get("downloaded") else "Not downloaded"
        state_item = QTableWidgetItem(state)
        if row.get("error"):
            state_item.setToolTip(str(row["error"]))
        self.table.setItem(index, 2, state_item)
        where = row.get("path") or (f"will download to {self.cache_dir}" if self.cache_dir else "")
        where_item = QTableWidgetItem(str(where))
        where_item.setToolTip(str(row.get("error") or where))
        self.table.setItem(index, 3, where_item)
        self.table.setCellWidget(index, 4, self._row_buttons(row, spec, current))

    def _row_buttons(self, row: dict, spec: str | None, current: str | None) -> QWidget:
        cell = QWidget(self.table)
        layout = QHBoxLayout(cell)
        layout.setContentsMargins(2, 0, 2, 0)
        kind = row.get("kind")
        if kind in ("variant", "base") and not row.get("downloaded"):
            repo = str(row.get("hub_id"))
            button = QPushButton("Download", cell)
            button.setToolTip(f"Download {repo} ({_gb(row.get('download_gb'))}) into {self.cache_dir}")
            button.clicked.connect(lambda _checked=False, r=repo: self.start_download(r))
            button.setEnabled(self._download_task is None)
            self.download_buttons[repo] = button
            layout.addWidget(button)
        if spec is not None:
            usable = bool(row.get("downloaded")) and not row.get("error")
            button = QPushButton("In use" if spec == current else "Use this model", cell)
            button.setEnabled(usable and spec != current)
            if not usable:
                button.setToolTip("Download or repair it first")
            button.clicked.connect(lambda _checked=False, s=spec: self.use_model(s))
            self.use_buttons[spec] = button
            layout.addWidget(button)
        if row.get("path") and Path(str(row["path"])).exists():
            reveal = QPushButton("Show", cell)
            reveal.setToolTip(str(row["path"]))
            reveal.clicked.connect(lambda _checked=False, p=str(row["path"]): self._open(p))
            layout.addWidget(reveal)
        layout.addStretch(1)  # buttons keep their size instead of one filling the cell
        return cell

    def row_for(self, key: str) -> dict | None:
        """The listed row whose name, hub id, spec or path is `key`."""
        for row in self.rows:
            if key in (row.get("name"), row.get("hub_id"), row.get("spec"), row.get("path"), _spec_for(row)):
                return row
        return None

    # -- choosing -----------------------------------------------------------------------------

    def use_model(self, spec: str) -> None:
        """Make `spec` the default model, save the settings and emit model_chosen."""
        self.settings.default_model = spec
        self._save_settings()
        self._populate()
        row = self.row_for(spec)
        message = f"{row.get('name') if row else spec} is now the model used for new images."
        base = next((r for r in self.rows if r.get("kind") == "base"), None)
        if row is not None and row.get("kind") == "variant" and base is not None and not base.get("downloaded"):
            message += f" It also needs {base.get('name')}: download that too."
        self._show(message)
        self.model_chosen.emit(spec)

    def _save_settings(self) -> None:
        save = getattr(self.settings, "save", None)
        if save is None:
            return
        try:
            save()
        except OSError as exc:
            self._show(f"Could not save the settings: {exc}", error=True)

    # -- downloading --------------------------------------------------------------------------

    def start_download(self, repo: str) -> bool:
        """Download a variant or the base repo off the UI thread; False when one is already running."""
        if self._download_task is not None:
            self._show("Another download is running; wait for it or cancel it first.", error=True)
            return False
        self._download_repo = repo
        for button in self.download_buttons.values():
            button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"Preparing {repo}…")
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self._show(f"Downloading {repo}…")
        self._download_task = run_task(
            lambda ctx: _download(ctx, repo),
            on_progress=self._download_progress,
            on_result=self._download_done,
            on_error=self._download_failed,
            owner=self,
        )
        return True

    def cancel_download(self) -> None:
        """Stop the running download (finished files stay in the cache)."""
        if self._download_task is not None:
            self._download_task.cancel()
            self.cancel_button.setEnabled(False)
            self._show(f"Cancelling the download of {self._download_repo}…")

    def _download_progress(self, stage: str, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, total) / total))
            self.progress.setFormat(f"{stage}: {done / 1e9:.2f} of {total / 1e9:.2f} GB")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(stage)

    def _download_done(self, path: Path) -> None:
        repo = self._download_repo
        self._end_download()
        message = f"{repo} is downloaded to {path}."
        self._show(message)
        self.download_finished.emit(True, message)
        self.refresh()

    def _download_failed(self, exc: BaseException) -> None:
        repo = self._download_repo
        self._end_download()
        if type(exc).__name__ == "Cancelled":
            message = f"The download of {repo} was cancelled; finished files are kept for next time."
        else:
            message = f"Could not download {repo}: {exc}"
        self._show(message, error=type(exc).__name__ != "Cancelled")
        self.download_finished.emit(False, message)
        self._populate()

    def _end_download(self) -> None:
        self._download_task = None
        self.progress.hide()
        self.cancel_button.hide()
        for button in self.download_buttons.values():
            button.setEnabled(True)

    # -- importing ----------------------------------------------------------------------------

    def choose_folder(self) -> None:
        """Pick a diffusers folder (pipeline or transformer) to import."""
        folder = QFileDialog.getExistingDirectory(self, "Import a model folder")
        if folder:
            self.import_path(folder)

    def choose_file(self) -> None:
        """Pick a .safetensors/.pth transformer checkpoint to import."""
        path, _ = QFileDialog.getOpenFileName(self, "Import a checkpoint file", "", CHECKPOINT_FILTER)
        if path:
            self.import_path(path)

    def import_path(self, path: str | Path) -> bool:
        """Validate a local model off the UI thread and add it to settings.local_models when it is usable."""
        if self._import_task is not None:
            self._show("An import is already being checked; wait for it to finish.", error=True)
            return False
        spec = str(Path(path).expanduser())
        self.import_folder_button.setEnabled(False)
        self.import_file_button.setEnabled(False)
        self._show(f"Checking {spec}…")
        self._import_task = run_task(
            lambda _ctx: _validate_import(spec),
            on_result=lambda info: self._import_done(spec, info),
            on_error=lambda exc: self._import_failed(spec, exc),
            owner=self,
        )
        return True

    def _import_done(self, spec: str, info: dict) -> None:
        self._end_import()
        local = list(getattr(self.settings, "local_models", []) or [])
        if spec in local:
            message = f"{info['name']} is already in the list."
        else:
            self.settings.local_models = [*local, spec]
            self._save_settings()
            message = f"Imported {info['name']} ({info['kind'].replace('_', ' ')}) from {info['location']}."
        self._show(message)
        self.import_finished.emit(True, message)
        self.refresh()

    def _import_failed(self, spec: str, exc: BaseException) -> None:
        self._end_import()
        message = f"Cannot import {spec}: {exc}"
        self._show(message, error=True)
        self.import_finished.emit(False, message)

    def _end_import(self) -> None:
        self._import_task = None
        self.import_folder_button.setEnabled(True)
        self.import_file_button.setEnabled(True)

    # -- misc ---------------------------------------------------------------------------------

    def open_cache(self) -> None:
        """Open the folder downloads go to."""
        if self.cache_dir:
            self._open(self.cache_dir)

    def _open(self, path: str) -> None:
        target = Path(path)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(target if target.is_dir() else target.parent)))

    def _show(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #d9534f;" if error else "")

    def reject(self) -> None:
        """Close; a running download is cancelled first."""
        if self._download_task is not None:
            self.cancel_download()
        super().reject()
