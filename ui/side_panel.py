"""The window's left side: prompt editor, size picker, generation settings, Generate/Cancel and presets.

A scroll area that is never narrower than its widgets need (so nothing is cut off on short screens).

May import: PySide6 and the ui/ widgets it holds.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ui.generation_settings import GenerationSettings
from ui.prompt_editor import PresetList, PromptEditor
from ui.size_picker import SizePicker
from ui.vocabulary_hint import VocabularyHint


class SidePanel(QScrollArea):
    """The left panel; the window reaches its widgets as attributes (editor, size_picker, …)."""

    def __init__(self, history: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = PromptEditor(history)
        self.size_picker = SizePicker()
        self.gen_settings = GenerationSettings()
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generate")
        self.generate_button.setToolTip("Queue this prompt (Ctrl+Enter)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.setToolTip("Stop the image being generated (Esc)")
        self.cancel_button.setEnabled(False)
        self.preset_list = PresetList()
        self.vocabulary = VocabularyHint()  # shown while a model with word tables (the demo) is loaded

        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        settings_box = QGroupBox("Settings")
        QVBoxLayout(settings_box).addWidget(self.gen_settings)
        presets_box = QGroupBox("Presets")
        presets_layout = QVBoxLayout(presets_box)
        presets_layout.addWidget(self.preset_list)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.editor, 3)
        left_layout.addWidget(self.vocabulary)
        left_layout.addWidget(self.size_picker)
        left_layout.addWidget(settings_box)
        left_layout.addLayout(buttons)
        left_layout.addWidget(presets_box, 2)
        scroll = self
        scroll.setObjectName("sidePanel")
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Never narrower than what its widgets need, with room for the vertical scroll bar on short
        # screens: with no horizontal scroll bar, anything narrower would cut the widgets off.
        scrollbar = scroll.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        scroll.setMinimumWidth(left.minimumSizeHint().width() + scrollbar + 2)
