"""The studio window: real widgets, a real gallery, the fake engine (tests/fake_engine.py) on the engine
thread, built by the composition root (app.bootstrap.build_window) as the studio builds it.

The tests shared with tests/integration/test_studio.py (the tiny real model) are written once in
tests/studio_harness.py and collected here too."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QPalette
from PySide6.QtWidgets import QApplication

from app.gallery import Gallery
from app.jobs import JobState
from app.settings import PromptHistory, Settings
from tests.fake_engine import FAKE_MODEL, FakeEngine
from tests.studio_harness import (  # noqa: F401  (the shared tests are collected here, on the fake engine)
    LONG_STEPS,
    StudioEngine,
    load_model,
    make_window,
    prepare,
    test_an_engine_error_fails_the_job_with_a_message_and_the_next_job_runs,
    test_bad_model_path_shows_a_message_and_the_window_stays_responsive,
    test_cancel_mid_generation_leaves_the_engine_usable,
    test_closing_mid_generation_stops_the_worker_cleanly,
    test_ctrl_enter_generates_shows_progress_and_keeps_the_image_after_restart,
    test_images_the_model_cannot_make_directly_are_fitted_to_the_exact_target,
    test_the_ui_thread_keeps_running_during_a_generation,
    test_token_counter_warns_past_the_limit,
    wait_finished,
    wait_first_step,
    window,
)
from ui.main_window import MainWindow
from ui.size_picker import CUSTOM

ROOT = Path(__file__).resolve().parents[2]
LOAD_TIMEOUT_MS = 10_000
JOB_TIMEOUT_MS = 30_000
STEP_S = 0.01  # the fake engine's time per step: a LONG_STEPS job runs for about two seconds
FAKE = StudioEngine(functools.partial(FakeEngine, step_s=STEP_S), FAKE_MODEL, LOAD_TIMEOUT_MS, JOB_TIMEOUT_MS)


@pytest.fixture
def studio() -> StudioEngine:
    """The engine tests/studio_harness.py's shared tests run on in this module: the fake one."""
    return FAKE


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Generate, see progress, find it in the gallery, and again after a restart
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Cancel, queue, reorder
# ---------------------------------------------------------------------------------------------


def test_escape_cancels_the_running_job(qtbot, window):
    prepare(qtbot, window, "cancel me with escape", steps=LONG_STEPS)
    job = window.generate()
    wait_first_step(qtbot, window, job)
    window.activateWindow()
    window.editor.prompt.setFocus()
    qtbot.keyClick(window.editor.prompt, Qt.Key.Key_Escape)
    wait_finished(qtbot, job)
    assert job.state is JobState.cancelled


def test_three_queued_jobs_one_cancelled_the_other_two_complete(qtbot, window):
    started: list[str] = []
    window.queue.job_started.connect(lambda job: started.append(job.id))
    jobs = []
    for i, steps in enumerate((LONG_STEPS // 4, 2, 2)):
        prepare(qtbot, window, f"queued job {i}", steps=steps)
        jobs.append(window.generate())
    assert jobs[0].state is JobState.running
    assert [j.state for j in jobs[1:]] == [JobState.queued, JobState.queued]

    row = window.queue_view.row_for(jobs[1].id)
    qtbot.mouseClick(row.cancel, Qt.MouseButton.LeftButton)
    assert jobs[1].state is JobState.cancelled  # a queued job is cancelled at once
    wait_finished(qtbot, *jobs)

    assert [j.state for j in jobs] == [JobState.done, JobState.cancelled, JobState.done]
    assert started == [jobs[0].id, jobs[2].id]  # the cancelled one never ran
    assert window.gallery.count() == 2
    assert window.queue_view.row_for(jobs[1].id).state.text() == "Cancelled"


def test_reordering_the_queue_changes_the_run_order(qtbot):
    win = make_window(qtbot, FAKE)  # no model yet: jobs wait, so the order can be changed
    jobs = []
    for name in ("first", "second", "third"):
        prepare(qtbot, win, name)
        jobs.append(win.generate())
    assert "once the model is loaded" in win.statusBar().currentMessage()
    assert all(job.state is JobState.queued for job in jobs)

    qtbot.mouseClick(win.queue_view.row_for(jobs[2].id).up, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(win.queue_view.row_for(jobs[0].id).down, Qt.MouseButton.LeftButton)
    expected = [jobs[2].id, jobs[0].id, jobs[1].id]  # third up: 1 3 2, then first down: 3 1 2
    assert [job.id for job in win.queue] == expected
    assert [row.job.id for row in win.queue_view.rows()] == expected

    started: list[str] = []
    win.queue.job_started.connect(lambda job: started.append(job.id))
    load_model(qtbot, win, FAKE)
    wait_finished(qtbot, *jobs)
    assert started == expected
    assert all(job.state is JobState.done for job in jobs)
    win.close()


# ---------------------------------------------------------------------------------------------
# Prompt editor
# ---------------------------------------------------------------------------------------------


def test_estimate_warns_before_any_model_is_loaded(qtbot):
    win = make_window(qtbot, FAKE)
    win.editor.set_prompt(" ".join(["mountain"] * 320))
    assert win.editor.token_label.text().startswith("≈")
    assert win.editor.token_warning.isVisible()
    win.editor.set_prompt("short")
    assert not win.editor.token_warning.isVisible()


def test_up_arrow_and_style_and_preset_double_click(qtbot):
    history = PromptHistory()
    history.add("an old prompt", "ugly")
    win = make_window(qtbot, FAKE, history=history)
    win.editor.prompt.setFocus()
    qtbot.keyClick(win.editor.prompt, Qt.Key.Key_Up)
    menu = win.editor.history_menu
    assert menu is not None and menu.actions()[0].text() == "an old prompt"
    menu.actions()[0].trigger()
    menu.close()
    assert win.editor.prompt_text() == "an old prompt" and win.editor.negative_text() == "ugly"
    win.editor.history_menu = None
    win.activateWindow()
    win.editor.prompt.setFocus()
    qtbot.keyClick(win.editor.prompt, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    assert win.editor.history_menu is not None  # Ctrl+H opens it too
    win.editor.history_menu.close()

    win.editor.set_style("Cinematic")
    assert win.editor.final_prompt().startswith("an old prompt, cinematic")

    item = win.preset_list.findItems("Neon city", Qt.MatchFlag.MatchExactly)[0]
    win.preset_list.scrollToItem(item)
    rect = win.preset_list.visualItemRect(item)
    # Qt 6's QTest double click needs the first click before it (the view tracks the pressed item)
    qtbot.mouseClick(win.preset_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(win.preset_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert "rain-soaked city" in win.editor.prompt_text()
    assert win.size_picker.size() == (3840, 2160)
    assert win.editor.style() == "Cinematic"

    from app.presets import load_presets

    dragged = win.preset_list.mimeData([item])  # dragging a preset out writes NAME.preset.json
    (url,) = dragged.urls()
    assert url.toLocalFile().endswith(".preset.json")
    assert load_presets(url.toLocalFile())[0].name == "Neon city"
    win.close()


def test_size_picker_says_what_the_model_makes(qtbot):
    win = make_window(qtbot, FAKE)
    picker = win.size_picker
    assert picker.select_preset("a3-portrait")
    assert picker.size() == (3508, 4961)
    text = picker.plan_label.text()
    assert "Made at" in text and "300 DPI" in text
    picker.lock.setChecked(True)
    picker.width_spin.setValue(1920)
    assert picker.size() == (1920, round(1920 * 4961 / 3508))
    assert picker.combo.currentData() == CUSTOM
    win.close()


def test_size_combo_names_the_preset_the_sides_match(qtbot):
    win = make_window(qtbot, FAKE)
    picker = win.size_picker
    assert picker.combo.currentData() == "4k-uhd" and picker.size() == (3840, 2160)  # the default
    assert picker.combo.currentText().startswith("4K UHD")  # no indent in the closed combo
    picker.combo.setCurrentIndex(picker.combo.findData(CUSTOM, Qt.ItemDataRole.UserRole))
    picker.width_spin.setValue(2560)
    picker.height_spin.setValue(1440)
    assert picker.combo.currentData() == "1440p"  # typed sides that are a preset show that preset
    picker.width_spin.setValue(2576)
    assert picker.combo.currentData() == CUSTOM
    picker.set_size(3840, 2160)
    assert picker.combo.currentData() == "4k-uhd"
    win.close()


def test_side_panel_fits_without_horizontal_clipping(qtbot):
    win = make_window(qtbot, FAKE)
    win.resize(1280, 800)
    qtbot.wait(50)
    panel = win.side_panel
    assert panel.viewport().width() >= panel.widget().minimumSizeHint().width()
    win.splitter.setSizes([0, 2000, 300])  # dragged as narrow as it goes: still whole, never collapsed
    qtbot.wait(50)
    assert panel.width() >= panel.minimumWidth() > 0
    assert panel.viewport().width() >= panel.widget().minimumSizeHint().width()
    settings = win.gen_settings
    assert settings.seed.text() == "random"  # not a seed that will not be used
    settings.seed_lock.setChecked(True)
    assert settings.seed.text().isdigit()
    win.close()


# ---------------------------------------------------------------------------------------------
# Responsiveness, closing, errors
# ---------------------------------------------------------------------------------------------


def test_a_4k_result_is_shown_and_zooms(qtbot):
    """How long showing it takes is benchmarks/ui_stall.py's figure."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QImage, QWheelEvent

    win = make_window(qtbot, FAKE)
    image = QImage(3840, 2160, QImage.Format.Format_RGB32)  # what the worker hands over
    image.fill(Qt.GlobalColor.darkCyan)
    win.live_view.show_image(image)
    win.live_view.view.viewport().repaint()
    view = win.live_view.view
    assert view.image_size == (3840, 2160) and view.zoom() < 1  # fitted
    fitted = view.zoom()
    center = view.viewport().rect().center()
    wheel = QWheelEvent(QPointF(center), QPointF(view.viewport().mapToGlobal(center)), QPoint(0, 0),
                        QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), wheel)
    assert view.zoom() > fitted * 1.2
    qtbot.mouseClick(win.live_view.fit_button, Qt.MouseButton.LeftButton)
    assert abs(view.zoom() - fitted) < 1e-6
    qtbot.mouseClick(win.live_view.actual_button, Qt.MouseButton.LeftButton)
    assert view.zoom() == 1.0
    win.close()


# ---------------------------------------------------------------------------------------------
# Drag and drop, settings, status bar
# ---------------------------------------------------------------------------------------------

def _drop(window: MainWindow, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def test_dropping_presets_images_and_junk(qtbot, tmp_path):
    from PIL import Image

    from app import paths
    from app.gallery import Gallery as _Gallery

    win = make_window(qtbot, FAKE)
    preset = {"format": "sigma-studio-preset", "version": 1, "name": "Dropped dunes",
              "prompt": "golden dunes under a violet sky", "size": "1080p", "steps": 12, "guidance": 3.0}
    preset_file = tmp_path / "dunes.preset.json"
    preset_file.write_text(json.dumps(preset), encoding="utf-8")
    _drop(win, [preset_file])
    assert win.editor.prompt_text() == preset["prompt"]
    assert win.size_picker.size() == (1920, 1080) and win.gen_settings.steps.value() == 12
    assert win.preset_list.find("Dropped dunes") is not None
    assert list(paths.user_presets_dir().glob("*.preset.json"))  # kept for the next start

    gallery = _Gallery(tmp_path / "other")
    record = gallery.add(Image.new("RGB", (320, 288), "navy"), {
        "prompt": "a restored prompt", "negative": "fog", "width": 320, "height": 288, "seed": 1234,
        "steps": 7, "guidance": 6.5, "model": "tiny", "kv_compress": "off"})
    _drop(win, [record.path])
    assert win.editor.prompt_text() == "a restored prompt" and win.editor.negative_text() == "fog"
    assert win.size_picker.size() == (320, 288)
    assert win.gen_settings.values()["seed"] == 1234 and win.gen_settings.steps.value() == 7

    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    _drop(win, [junk])
    assert win.editor.prompt_text() == "a restored prompt"  # nothing changed
    assert win.banner.isVisible() and "Nothing was changed" in win.banner.text.text()
    gallery.close()
    win.close()


def test_settings_dialog_saves_and_applies(qtbot, tmp_path):
    win = make_window(qtbot, FAKE)
    dialog = win.open_settings()
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.output.setText(str(tmp_path / "out"))
    dialog.accept()
    saved = Settings.load()
    assert saved.theme == "dark" and saved.output_dir == str(tmp_path / "out")
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).lightness() < 100  # dark now
    from ui.theme import apply_theme

    apply_theme(QApplication.instance(), "system")
    win.close()


def test_status_bar_points_to_the_model_manager_for_the_demo_model(qtbot):
    win = make_window(qtbot, FAKE)
    win.on_model_loaded({"name": "demo", "is_demo": True, "device": "cpu", "dtype": "float32",
                       "memory_mode": "cpu", "source": "resources/demo_model"})
    assert "Demo model" in win.model_label.text() and "Model manager" in win.model_label.text()
    assert "cpu" in win.device_label.text()
    menus = [a.text().replace("&", "") for a in win.menuBar().actions()]
    assert {"File", "Models", "Help"} <= set(menus)
    assert win.export_action.shortcut().toString() == "Ctrl+E"
    assert win.settings_action.shortcut().toString() == "Ctrl+,"
    assert win.quit_action.shortcut().toString() == "Ctrl+Q"
    win.export_action.trigger()  # nothing selected: a hint, no dialog, no crash
    assert "Select images" in win.statusBar().currentMessage()
    win.close()


def test_a_model_with_its_own_defaults_sets_them_when_it_loads(qtbot):
    win = make_window(qtbot, FAKE)
    win.gen_settings.set_values(guidance=4.5, steps=20)
    win.on_model_loaded({"name": "demo", "is_demo": True, "device": "cpu", "dtype": "float32",
                       "memory_mode": "cpu", "source": "resources/demo_model", "defaults": {"guidance": 1.5}})
    assert win.gen_settings.guidance.value() == 1.5 and win.gen_settings.steps.value() == 20
    assert "guidance 1.5" in win.statusBar().currentMessage()
    win.on_model_loaded({"name": "other", "is_demo": False, "device": "cpu", "dtype": "float32",
                       "memory_mode": "cpu", "source": "x", "defaults": {}})
    assert win.gen_settings.guidance.value() == 1.5  # no defaults: the user's value stays
    win.close()


# ---------------------------------------------------------------------------------------------
# Startup time and layering
# ---------------------------------------------------------------------------------------------

def test_the_window_shows_before_torch_is_imported(tmp_path):
    """`sigma-studio` shows its window before torch loads (how fast: benchmarks/window_visible.py)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SIGMA_STUDIO_HOME=str(tmp_path / "home"))
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--timing", "--quit-after-visible"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("window visible"))
    assert "loaded before it: none" in line


# ---------------------------------------------------------------------------------------------
# sigma-studio FILE, File ▸ Import images…, the trash purged on quit
# ---------------------------------------------------------------------------------------------

def test_opening_a_preset_file_loads_it(qtbot, tmp_path):
    win = make_window(qtbot, FAKE)
    preset = {"format": "sigma-studio-preset", "version": 1, "name": "Opened dunes",
              "prompt": "opened from the command line", "size": "1080p", "steps": 9}
    path = tmp_path / "dunes.preset.json"
    path.write_text(json.dumps(preset), encoding="utf-8")
    win.open_file(path)
    assert win.editor.prompt_text() == "opened from the command line"
    assert win.size_picker.size() == (1920, 1080) and win.gen_settings.steps.value() == 9
    assert win.preset_list.find("Opened dunes") is not None
    win.close()


def test_opening_an_image_restores_its_settings(qtbot, tmp_path):
    from PIL import Image

    from app.metadata import build_params, save_image

    path = tmp_path / "poster.webp"
    params = build_params(prompt="restored from a webp", negative="", width=320, height=288, steps=11,
                          guidance=3.5, seed=77, model="fake", kv_compress="off")
    save_image(Image.new("RGB", (320, 288), "teal"), path, params, fmt="webp")
    win = make_window(qtbot, FAKE)
    win.open_file(str(path))
    assert win.editor.prompt_text() == "restored from a webp"
    assert win.size_picker.size() == (320, 288) and win.gen_settings.values()["seed"] == 77
    win.close()


@pytest.mark.parametrize("name, content, expected", [
    ("missing.preset.json", None, "no such file"),
    ("broken.preset.json", "{not json", "broken.preset.json"),
    ("plain.png", "png", "No settings found in plain.png"),
    ("notes.txt", "hello", "not a preset"),
])
def test_opening_a_bad_file_says_why_in_the_window(qtbot, tmp_path, name, content, expected):
    from PIL import Image

    path = tmp_path / name
    if content == "png":
        Image.new("RGB", (64, 64), "red").save(path)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    win = make_window(qtbot, FAKE)
    before = win.editor.prompt_text()
    win.open_file(path)
    assert win.banner.isVisible() and expected in win.banner.text.text()
    assert win.editor.prompt_text() == before
    win.close()


def test_import_images_adds_them_to_the_gallery_grid(qtbot, tmp_path):
    from PIL import Image

    from app.metadata import build_params, save_image

    files = []
    for i in range(2):
        path = tmp_path / f"import{i}.png"
        save_image(Image.new("RGB", (96, 64), (i * 90, 20, 20)), path,
                   build_params(prompt=f"imported image {i}", negative="", width=96, height=64, steps=2, guidance=4.5,
                                seed=i, model="fake", kv_compress="off"), fmt="png")
        files.append(path)
    junk = tmp_path / "junk.jpg"
    junk.write_text("nope")
    win = make_window(qtbot, FAKE)
    action = next(a for a in win.menuBar().actions()[0].menu().actions() if a.text() == "Import images…")
    assert action is win.import_images_action
    task = win.import_images([*files, junk])
    qtbot.waitUntil(lambda: task.done, timeout=10_000)
    assert win.gallery_panel.model.rowCount() == 2
    assert sorted(r.prompt for r in win.gallery.query()) == ["imported image 0", "imported image 1"]
    assert "Imported 2 image(s)" in win.statusBar().currentMessage()
    assert win.banner.isVisible() and "junk.jpg" in win.banner.text.text()
    win.close()


def test_quitting_the_studio_purges_the_trash_once_undo_has_passed(tmp_path, monkeypatch):
    from PIL import Image

    from app.gallery import UNDO_WINDOW
    from tests.unit.test_gallery import delete_made_ago

    gallery = Gallery()  # the isolated home's, which the studio below opens too
    old, recent = (gallery.add(Image.new("RGB", (64, 64), c), {"prompt": c}) for c in ("red", "blue"))
    delete_made_ago(monkeypatch, gallery, [old.id], UNDO_WINDOW * 2)
    recent_token = gallery.delete([recent.id])
    gallery.close()

    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--quit-after-visible"], env=dict(os.environ),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr

    reopened = Gallery()
    trashed = [p for p in reopened.trash_dir.rglob("*") if p.is_file()]
    assert [p.name for p in trashed] == [recent.path.name]  # the old delete is gone for good
    assert reopened.undo_delete(recent_token) == [recent.id]
    reopened.close()


def test_a_long_status_message_is_whole_in_the_status_bars_tooltip(qtbot):
    win = make_window(qtbot, FAKE)
    notes = "Saved 1 image to the gallery (Demo model read the prompt as: a dark brown wallpaper; " + "x" * 300 + ")"
    win.show_status(notes)
    assert win.statusBar().currentMessage() == notes and win.statusBar().toolTip() == notes
    win.statusBar().clearMessage()  # the message goes (its timeout, or another one): so does its tooltip
    assert win.statusBar().toolTip() == ""
    win.show_status("Ready again")
    assert win.statusBar().toolTip() == "Ready again"
    win.close()
