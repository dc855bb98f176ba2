"""File ▸ Import batch folder…: pick a batch's --out folder and add its images to the gallery (off the
UI thread), once each; the grid refreshes and the status bar says what came in.

May import: PySide6, ui.tasks, app.batch.importer (no engine); never torch or model/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from app.batch.importer import BatchImport, import_batch_folder
from ui.tasks import run_task

ACTION_TEXT = "Import batch folder…"


def add_import_batch_action(window: Any, menu: Any) -> QAction:
    """Add the action to `menu` (the File menu); the window keeps it as `import_batch_action`."""
    action = QAction(ACTION_TEXT, window)
    tip = "Add the images of a batch folder (sigma-studio batch --out DIR) to the gallery"
    action.setStatusTip(tip)
    action.setToolTip(tip)
    action.triggered.connect(lambda _checked=False: import_batch_dialog(window))
    menu.addAction(action)
    window.import_batch_action = action
    return action


def import_batch_dialog(window: Any) -> Any:
    """Ask for the folder, then import it (None when the dialog was cancelled)."""
    folder = QFileDialog.getExistingDirectory(window, "Import batch folder", str(Path.home()))
    return import_batch(window, folder) if folder else None


def import_batch(window: Any, folder: str | Path) -> Any:
    """Import off the UI thread; returns the ui.tasks Task."""
    window.show_status(f"Importing the batch folder {folder}…", 0)
    return run_task(lambda _ctx: import_batch_folder(window.gallery, folder),
                    on_result=lambda result: _imported(window, result),
                    on_error=lambda exc: window.banner.show_message(f"Import failed: {exc}", "error"),
                    owner=window)


def _imported(window: Any, result: BatchImport) -> None:
    window.gallery_panel.refresh()
    already = f" ({result.already} were in the gallery already)" if result.already else ""
    window.show_status(f"Imported {len(result.records)} image(s) from the batch{already}")
    if result.errors:
        window.banner.show_message("Some images were not imported: " + "; ".join(result.errors[:5]), "error")
