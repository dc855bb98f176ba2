"""Light, dark or system look: Fusion with a palette, plus a few style rules shared by the widgets."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

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


def apply_theme(app: QApplication, name: str) -> str:
    """Apply 'system', 'light' or 'dark' to the whole app; returns the name applied."""
    name = name if name in THEMES else "system"
    if not _system_state:
        _system_state["style"] = app.style().name() or "Fusion"  # '' once a style sheet wraps the style
        _system_state["palette"] = QPalette(app.palette())
    if name == "system":
        app.setStyle(str(_system_state["style"]))
        app.setPalette(_system_state["palette"])  # type: ignore[arg-type]
    else:
        app.setStyle("Fusion")
        app.setPalette(_dark_palette() if name == "dark" else app.style().standardPalette())
    app.setStyleSheet(_SHARED_QSS)
    return name
