"""The studio window's behaviour, written once and run on two engines: the fake engine
(tests/unit/test_main_window.py, no torch) and the tiny real model (tests/integration/test_studio.py).

A test module imports the `window` fixture and the shared tests below and defines a `studio` fixture
(a StudioEngine); pytest collects the imported tests in that module, with that module's engine. Not a
test module itself (its name does not start with test_).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer

from app.bootstrap import build_window
from app.gallery import Gallery
from app.jobs import JobRequest, JobState
from app.settings import PromptHistory, Settings
from app.sizes import plan_size
from ui.main_window import MainWindow
from ui.prompt_editor import TOKEN_LIMIT
from ui.size_picker import CUSTOM

LONG_STEPS = 200  # enough steps that a job is still running when the test reacts to its first step


@dataclass(frozen=True)
class StudioEngine:
    """What the window runs on: an engine factory (None: the real engine), the model to load, and how
    long loading and a job may take with it."""

    factory: Callable[..., Any] | None
    source: str
    load_timeout_ms: int
    job_timeout_ms: int


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def make_window(qtbot, studio: StudioEngine, gallery: Gallery | None = None,
                history: PromptHistory | None = None) -> MainWindow:
    """A shown MainWindow over the isolated home's gallery and settings (no model loaded yet)."""
    window = build_window(Settings.load(), gallery or Gallery(), studio.factory, history or PromptHistory())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def load_model(qtbot, window: MainWindow, studio: StudioEngine, source: str | None = None) -> dict:
    """Load a model into the window's engine thread and wait for it (failing at once on a load error)."""
    failures: list[str] = []
    window.runner.model_failed.connect(failures.append)
    window.start(str(source or studio.source))
    qtbot.waitUntil(lambda: window.runner.model_info is not None or bool(failures), timeout=studio.load_timeout_ms)
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


def wait_finished(qtbot, *jobs, timeout: int | None = None) -> None:
    qtbot.waitUntil(lambda: all(job.state.is_finished for job in jobs), timeout=timeout or 120_000)


def wait_first_step(qtbot, window: MainWindow, job) -> None:
    qtbot.waitUntil(lambda: job.state is JobState.running and job.step >= 1, timeout=120_000)


@pytest.fixture
def window(qtbot, studio):
    """A window with the module's model loaded."""
    win = make_window(qtbot, studio)
    load_model(qtbot, win, studio)
    yield win
    win.close()
    assert not win.runner.thread.isRunning()


# ---------------------------------------------------------------------------------------------
# Generate, see progress, find it in the gallery, and again after a restart
# ---------------------------------------------------------------------------------------------

def test_ctrl_enter_generates_shows_progress_and_keeps_the_image_after_restart(qtbot, window, studio):
    prompt = "a red fox in deep snow"
    prepare(qtbot, window, prompt)
    assert "exactly 256×256" in window.size_picker.plan_label.text()
    previews: list = []
    window.runner.preview_ready.connect(lambda *args: previews.append(args))

    qtbot.keyClick(window.editor.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(window.queue) == 1
    job = window.queue[0]
    wait_finished(qtbot, job, timeout=studio.job_timeout_ms)

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
    again = make_window(qtbot, studio, Gallery(root))
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
# Cancel
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


# ---------------------------------------------------------------------------------------------
# Responsiveness, closing, errors
# ---------------------------------------------------------------------------------------------

def test_the_ui_thread_keeps_running_during_a_generation(qtbot, window):
    """How long the UI thread stalls is benchmarks/ui_stall.py's figure; here: its timer keeps firing."""
    prepare(qtbot, window, "measure the stalls", steps=30, size=(768, 768))
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    job = window.generate()
    qtbot.waitUntil(lambda: job.state is JobState.running, timeout=30_000)
    timer.start()
    wait_finished(qtbot, job)
    timer.stop()
    assert job.state is JobState.done, job.error
    assert len(ticks) > 10


def test_closing_mid_generation_stops_the_worker_cleanly(qtbot, studio, qtlog):
    win = make_window(qtbot, studio)
    load_model(qtbot, win, studio)
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


def test_bad_model_path_shows_a_message_and_the_window_stays_responsive(qtbot, tmp_path, studio):
    win = make_window(qtbot, studio)
    missing = tmp_path / "no-such-model"
    with qtbot.waitSignal(win.runner.model_failed, timeout=studio.load_timeout_ms) as failed:
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
    load_model(qtbot, win, studio)
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
