"""Gallery ▸ Set as wallpaper (issue 14): enabled for exactly one image, run on a pool thread through
app.wallpaper.set_wallpaper (only its `run` is replaced, to capture the desktop's command or to inject
a failure), tiled for tileable images, and the outcome said in the status bar or a message box."""

from __future__ import annotations

import functools
import subprocess
import threading

import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu

from app.gallery import Gallery
from app.wallpaper import set_wallpaper
from ui.gallery import GalleryPanel


def _params(prompt: str, **extra) -> dict:
    return {"prompt": prompt, "negative": "", "width": 96, "height": 64, "seed": 1, "steps": 20,
            "guidance": 4.5, "model": "tiny", "kv_compress": "off", **extra}


@pytest.fixture
def gallery(tmp_path):
    g = Gallery(tmp_path / "gallery")
    g.add(Image.new("RGB", (96, 64), (200, 40, 40)), _params("a red castle"))
    g.add(Image.new("RGB", (96, 64), (40, 60, 200)), _params("terrazzo tiles", tileable="x"))
    yield g
    g.close()


@pytest.fixture
def panel(qtbot, gallery):
    widget = GalleryPanel(gallery)
    qtbot.addWidget(widget)
    widget.resize(800, 600)
    with qtbot.waitExposed(widget):
        widget.show()
    messages: list[str] = []
    widget.status_message.connect(messages.append)
    widget.messages = messages
    yield widget
    widget.shutdown()


def _row_of(panel: GalleryPanel, prompt: str) -> int:
    return next(row for row in range(panel.model.rowCount()) if panel.model.record_at(row).prompt == prompt)


class Desktop:
    """Captures the commands set_wallpaper runs and the thread they run on; `fail` injects a refusal."""

    def __init__(self, fail: str = "", hold: threading.Event | None = None) -> None:
        self.commands: list[list[str]] = []
        self.threads: set[int] = set()
        self.fail, self.hold = fail, hold

    def run(self, command, **_kw):
        self.threads.add(threading.get_ident())
        if self.hold is not None:
            self.hold.wait(10)  # a slow desktop
        self.commands.append(command)
        return subprocess.CompletedProcess(command, 1 if self.fail else 0, "", self.fail)


def _gnome(panel: GalleryPanel, desktop: Desktop) -> None:
    panel.wallpaper_call = functools.partial(set_wallpaper, desktop="gnome", run=desktop.run)


def test_set_as_wallpaper_is_offered_for_exactly_one_image(qtbot, panel):
    action = panel.wallpaper_action
    assert action.shortcut() == QKeySequence("Ctrl+Shift+W")
    panel.select_rows([])
    assert not action.isEnabled()
    panel.select_rows([0])
    assert action.isEnabled()
    panel.select_rows([0, 1])
    assert not action.isEnabled()
    panel.select_rows([1])
    panel._context_menu(panel.view.visualRect(panel.model.index(1)).center())
    menu = panel.findChild(QMenu)
    assert menu is not None and action in menu.actions() and action.isEnabled()
    menu.close()


@pytest.mark.parametrize("prompt, option", [("a red castle", "zoom"), ("terrazzo tiles", "wallpaper")])
def test_the_gnome_command_carries_the_file_and_tiles_a_tileable_image(qtbot, panel, prompt, option):
    desktop = Desktop()
    _gnome(panel, desktop)
    row = _row_of(panel, prompt)
    path = panel.model.record_at(row).path
    panel.select_rows([row])
    panel.activateWindow()
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: "Wallpaper set (GNOME)" in panel.messages, timeout=5000)
    uri = path.resolve().as_uri()
    base = ["gsettings", "set", "org.gnome.desktop.background"]
    assert desktop.commands == [base + ["picture-uri", uri], base + ["picture-uri-dark", uri],
                                base + ["picture-options", option]]
    assert threading.get_ident() not in desktop.threads  # off the UI thread
    assert panel.wallpaper_task is None and panel.wallpaper_action.isEnabled()


def test_a_refusing_desktop_is_reported_in_a_message_box(qtbot, panel):
    _gnome(panel, Desktop(fail="No such schema “org.gnome.desktop.background”\n"))
    panel.select_rows([0])
    panel.wallpaper_action.trigger()
    qtbot.waitUntil(lambda: panel.wallpaper_box is not None, timeout=5000)
    expected = "setting the wallpaper failed: gsettings: No such schema “org.gnome.desktop.background”"
    assert panel.wallpaper_box.text() == expected and panel.wallpaper_box.isVisible()
    assert panel.messages[-1] == expected
    panel.wallpaper_box.close()


def test_an_unknown_desktop_says_what_to_do_instead(qtbot, panel):
    panel.wallpaper_call = functools.partial(set_wallpaper, desktop="xfce", run=Desktop().run)
    panel.select_rows([0])
    panel.wallpaper_action.trigger()
    qtbot.waitUntil(lambda: panel.wallpaper_box is not None, timeout=5000)
    assert "'xfce' is not one Sigma Studio can set wallpapers on" in panel.wallpaper_box.text()
    assert "set the exported file as the wallpaper in your desktop's settings" in panel.wallpaper_box.text()
    panel.wallpaper_box.close()


def test_a_slow_desktop_does_not_freeze_the_window(qtbot, panel):
    hold = threading.Event()
    desktop = Desktop(hold=hold)
    _gnome(panel, desktop)
    panel.select_rows([0])
    panel.wallpaper_action.trigger()
    qtbot.waitUntil(lambda: bool(desktop.threads), timeout=5000)  # gsettings is "running"
    ticks: list[int] = []
    timer = QTimer(panel)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=5000)  # the event loop keeps turning meanwhile
    timer.stop()
    assert not panel.wallpaper_action.isEnabled() and desktop.commands == []  # one at a time
    hold.set()
    qtbot.waitUntil(lambda: "Wallpaper set (GNOME)" in panel.messages, timeout=5000)
    assert panel.wallpaper_action.isEnabled()


def test_a_missing_file_is_named(qtbot, panel):
    desktop = Desktop()
    _gnome(panel, desktop)
    panel.select_rows([0])
    path = panel.selected_records()[0].path
    path.unlink()
    panel.wallpaper_action.trigger()
    assert panel.wallpaper_box is not None and panel.wallpaper_box.text() == f"The image file is missing: {path}"
    assert desktop.commands == [] and panel.wallpaper_task is None
    panel.wallpaper_box.close()
