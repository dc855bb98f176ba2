"""The model part of the status bar: which model is loaded (a link to the model manager) and where it runs.

May import: PySide6 widgets only.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QStatusBar

DEMO_HINT = "open Models ▸ Model manager… for full quality"
MODE_NAMES = {"gpu": "all on GPU", "offload": "text encoder offloaded", "sequential": "sequential offload"}


class ModelStatus:
    """The model label, a separator and the device label, added to a status bar as permanent widgets."""

    def __init__(self, status: QStatusBar, open_model_manager: Callable[[], object]) -> None:
        self.model_label = QLabel("Model: starting…")
        self.model_label.setObjectName("modelLabel")
        self.model_label.setTextFormat(Qt.TextFormat.RichText)
        self.model_label.linkActivated.connect(lambda _link: open_model_manager())
        self.device_label = QLabel("")
        self.device_label.setObjectName("deviceLabel")
        self.model_label.setContentsMargins(0, 0, 6, 0)
        self.device_label.setContentsMargins(6, 0, 4, 0)
        self.device_separator = QFrame()
        self.device_separator.setFrameShape(QFrame.Shape.VLine)
        self.device_separator.setFrameShadow(QFrame.Shadow.Sunken)
        self.device_separator.hide()  # shown with the device, once a model is loaded
        status.addPermanentWidget(self.model_label)
        status.addPermanentWidget(self.device_separator)
        status.addPermanentWidget(self.device_label)

    def show_loading(self, message: str) -> None:
        """'Model: Loading …' while a model loads."""
        self.model_label.setText(f"Model: {message}")

    def show_loaded(self, info: dict) -> None:
        """The loaded model's name (the demo with a hint to the model manager) and its device."""
        name = info.get("name") or info.get("source") or "model"
        if info.get("is_demo"):
            self.model_label.setText(f'Model: <b>Demo model</b> — <a href="models">{DEMO_HINT}</a>')
            self.model_label.setToolTip("The small embedded demo model: fast, but far below PixArt-Sigma's quality")
        else:
            self.model_label.setText(f"Model: <b>{html.escape(str(name))}</b>")
            self.model_label.setToolTip(str(info.get("source", "")))
        self.device_label.setText(device_text(info))
        self.device_separator.setVisible(bool(self.device_label.text()))
        self.device_label.setToolTip(str(info.get("plan", "")))

    def show_failed(self) -> None:
        """No model: a link to the model manager."""
        self.model_label.setText('Model: <b>not loaded</b> — <a href="models">open the model manager</a>')


def device_text(info: dict) -> str:
    """'cuda · bfloat16 · text encoder offloaded' for the status bar (no word twice)."""
    device = str(info.get("device") or "")
    mode = str(info.get("memory_mode") or "")
    parts = [device, str(info.get("dtype") or "")]
    if mode and mode not in (device, "cpu"):
        parts.append(MODE_NAMES.get(mode, mode))
    return " · ".join(p for p in parts if p)
