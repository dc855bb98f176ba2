"""One set of limits: settings, presets, the generation widgets and the engine's check agree (issue 11)."""

from __future__ import annotations

import json

import pytest

from app import settings as settings_module
from app.model_service import (
    GUIDANCE_LIMITS,
    SEED_LIMITS,
    STEPS_LIMITS,
    BadRequest,
    GenerationRequest,
    validate_request,
)
from app.presets import PresetError, parse_presets


def _preset(**values) -> str:
    return json.dumps({"format": "sigma-studio-preset", "version": 1, "prompt": "x", **values})


def _engine_accepts(**values) -> bool:
    try:
        validate_request(GenerationRequest(prompt="x", width=512, height=512, **values))
    except BadRequest:
        return False
    return True


def _preset_accepts(**values) -> bool:
    try:
        parse_presets(_preset(**values), "t.preset.json")
    except PresetError:
        return False
    return True


@pytest.mark.parametrize("name, limits", [("guidance", GUIDANCE_LIMITS), ("steps", STEPS_LIMITS)])
def test_settings_presets_and_engine_take_the_same_range(name, limits):
    low, high = limits
    above = high + 1
    for value, ok in ((low, True), (high, True), (above, False)):
        assert _engine_accepts(**{name: value}) is ok
        assert _preset_accepts(**{name: value}) is ok
        assert (settings_module._check_value(name, value) is None) is ok


def test_seed_range_is_the_engines_everywhere():
    low, high = SEED_LIMITS
    assert _engine_accepts(seed=high) and not _engine_accepts(seed=high + 1)
    assert _preset_accepts(seed=high) and not _preset_accepts(seed=high + 1)


def test_the_generation_widgets_use_the_same_limits(qtbot):
    from ui.generation_settings import GenerationSettings

    widget = GenerationSettings()
    qtbot.addWidget(widget)
    assert (widget.guidance.minimum(), widget.guidance.maximum()) == GUIDANCE_LIMITS
    assert (widget.steps.minimum(), widget.steps.maximum()) == STEPS_LIMITS
    assert (int(widget.seed.minimum()), int(widget.seed.maximum())) == SEED_LIMITS


def test_checking_a_request_loads_no_torch():
    import subprocess
    import sys

    code = ("import sys; from app.model_service import GenerationRequest, validate_request; "
            "validate_request(GenerationRequest(prompt='x')); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
