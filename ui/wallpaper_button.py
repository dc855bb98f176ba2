""""Set as wallpaper" after an export: a button and a status line; the call runs on a pool thread.

May import: PySide6, ui.tasks, app.export_wallpaper, app.wallpaper; never torch or model/.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from app.export_wallpaper import WallpaperPick, set_picked
from app.wallpaper import WallpaperError, set_wallpaper
from ui.tasks import Task, run_task


class WallpaperButton(QWidget):
    """Offers the file an export picked; setting it never blocks the window and never raises into it.

    `setter` is app.wallpaper.set_wallpaper (tests give it a fixed desktop and a `run` that records).
    """

    done = Signal(str, bool)  # the message shown, and whether it is an error

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setter: Callable[..., str] = set_wallpaper
        self.pick: WallpaperPick | None = None
        self._task: Task | None = None
        self.button = QPushButton("Set as wallpaper", self)
        self.button.setObjectName("setWallpaper")
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addWidget(self.status, 1)
        self.button.clicked.connect(self.set_now)
        self.offer(None)

    def offer(self, pick: WallpaperPick | None) -> None:
        """Show the button for this file (hide it for None)."""
        self.pick = pick
        self.status.setText("")
        self.button.setEnabled(pick is not None)
        if pick is not None:
            what = f"this span on your {len(pick.screens)} screens" if pick.spanned else pick.path.name
            self.button.setToolTip(f"Set {what} as the desktop wallpaper" + (" (tiled)" if pick.tiled else ""))
        self.setVisible(pick is not None)

    def is_busy(self) -> bool:
        """True while the desktop is being asked."""
        return self._task is not None and not self._task.done

    def set_now(self) -> bool:
        """Ask the desktop to use the picked file, off the UI thread; False when there is nothing to set."""
        if self.pick is None or self.is_busy():
            return False
        pick, setter = self.pick, self.setter
        self.button.setEnabled(False)
        self.status.setStyleSheet("")
        self.status.setText("Setting the wallpaper…")
        self._task = run_task(lambda _ctx: set_picked(pick, setter), on_result=self._succeeded,
                              on_error=self._failed, owner=self)
        return True

    def _succeeded(self, message: str) -> None:
        self._show(message, error=False)

    def _failed(self, exc: BaseException) -> None:
        reason = str(exc) if isinstance(exc, WallpaperError) else f"{type(exc).__name__}: {exc}"
        self._show(f"Could not set the wallpaper: {reason}", error=True)

    def _show(self, message: str, error: bool) -> None:
        self._task = None
        self.button.setEnabled(self.pick is not None)
        self.status.setText(message)
        self.status.setStyleSheet("color: #d9534f;" if error else "")
        self.done.emit(message, error)
