"""The studio window end to end: real widgets, a real gallery, the tiny model on the engine thread."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent, QPalette
from PySide6.QtWidgets import QApplication

from app.gallery import Gallery
from app.jobs import JobRequest, JobState
from app.settings import PromptHistory, Settings
from app.sizes import plan_size
from ui.main_window import MainWindow
from ui.prompt_editor import TOKEN_LIMIT
from ui.size_picker import CUSTOM

ROOT = Path(__file__).resolve().parents[2]
LOAD_TIMEOUT_MS = 180_000  # the first load imports torch and diffusers on a busy machine
JOB_TIMEOUT_MS = 120_000
LONG_STEPS = 200  # enough steps that a job is still running when the test reacts to its first step


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def make_window(qtbot, gallery: Gallery | None = None) -> MainWindow:
    """A shown MainWindow over the isolated home's gallery and settings (no model loaded yet)."""
    window = MainWindow(gallery=gallery or Gallery(), settings=Settings.load(), history=PromptHistory())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def load_model(qtbot, window: MainWindow, source) -> dict:
    """Load a model into the window's engine thread and wait for it (failing at once on a load error)."""
    failures: list[str] = []
    window.runner.model_failed.connect(failures.append)
    window.start(str(source))
    qtbot.waitUntil(lambda: window.runner.model_info is not None or bool(failures), timeout=LOAD_TIMEOUT_MS)
    assert not failures, failures[0]
    return window.runner.model_info


def pick_custom_size(window: MainWindow, width: int = 256, height: int = 256) -> None:
    """Choose 'Custom size…' in the size combo and type the sides into the spin boxes."""
    picker = window.size_picker
    picker.combo.setCurrentIndex(picker.combo.findData(CUSTOM, Qt.ItemDataRole.UserRole))
    picker.width_spin.setValue(width)
    picker.height_spin.setValue(height)


def prepare(qtbot, window: MainWindow, prompt: str, steps: int = 2, size: tuple[int, int] = (256, 256)) -> None:
    """Type a prompt and set a small, fast job."""
    window.editor.prompt.clear()
    qtbot.keyClicks(window.editor.prompt, prompt)
    pick_custom_size(window, *size)
    window.gen_settings.steps.setValue(steps)


def wait_finished(qtbot, *jobs, timeout: int = JOB_TIMEOUT_MS) -> None:
    qtbot.waitUntil(lambda: all(job.state.is_finished for job in jobs), timeout=timeout)


def wait_first_step(qtbot, window: MainWindow, job) -> None:
    qtbot.waitUntil(lambda: job.state is JobState.running and job.step >= 1, timeout=JOB_TIMEOUT_MS)


@pytest.fixture
def window(qtbot, tiny_pipeline_dir):
    """A window with the tiny model loaded."""
    win = make_window(qtbot)
    load_model(qtbot, win, tiny_pipeline_dir)
    yield win
    win.close()
    assert not win.runner.thread.isRunning()


# ---------------------------------------------------------------------------------------------
# Generate, see progress, find it in the gallery, and again after a restart
# ---------------------------------------------------------------------------------------------

def test_ctrl_enter_generates_shows_progress_and_keeps_the_image_after_restart(qtbot, window, tiny_pipeline_dir):
    prompt = "a red fox in deep snow"
    prepare(qtbot, window, prompt)
    assert "exactly 256×256" in window.size_picker.plan_label.text()
    previews: list = []
    window.runner.preview_ready.connect(lambda *args: previews.append(args))

    qtbot.keyClick(window.editor.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(window.queue) == 1
    job = window.queue[0]
    wait_finished(qtbot, job)

    assert job.state is JobState.done, job.error
    assert previews and previews[-1][2] >= 1  # step x/y arrived on the UI thread
    assert any(args[5] is not None and not args[5].isNull() for args in previews)  # a live preview
    assert window.live_view.view.image_size == (256, 256)
    assert window.live_view.status.text().startswith("Done")
    records = window.gallery.query(prompt)
    assert [r.id for r in records] == job.record_ids and records[0].width == 256 and records[0].height == 256
    assert records[0].seed == job.seeds[0] and records[0].path.is_file()
    assert window.gallery_panel.model.rowCount() == 1
    assert window.gen_settings.last_seed == job.seeds[0]
    assert "Saved 1 image" in window.statusBar().currentMessage()
    root = window.gallery.root

    # restart: a new window over the same data folder finds the image, the prompt and the size
    window.close()
    assert not window.runner.thread.isRunning()
    again = make_window(qtbot, Gallery(root))
    try:
        assert [r.prompt for r in again.gallery.query(prompt)] == [prompt]
        assert again.gallery_panel.model.rowCount() == 1
        assert again.size_picker.size() == (256, 256)
        assert again.gen_settings.steps.value() == 2
        menu = again.editor.show_history()
        texts = [a.text() for a in menu.actions()]
        assert texts[0] == prompt
        menu.actions()[0].trigger()
        menu.close()
        assert again.editor.prompt_text() == prompt
    finally:
        again.close()


def test_images_the_model_cannot_make_directly_are_fitted_to_the_exact_target(qtbot, window):
    plan = plan_size(300, 200)  # below 256 px: made larger with the same ratio, then resized
    assert plan.made != plan.target
    job = window.runner.submit(JobRequest(prompt="a tiny banner", width=300, height=200, steps=2), plan)
    wait_finished(qtbot, job)
    assert job.state is JobState.done, job.error
    record = window.gallery.get(job.record_ids[0])
    assert (record.width, record.height) == (300, 200)
    assert record.params["made_width"], record.params["made_height"] == plan.made


# ---------------------------------------------------------------------------------------------
# Cancel, queue, reorder
# ---------------------------------------------------------------------------------------------

def test_cancel_mid_generation_leaves_the_engine_usable(qtbot, window):
    prepare(qtbot, window, "a long job to cancel", steps=LONG_STEPS)
    job = window.generate()
    wait_first_step(qtbot, window, job)
    assert window.cancel_button.isEnabled()
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    wait_finished(qtbot, job)
    assert job.state is JobState.cancelled
    assert job.step < LONG_STEPS and not job.record_ids
    assert window.gallery.count() == 0

    prepare(qtbot, window, "after the cancel", steps=2)
    later = window.generate()
    wait_finished(qtbot, later)
    assert later.state is JobState.done, later.error
    assert window.gallery.count() == 1


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


def test_reordering_the_queue_changes_the_run_order(qtbot, tiny_pipeline_dir):
    win = make_window(qtbot)  # no model yet: jobs wait, so the order can be changed
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
    load_model(qtbot, win, tiny_pipeline_dir)
    wait_finished(qtbot, *jobs)
    assert started == expected
    assert all(job.state is JobState.done for job in jobs)
    win.close()


# ---------------------------------------------------------------------------------------------
# Prompt editor
# ---------------------------------------------------------------------------------------------

def test_token_counter_warns_past_the_limit(qtbot, window):
    editor = window.editor
    qtbot.keyClicks(editor.prompt, "a lighthouse at dusk")
    assert not editor.token_warning.isVisible()
    # the exact count from the model's tokenizer replaces the estimate
    qtbot.waitUntil(lambda: not editor.token_label.text().startswith("≈"), timeout=10_000)
    count = int(editor.token_label.text().split()[0])
    assert 1 < count <= TOKEN_LIMIT

    editor.set_prompt("a very detailed poster of a lighthouse, " * 60)
    assert editor.token_warning.isVisible() and editor.over_limit
    assert f"first {TOKEN_LIMIT}" in editor.token_warning.text()
    qtbot.waitUntil(lambda: not editor.token_label.text().startswith("≈"), timeout=10_000)
    assert int(editor.token_label.text().split()[0]) > TOKEN_LIMIT
    assert editor.token_warning.isVisible()


def test_estimate_warns_before_any_model_is_loaded(qtbot):
    win = make_window(qtbot)
    win.editor.set_prompt(" ".join(["mountain"] * 320))
    assert win.editor.token_label.text().startswith("≈")
    assert win.editor.token_warning.isVisible()
    win.editor.set_prompt("short")
    assert not win.editor.token_warning.isVisible()


def test_up_arrow_and_style_and_preset_double_click(qtbot):
    history = PromptHistory()
    history.add("an old prompt", "ugly")
    win = MainWindow(gallery=Gallery(), settings=Settings.load(), history=history)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
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
    win = make_window(qtbot)
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
    win = make_window(qtbot)
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
    win = make_window(qtbot)
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

class GapMeter:
    """A 10 ms QTimer on the UI thread that records the gaps between its ticks."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._last = 0.0
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> float:
        """Longest gap in ms."""
        self.timer.stop()
        return max(self.gaps) * 1000


def test_ui_thread_never_stalls_during_a_generation(qtbot, window, capsys):
    prepare(qtbot, window, "measure the stalls", steps=30, size=(768, 768))
    meter = GapMeter()
    # what the machine itself does to a 10 ms timer (the tests share two busy cores)
    meter.start()
    qtbot.wait(2000)
    idle_ms = meter.stop()

    job = window.generate()
    qtbot.waitUntil(lambda: job.state is JobState.running, timeout=JOB_TIMEOUT_MS)
    meter.start()
    wait_finished(qtbot, job)
    worst_ms = meter.stop()
    assert job.state is JobState.done, job.error
    with capsys.disabled():
        print(f"\nUI thread: longest stall during a 768×768, 30-step generation: {worst_ms:.0f} ms over "
              f"{len(meter.gaps)} ticks (idle baseline on this machine: {idle_ms:.0f} ms; limit 100 ms)")
    assert len(meter.gaps) > 10
    # Under 100 ms; on an overloaded test machine the idle timer alone can come close, so the
    # generation may add at most 50 ms to what the machine does with no generation running.
    assert worst_ms < max(100.0, idle_ms + 50.0)


def test_a_4k_result_is_shown_without_stalling_and_zooms(qtbot, capsys):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QImage, QWheelEvent

    win = make_window(qtbot)
    image = QImage(3840, 2160, QImage.Format.Format_RGB32)  # what the worker hands over
    image.fill(Qt.GlobalColor.darkCyan)
    started = time.perf_counter()
    win.live_view.show_image(image)
    win.live_view.view.viewport().repaint()
    shown_ms = (time.perf_counter() - started) * 1000
    with capsys.disabled():
        print(f"\nshowing a 3840×2160 result on the UI thread: {shown_ms:.0f} ms")
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
    assert shown_ms < 100
    win.close()


def test_closing_mid_generation_stops_the_worker_cleanly(qtbot, tiny_pipeline_dir, qtlog):
    win = make_window(qtbot)
    load_model(qtbot, win, tiny_pipeline_dir)
    prepare(qtbot, win, "closing while this runs", steps=LONG_STEPS)
    job = win.generate()
    wait_first_step(qtbot, win, job)
    started = time.perf_counter()
    win.close()
    closed_in = time.perf_counter() - started
    assert not win.runner.thread.isRunning() and win.runner.thread.isFinished()
    assert closed_in < 10
    qtbot.waitUntil(lambda: job.state is JobState.cancelled, timeout=5000)
    assert not any("QThread" in record.message for record in qtlog.records)


def test_bad_model_path_shows_a_message_and_the_window_stays_responsive(qtbot, tmp_path, tiny_pipeline_dir):
    win = make_window(qtbot)
    missing = tmp_path / "no-such-model"
    with qtbot.waitSignal(win.runner.model_failed, timeout=LOAD_TIMEOUT_MS) as failed:
        win.start(str(missing))
    assert "no-such-model" in failed.args[0]
    assert win.banner.isVisible() and "no-such-model" in win.banner.text.text()
    assert win.banner.action_button.isVisible()  # points to the model manager
    assert "not loaded" in win.model_label.text()

    fired = []
    QTimer.singleShot(0, lambda: fired.append(time.perf_counter()))
    asked = time.perf_counter()
    qtbot.waitUntil(lambda: bool(fired), timeout=1000)
    assert fired[0] - asked < 0.5

    prepare(qtbot, win, "waits for a working model")
    job = win.generate()
    assert job.state is JobState.queued
    load_model(qtbot, win, tiny_pipeline_dir)
    wait_finished(qtbot, job)
    assert job.state is JobState.done, job.error
    assert not win.banner.isVisible()
    win.close()


def test_an_engine_error_fails_the_job_with_a_message_and_the_next_job_runs(qtbot, window):
    bad = window.runner.submit(JobRequest(prompt="bad\x00prompt", width=256, height=256, steps=2), None)
    wait_finished(qtbot, bad)
    assert bad.state is JobState.failed and "NUL" in bad.error
    assert window.banner.isVisible() and "NUL" in window.banner.text.text()
    prepare(qtbot, window, "a good prompt")
    good = window.generate()
    wait_finished(qtbot, good)
    assert good.state is JobState.done


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

    win = make_window(qtbot)
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
    win = make_window(qtbot)
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
    win = make_window(qtbot)
    win._model_loaded({"name": "demo", "is_demo": True, "device": "cpu", "dtype": "float32",
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
    win = make_window(qtbot)
    win.gen_settings.set_values(guidance=4.5, steps=20)
    win._model_loaded({"name": "demo", "is_demo": True, "device": "cpu", "dtype": "float32",
                       "memory_mode": "cpu", "source": "resources/demo_model", "defaults": {"guidance": 1.5}})
    assert win.gen_settings.guidance.value() == 1.5 and win.gen_settings.steps.value() == 20
    assert "guidance 1.5" in win.statusBar().currentMessage()
    win._model_loaded({"name": "other", "is_demo": False, "device": "cpu", "dtype": "float32",
                       "memory_mode": "cpu", "source": "x", "defaults": {}})
    assert win.gen_settings.guidance.value() == 1.5  # no defaults: the user's value stays
    win.close()


# ---------------------------------------------------------------------------------------------
# Startup time and layering
# ---------------------------------------------------------------------------------------------

def test_window_is_visible_fast_and_before_torch_loads(tmp_path, capsys):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SIGMA_STUDIO_HOME=str(tmp_path / "home"))
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from app.studio import run; "
            "sys.exit(run(['sigma-studio', '--timing', '--quit-after-visible']))")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("window visible"))
    with capsys.disabled():
        print("\n" + line)
    seconds = float(re.search(r"visible in ([\d.]+) s", line).group(1))
    assert "loaded before it: none" in line
    assert seconds < 3.0  # target 1 s; generous here because tests share a busy machine


def test_ui_never_imports_the_engine():
    forbidden = re.compile(r"^\s*(from|import)\s+(torch|diffusers|transformers|model\.engine)\b", re.MULTILINE)
    offenders = [p.name for p in (ROOT / "ui").glob("*.py") if forbidden.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
