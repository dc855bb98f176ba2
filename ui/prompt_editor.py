"""Prompt and negative prompt with a live token count, history recall, styles, and the preset list.

May import: PySide6, app.presets (styles), ui.dnd (dragging a preset out).
"""

from __future__ import annotations

import re
import tempfile
from typing import Any

from PySide6.QtCore import QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.presets import Preset, PresetError, apply_style, load_styles

TOKEN_LIMIT = 300  # T5 tokens PixArt-Sigma reads (model.configs.T5_TOKENS, kept here so ui/ needs no model)
COUNT_DELAY_MS = 150  # debounce for exact counts on the worker thread
NO_STYLE = "No style"

_PIECES = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    """A T5 sentencepiece estimate: about one token per 5 letters of a word, one per mark, plus </s>."""
    return sum(max(1, -(-len(piece) // 5)) for piece in _PIECES.findall(text)) + 1


class PromptTextEdit(QPlainTextEdit):
    """Plain-text prompt box: Ctrl+Enter submits, Up on the first line or Ctrl+H asks for the history."""

    submitted = Signal()
    history_requested = Signal()

    def __init__(self, lines: int = 6, min_lines: int = 3, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lines = lines
        self.setMinimumHeight(self._height_for(min_lines))

    def _height_for(self, lines: int) -> int:
        margins = self.contentsMargins()
        document = int(self.document().documentMargin() * 2)
        return self.fontMetrics().lineSpacing() * lines + document + margins.top() + margins.bottom() + 4

    def sizeHint(self) -> QSize:
        """A few lines high (QPlainTextEdit asks for ~12), so the side panel fits without scrolling."""
        return QSize(super().sizeHint().width(), self._height_for(self._lines))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Ctrl+Enter and Up-on-first-line are ours; everything else edits text."""
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and mods & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
            return
        if key == Qt.Key.Key_H and mods == Qt.KeyboardModifier.ControlModifier:
            self.history_requested.emit()  # when the editor's Ctrl+H shortcut did not see the key first
            return
        plain = mods in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
        if key == Qt.Key.Key_Up and plain and self.textCursor().blockNumber() == 0:
            self.history_requested.emit()
            return
        super().keyPressEvent(event)


class PromptEditor(QWidget):
    """Prompt + negative, token counter against the 300-token limit, history popup and style combo."""

    submitted = Signal()
    count_requested = Signal(str)  # the styled prompt, for an exact count with the model's tokenizer

    def __init__(self, history: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self._exact: tuple[str, int] | None = None
        self.history_menu: QMenu | None = None

        self.prompt = PromptTextEdit(lines=6, min_lines=3)
        self.prompt.setObjectName("prompt")
        self.prompt.setPlaceholderText("Describe the image… (Ctrl+Enter generates, ↑ or Ctrl+H recalls)")
        self.prompt.setTabChangesFocus(True)
        self.negative = PromptTextEdit(lines=2, min_lines=2)
        self.negative.setObjectName("negative")
        self.negative.setPlaceholderText("Negative prompt: what to avoid (optional)")
        self.negative.setTabChangesFocus(True)
        self.negative.setFixedHeight(self.negative.sizeHint().height())

        self.token_label = QLabel()
        self.token_label.setObjectName("tokenCount")
        self.token_warning = QLabel()
        self.token_warning.setObjectName("tokenWarning")
        self.token_warning.setWordWrap(True)
        self.token_warning.setStyleSheet("color: #d9534f; font-weight: bold;")
        self.token_warning.hide()

        self.history_button = QToolButton()
        self.history_button.setText("History")
        self.history_button.setToolTip("Recall a prompt used before (Ctrl+H, or ↑ in the prompt)")
        self.history_button.clicked.connect(self.show_history)

        self.style_combo = QComboBox()
        self.style_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.style_combo.setMinimumContentsLength(10)
        self.style_combo.setToolTip("A style adds its words to the prompt when you generate")
        self.style_combo.addItem(NO_STYLE, None)
        try:
            styles = load_styles()
        except PresetError:
            styles = {}
        for name, text in styles.items():
            self.style_combo.addItem(name, name)
            self.style_combo.setItemData(self.style_combo.count() - 1, text, Qt.ItemDataRole.ToolTipRole)

        title = QLabel("<b>Prompt</b>")
        top = QHBoxLayout()
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(self.style_combo)
        top.addWidget(self.history_button)
        counter = QHBoxLayout()
        counter.addStretch(1)
        counter.addWidget(self.token_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.prompt, 1)
        layout.addLayout(counter)
        layout.addWidget(self.token_warning)
        layout.addWidget(QLabel("Negative prompt"))
        layout.addWidget(self.negative)

        self._count_timer = QTimer(self, singleShot=True, interval=COUNT_DELAY_MS)
        self._count_timer.timeout.connect(lambda: self.count_requested.emit(self.final_prompt()))
        self.prompt.textChanged.connect(self._text_changed)
        self.style_combo.currentIndexChanged.connect(self._text_changed)
        self.prompt.submitted.connect(self.submitted)
        self.negative.submitted.connect(self.submitted)
        self.prompt.history_requested.connect(self.show_history)
        shortcut = QShortcut(QKeySequence("Ctrl+H"), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.show_history)
        self._update_count()

    # ------------------------------------------------------------ text

    def prompt_text(self) -> str:
        """The prompt as typed."""
        return self.prompt.toPlainText()

    def negative_text(self) -> str:
        """The negative prompt as typed."""
        return self.negative.toPlainText()

    def style(self) -> str | None:
        """The chosen style name, or None."""
        return self.style_combo.currentData()

    def set_style(self, name: str | None) -> None:
        """Choose a style by name (None or unknown: no style)."""
        index = self.style_combo.findData(name) if name else 0
        if index < 0 and name:
            index = next((i for i in range(self.style_combo.count())
                          if (self.style_combo.itemData(i) or "").lower() == name.lower()), 0)
        self.style_combo.setCurrentIndex(max(0, index))

    def final_prompt(self) -> str:
        """The prompt the model gets: the typed prompt with the style added."""
        try:
            return apply_style(self.prompt_text(), self.style())
        except PresetError:
            return self.prompt_text()

    def set_prompt(self, prompt: str, negative: str | None = None) -> None:
        """Replace the prompt (and the negative prompt when given)."""
        self.prompt.setPlainText(prompt)
        if negative is not None:
            self.negative.setPlainText(negative)
        cursor = self.prompt.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        self.prompt.setTextCursor(cursor)

    # ------------------------------------------------------------ tokens

    def token_count(self) -> tuple[int, bool]:
        """(tokens, exact): the tokenizer's count when it has answered for this text, else an estimate."""
        text = self.final_prompt()
        if self._exact is not None and self._exact[0] == text:
            return self._exact[1], True
        return estimate_tokens(text), False

    def set_exact_count(self, text: str, count: int) -> None:
        """The model's tokenizer counted `text` (ignored when the prompt changed since)."""
        self._exact = (text, count)
        self._update_count()

    @property
    def over_limit(self) -> bool:
        """True when the prompt is longer than the model reads."""
        return self.token_count()[0] > TOKEN_LIMIT

    def _text_changed(self, *_args: Any) -> None:
        self._update_count()
        self._count_timer.start()

    def _update_count(self) -> None:
        count, exact = self.token_count()
        prefix = "" if exact else "≈"
        self.token_label.setText(f"{prefix}{count} / {TOKEN_LIMIT} tokens")
        self.token_label.setToolTip("Counted with the model's tokenizer" if exact else
                                    "Estimated; the exact count appears once the model is loaded")
        over = count > TOKEN_LIMIT
        self.token_label.setStyleSheet("color: #d9534f; font-weight: bold;" if over else "")
        if over:
            self.token_warning.setText(
                f"The prompt is {prefix}{count} tokens: the model reads only the first {TOKEN_LIMIT}, "
                "the rest is ignored. Shorten it or move details into a style."
            )
        self.token_warning.setVisible(over)

    # ------------------------------------------------------------ history

    def remember(self) -> None:
        """Put the current prompt at the top of the history."""
        if self.history is not None and self.prompt_text().strip():
            self.history.add(self.prompt_text(), self.negative_text())

    def history_entries(self) -> list[Any]:
        """History entries, most recent first."""
        return list(self.history.items()) if self.history is not None else []

    def recall(self, index: int) -> None:
        """Put history entry `index` (0 = most recent) into the prompt boxes."""
        entries = self.history_entries()
        if 0 <= index < len(entries):
            entry = entries[index]
            self.set_prompt(entry.prompt, entry.negative)

    def show_history(self) -> QMenu:
        """Pop up the recent prompts under the prompt box (non-blocking); picking one recalls it."""
        menu = QMenu(self)
        menu.setObjectName("historyMenu")
        entries = self.history_entries()[:20]
        if not entries:
            action = menu.addAction("No prompts yet: generate once and they appear here")
            action.setEnabled(False)
        for index, entry in enumerate(entries):
            text = " ".join(entry.prompt.split())
            action = menu.addAction(text if len(text) <= 80 else text[:79] + "…")
            action.setToolTip(entry.prompt + (f"\nNegative: {entry.negative}" if entry.negative else ""))
            action.triggered.connect(lambda _=False, i=index: self.recall(i))
        self.history_menu = menu
        menu.popup(self.prompt.mapToGlobal(QPoint(0, self.prompt.height() // 3)))
        return menu


class PresetList(QListWidget):
    """Default and imported presets; double click applies one, dragging one out writes a preset file."""

    preset_activated = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("presetList")
        self.setToolTip("Double-click to apply; drag out to save as a .preset.json file; drop preset files here")
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.itemDoubleClicked.connect(lambda item: self.preset_activated.emit(item.data(Qt.ItemDataRole.UserRole)))
        self._drag_dir: tempfile.TemporaryDirectory[str] | None = None  # made on the first drag, removed with the list
        self.setMinimumHeight(self._rows_height(3))

    def _rows_height(self, rows: int) -> int:
        return self.fontMetrics().height() * rows + 2 * self.frameWidth() + 6

    def sizeHint(self) -> QSize:
        """About six presets high; the panel gives it more room when there is some."""
        return QSize(super().sizeHint().width(), self._rows_height(6))

    def set_presets(self, presets: list[Preset]) -> None:
        """Show these presets (replacing the list)."""
        self.clear()
        for preset in presets:
            self.add_preset(preset)

    def add_preset(self, preset: Preset, select: bool = False) -> QListWidgetItem:
        """Add one preset (a preset of the same name is replaced)."""
        for row in range(self.count()):
            item = self.item(row)
            if item.data(Qt.ItemDataRole.UserRole).name == preset.name:
                self.takeItem(row)
                break
        item = QListWidgetItem(preset.name)
        item.setData(Qt.ItemDataRole.UserRole, preset)
        item.setToolTip(f"{preset.prompt}\nSize: {preset.size} · Steps: {preset.steps} · "
                        f"Guidance: {preset.guidance:g}" + (f" · Style: {preset.style}" if preset.style else ""))
        self.addItem(item)
        if select:
            self.setCurrentItem(item)
        return item

    def presets(self) -> list[Preset]:
        """The presets in list order."""
        return [self.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.count())]

    def find(self, name: str) -> Preset | None:
        """The preset with this name."""
        return next((p for p in self.presets() if p.name == name), None)

    def mimeData(self, items: list[QListWidgetItem]) -> Any:
        """Drag out: a NAME.preset.json file plus the JSON as text (ui.dnd.preset_mime)."""
        from ui.dnd import preset_mime

        if not items:
            return super().mimeData(items)
        if self._drag_dir is None:
            self._drag_dir = tempfile.TemporaryDirectory(prefix="sigma-presets-")
            self.destroyed.connect(self._drag_dir.cleanup)
        return preset_mime(items[0].data(Qt.ItemDataRole.UserRole), self._drag_dir.name)
