"""The export dialog's "Span across my screens" group: the screens, a bezel gap in mm, the canvas size.

May import: PySide6, app.screens; never torch or model/.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QWidget

from app.screens import Screen, SpanLayout, span_layout

BEZEL_MAX_MM = 50.0


def describe_screens(screens: list[Screen]) -> str:
    """'3 screens: 2560×1440, 1920×1080 (2×), …' with each screen's native size."""
    if not screens:
        return "No screens found."
    sizes = []
    for screen in screens:
        w, h = screen.native
        sizes.append(f"{w}×{h}" + (f" ({screen.dpr:g}×)" if screen.dpr != 1 else ""))
    return f"{len(screens)} screen{'s' if len(screens) != 1 else ''}: {', '.join(sizes)}"


class SpanBox(QGroupBox):
    """A checkable group: when checked, each image is exported as one file per screen plus the span."""

    changed = Signal()

    def __init__(self, screens: list[Screen], parent: QWidget | None = None) -> None:
        super().__init__("Span across my screens", parent)
        self.setObjectName("spanScreens")
        self.setCheckable(True)
        self.setChecked(False)
        self.screens = list(screens)
        self.bezel = QDoubleSpinBox(self)
        self.bezel.setObjectName("bezelMm")
        self.bezel.setRange(0.0, BEZEL_MAX_MM)
        self.bezel.setDecimals(1)
        self.bezel.setSingleStep(0.5)
        self.bezel.setSuffix(" mm")
        self.bezel.setToolTip("The width of the frames between two screens: that much of the picture is "
                              "left out between them, so lines run straight across.")
        self.screens_label = QLabel(self)
        self.screens_label.setWordWrap(True)
        self.canvas_label = QLabel(self)
        self.canvas_label.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Screens", self.screens_label)
        form.addRow("Bezel gap", self.bezel)
        form.addRow("Canvas", self.canvas_label)
        self.toggled.connect(lambda _on: self.changed.emit())
        self.bezel.valueChanged.connect(lambda _v: self._refresh())
        self._refresh()

    def bezel_mm(self) -> float:
        """The bezel compensation in mm."""
        return float(self.bezel.value())

    def set_screens(self, screens: list[Screen]) -> None:
        """Use these screens (a test's synthetic layout, or the desktop's after a change)."""
        self.screens = list(screens)
        self._refresh()

    def canvas_layout(self) -> SpanLayout:
        """The span canvas for the screens and bezel; ValueError (with the reason) when there is none."""
        return span_layout(self.screens, self.bezel_mm())

    def _refresh(self) -> None:
        self.screens_label.setText(describe_screens(self.screens))
        try:
            layout = self.canvas_layout()
        except ValueError as exc:
            self.canvas_label.setText(f"Cannot span: {exc}")
        else:
            w, h = layout.size
            self.canvas_label.setText(f"{w}×{h} px: each image is made at this size, then cut into one PNG "
                                      "per screen at its own resolution (the whole span picture is kept too)")
        self.changed.emit()
