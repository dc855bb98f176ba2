"""Light, dark or system look: Fusion with a palette, plus a few style rules shared by the widgets.

May import: PySide6 only.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleOption, QWidget

THEMES = ("system", "light", "dark")

_SHARED_QSS = """
QLabel#tokenWarning, QLabel#bannerText { font-weight: bold; }
QPushButton#generate { font-weight: bold; padding: 6px 18px; }
"""

_system_state: dict[str, object] = {}


def _dark_palette() -> QPalette:
    """A dark Fusion palette."""
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#2b2b2b",
        QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1f1f1f",
        QPalette.ColorRole.AlternateBase: "#2b2b2b",
        QPalette.ColorRole.ToolTipBase: "#3a3a3a",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.Text: "#e6e6e6",
        QPalette.ColorRole.Button: "#353535",
        QPalette.ColorRole.ButtonText: "#e6e6e6",
        QPalette.ColorRole.BrightText: "#ff5555",
        QPalette.ColorRole.Link: "#5aa9e6",
        QPalette.ColorRole.Highlight: "#3d7bd9",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.PlaceholderText: "#8a8a8a",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return palette


class _DarkFusionStyle(QProxyStyle):
    """Fusion with check boxes and radio buttons that stay visible on a dark palette.

    Fusion outlines them in the window colour darkened, which on a dark palette is the colour of the
    box itself: unchecked boxes (as in the export dialog's size list) vanished.
    """

    OUTLINE_BASE = QColor("#a0a0a0")  # Fusion draws the outline as this colour darker(140)

    _INDICATORS = (
        QStyle.PrimitiveElement.PE_IndicatorCheckBox,
        QStyle.PrimitiveElement.PE_IndicatorItemViewItemCheck,
        QStyle.PrimitiveElement.PE_IndicatorRadioButton,
    )

    def __init__(self) -> None:
        super().__init__("Fusion")

    def drawPrimitive(self, element: QStyle.PrimitiveElement, option: QStyleOption, painter: QPainter,
                      widget: QWidget | None = None) -> None:
        """Indicators get a palette whose outline contrasts with the box; the rest is Fusion's."""
        if element in self._INDICATORS:
            option = type(option)(option)
            palette = QPalette(option.palette)
            palette.setColor(QPalette.ColorRole.Window, self.OUTLINE_BASE)
            option.palette = palette
        super().drawPrimitive(element, option, painter, widget)


def apply_theme(app: QApplication, name: str) -> str:
    """Apply 'system', 'light' or 'dark' to the whole app; returns the name applied."""
    name = name if name in THEMES else "system"
    if not _system_state:
        _system_state["style"] = app.style().name() or "Fusion"  # '' once a style sheet wraps the style
        _system_state["palette"] = QPalette(app.palette())
    if name == "system":
        app.setStyle(str(_system_state["style"]))
        app.setPalette(_system_state["palette"])  # type: ignore[arg-type]
    elif name == "dark":
        app.setStyle(_DarkFusionStyle())
        app.setPalette(_dark_palette())
    else:
        app.setStyle("Fusion")
        app.setPalette(app.style().standardPalette())
    app.setStyleSheet(_SHARED_QSS)
    return name
