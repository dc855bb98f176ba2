"""The studio window end to end: real widgets, a real gallery, the tiny real model on the engine thread.

The tests are tests/studio_harness.py's, written once; tests/unit/test_main_window.py runs them on the
fake engine. Here the same paths run with torch and diffusers: generate, cancel, close mid-step, a bad
model, an engine error, the tokenizer's count, and the UI thread kept free. Timings: benchmarks/ui_stall.py.
"""

from __future__ import annotations

import pytest

from tests.studio_harness import (  # noqa: F401  (collected here, on this module's engine)
    StudioEngine,
    test_an_engine_error_fails_the_job_with_a_message_and_the_next_job_runs,
    test_bad_model_path_shows_a_message_and_the_window_stays_responsive,
    test_cancel_mid_generation_leaves_the_engine_usable,
    test_closing_mid_generation_stops_the_worker_cleanly,
    test_ctrl_enter_generates_shows_progress_and_keeps_the_image_after_restart,
    test_images_the_model_cannot_make_directly_are_fitted_to_the_exact_target,
    test_the_ui_thread_keeps_running_during_a_generation,
    test_token_counter_warns_past_the_limit,
    window,
)


@pytest.fixture
def studio(tiny_pipeline_dir) -> StudioEngine:
    """The real engine (the worker's default factory) on the tiny random-weight pipeline folder; the
    first load imports torch and diffusers on a busy machine."""
    return StudioEngine(factory=None, source=str(tiny_pipeline_dir), load_timeout_ms=180_000,
                        job_timeout_ms=120_000)
