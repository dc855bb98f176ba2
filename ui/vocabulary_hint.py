"""What the loaded model understands, shown under the prompt while it carries word tables (the demo model).

A small box: the colours, patterns and placements the model can draw and a few example prompts as
buttons (a click puts the example in the prompt), so a new user's first image is a good one. Hidden
for models without tables (`show_for(None)`).

May import: PySide6. Never torch or model/.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget


class VocabularyHint(QGroupBox):
    """The model's vocabulary in brief and example prompts; `example_chosen(text)` on a click."""

    example_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("What this model understands", parent)
        self.setObjectName("vocabularyHint")
        self.words = QLabel()
        self.words.setObjectName("vocabularyWords")
        self.words.setWordWrap(True)
        self.layout_ = QVBoxLayout(self)
        self.layout_.addWidget(self.words)
        self.buttons: list[QPushButton] = []
        self.hide()

    def show_for(self, understands: dict | None) -> None:
        """Fill in and show the box for a model's `understands` summary; hide it for None."""
        for button in self.buttons:
            self.layout_.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        if not understands:
            self.hide()
            return
        colours = ", ".join(understands.get("colours", []))
        patterns = ", ".join(understands.get("patterns", []))
        places = ", ".join(understands.get("placements", []))
        nearby = ", ".join(f"{asked} → {drawn}" for asked, drawn in understands.get("drawn_as", {}).items())
        self.words.setText(
            f"<b>Colours</b> (light/dark too): {colours}<br><b>Patterns</b>: {patterns}<br>"
            f"<b>Placement</b>: {places}<br>"
            + (f"<b>Drawn as a nearby shade</b>: {nearby}<br>" if nearby else "")
            + ("<b>Not learned</b>: two shades of one colour in one picture (beige with brown)<br>"
               if understands.get("two_tone", True) is False else "")
            + "Everyday words are translated (navy, polka dots, left-hand side…). Try one:"
        )
        for text in understands.get("examples", [])[:6]:
            button = QPushButton(text)
            button.setFlat(True)
            button.setStyleSheet("text-align: left;")
            button.setToolTip("Put this example in the prompt")
            button.clicked.connect(lambda _=False, t=text: self.example_chosen.emit(t))
            self.layout_.addWidget(button)
            self.buttons.append(button)
        self.show()
