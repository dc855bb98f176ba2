"""The inline banner above the image: what happened and, when there is one, the action to take.

May import: PySide6 widgets only.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

BANNER_COLOURS = {"error": ("#f8d7da", "#58151c"), "info": ("#d1ecf1", "#0c5460")}  # readable in any theme


class Banner(QFrame):
    """An inline message above the image: what happened and, when there is one, the action to take."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.text = QLabel()
        self.text.setObjectName("bannerText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action_button = QPushButton()
        self.action_button.hide()
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.action_button)
        layout.addWidget(close)
        self._slot: Any = None
        self.action_button.clicked.connect(self._act)
        self.hide()

    def show_message(self, text: str, kind: str = "error", action: str = "", slot: Any = None) -> None:
        """Show text ('error' or 'info') with an optional action button."""
        background, foreground = BANNER_COLOURS.get(kind, BANNER_COLOURS["info"])
        self.setProperty("kind", kind)
        self.setStyleSheet(
            f"QFrame#banner {{ background: {background}; border-radius: 4px; }} "
            f"QFrame#banner QLabel, QFrame#banner QToolButton {{ color: {foreground}; }}"
        )
        self.text.setText(text)
        self._slot = slot
        self.action_button.setText(action)
        self.action_button.setVisible(bool(action and slot))
        self.show()

    def _act(self) -> None:
        if self._slot is not None:
            self._slot()
        self.hide()
