"""Settings: device, memory mode, default model, output folder and theme, saved through app.settings;
the prompt-embedding cache's size on disk, with a button that clears it.

May import: PySide6, app.settings, app.paths, app.model_service (the prompt cache), ui.generation_settings.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import paths
from app.model_service import clear_prompt_cache, prompt_cache_usage
from app.settings import DEVICE_CHOICES, MEMORY_CHOICES, THEME_CHOICES
from ui.generation_settings import MEMORY_LABELS

DEVICE_LABELS = {"auto": "Auto (GPU when available)", "cpu": "CPU", "cuda": "NVIDIA GPU (CUDA)", "mps": "Apple GPU (MPS)"}
THEME_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}


def _combo(name: str, choices: tuple[str, ...], labels: dict[str, str], current: str) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    for choice in choices:
        combo.addItem(labels.get(choice, choice), choice)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size < 1e9 else f"{size / 1e9:,.2f} GB"


class SettingsDialog(QDialog):
    """Edits a Settings object; OK saves it and emits settings_saved with what changed."""

    settings_saved = Signal(dict)  # field name -> new value, only the changed ones
    model_manager_requested = Signal()

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.device = _combo("device", DEVICE_CHOICES, DEVICE_LABELS, settings.device)
        self.memory = _combo("memoryMode", MEMORY_CHOICES, MEMORY_LABELS, settings.memory_mode)
        self.theme = _combo("theme", THEME_CHOICES, THEME_LABELS, settings.theme)
        self.model = QLineEdit(settings.default_model or "")
        self.model.setObjectName("defaultModel")
        self.model.setPlaceholderText("Empty: the embedded demo model")
        self.model.setToolTip("A hub id (PixArt-alpha/PixArt-Sigma-XL-2-1024-MS), a diffusers folder, or a .pth/.safetensors file")
        models_button = QPushButton("Model manager…")
        models_button.clicked.connect(self._open_model_manager)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(models_button)
        self.output = QLineEdit(settings.output_dir)
        self.output.setObjectName("outputDir")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_output)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output, 1)
        output_row.addWidget(browse)
        self.cache_label = QLabel()
        self.cache_label.setObjectName("promptCacheSize")
        self.clear_cache_button = QPushButton("Clear")
        self.clear_cache_button.setToolTip("Delete the cached prompt embeddings (they are made again when needed)")
        self.clear_cache_button.clicked.connect(self.clear_prompt_cache)
        cache_row = QHBoxLayout()
        cache_row.addWidget(self.cache_label, 1)
        cache_row.addWidget(self.clear_cache_button)
        self.show_prompt_cache()

        form = QFormLayout()
        form.addRow("Device", self.device)
        form.addRow("Memory mode", self.memory)
        form.addRow("Default model", model_row)
        form.addRow("Output folder", output_row)
        form.addRow("Theme", self.theme)
        form.addRow("Prompt cache", cache_row)
        note = QLabel("Device and memory changes apply when the model is next loaded (done for you on OK).")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)  # room for a model id and an output path without scrolling them

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output.text())
        if folder:
            self.output.setText(folder)

    def show_prompt_cache(self) -> None:
        """Show how much the prompt-embedding cache takes on disk, and its cap."""
        try:
            files, size, cap = prompt_cache_usage(paths.embedding_cache_dir())
        except OSError as exc:
            self.cache_label.setText(f"Cannot read the cache folder: {exc.strerror or exc}")
            return
        self.cache_label.setText(f"{_megabytes(size)} in {files} file(s); at most {_megabytes(cap)}, "
                                 "the least recently used go first")
        self.clear_cache_button.setEnabled(files > 0)

    def clear_prompt_cache(self) -> None:
        """Delete the cached prompt embeddings and show the new size."""
        try:
            clear_prompt_cache(paths.embedding_cache_dir())
        except OSError as exc:
            QMessageBox.warning(self, "Cache not cleared", f"Could not clear the prompt cache: {exc}")
        self.show_prompt_cache()

    def _open_model_manager(self) -> None:
        self.model_manager_requested.emit()

    def values(self) -> dict[str, Any]:
        """What the form holds, as Settings field values."""
        return {
            "device": self.device.currentData(),
            "memory_mode": self.memory.currentData(),
            "default_model": self.model.text().strip() or None,
            "output_dir": self.output.text().strip() or self.settings.output_dir,
            "theme": self.theme.currentData(),
        }

    def accept(self) -> None:
        """Write the changed values into the settings, save them, and report the change."""
        changed = {k: v for k, v in self.values().items() if getattr(self.settings, k) != v}
        for key, value in changed.items():
            setattr(self.settings, key, value)
        try:
            self.settings.save()
        except OSError as exc:
            QMessageBox.warning(self, "Settings not saved",
                                f"Could not write the settings file: {exc}. Check the folder's permissions.")
            return
        super().accept()
        self.settings_saved.emit(changed)
