"""Crash leftovers in the gallery, checked at start-up off the UI thread: partial `*.tmp.*` files are
swept, and images without a record are offered for re-adding from their own metadata (a banner
with a "Re-add" button). bootstrap.run_studio starts it once the window shows.

May import: PySide6 (through ui.tasks), app.gallery (recovery); works on the MainWindow it is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.gallery import recovery
from ui.tasks import run_task


def _scan(gallery: Any) -> tuple[int, list[Path]]:
    """(temp files removed, images without a record); pool thread."""
    return recovery.sweep_temp_files(gallery), recovery.orphans(gallery)


def check_leftovers(window: Any) -> Any:
    """Sweep and look for orphans on a pool thread; the window says what it found. Returns the task."""
    gallery = window.gallery
    if getattr(gallery, "read_only", False):
        return None
    return run_task(lambda _ctx: _scan(gallery), on_result=lambda found: _found(window, *found),
                    on_error=lambda exc: window.show_status(f"Could not check the gallery folder: {exc}"),
                    owner=window)


def _found(window: Any, swept: int, orphans: list[Path]) -> None:
    if swept:
        window.show_status(f"Removed {swept} partial file(s) an interrupted save left in the gallery")
    if not orphans:
        return
    window.leftover_images = orphans
    window.banner.show_message(
        f"{len(orphans)} image(s) in the gallery folder have no gallery entry (an earlier session may have "
        "stopped while saving). Re-add them with the settings stored in each file?",
        "info", "Re-add", lambda: readd_leftovers(window, orphans))


def readd_leftovers(window: Any, files: list[Path]) -> Any:
    """Index the orphaned images from their metadata on a pool thread, then refresh the grid."""
    gallery = window.gallery

    def done(result: tuple[int, int]) -> None:
        added, skipped = result
        window.gallery_panel.refresh()
        unreadable = f"; {skipped} could not be read" if skipped else ""
        window.show_status(f"Re-added {added} image(s) to the gallery{unreadable}")

    return run_task(lambda _ctx: recovery.readd(gallery, files), on_result=done,
                    on_error=lambda exc: window.banner.show_message(f"Re-adding failed: {exc}", "error"),
                    owner=window)
