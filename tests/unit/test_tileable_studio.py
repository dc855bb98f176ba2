"""The studio's Tileable switch: its axes reach the job request, and recalling an image restores it."""

from __future__ import annotations

import functools

from tests.fake_engine import FAKE_MODEL, FakeEngine
from tests.studio_harness import StudioEngine, make_window, pick_custom_size

FAKE = StudioEngine(functools.partial(FakeEngine, step_s=0.01), FAKE_MODEL, 10_000, 30_000)


def test_tileable_switch_goes_into_the_request_and_is_recalled(qtbot):
    window = make_window(qtbot, FAKE)
    try:
        combo = window.gen_settings.tileable
        assert [combo.itemData(i) for i in range(combo.count())] == ["off", "x", "y", "both"]
        assert combo.currentData() == "off"
        window.editor.set_prompt("a tiled floor", "")
        pick_custom_size(window)
        window.apply_params({"prompt": "tiles", "width": 512, "height": 512, "steps": 9, "tileable": "both"})
        assert combo.currentData() == "both"
        request, _plan = window.build_request()
        assert request.tileable == "both" and request.engine_kwargs()["tileable"] == "both"
        window.apply_params({"prompt": "plain", "width": 512, "height": 512, "steps": 9})
        assert combo.currentData() == "off"
        combo.setCurrentIndex(combo.findData("y"))
        assert window.build_request()[0].tileable == "y"
    finally:
        window.close()


def test_a_tileable_preset_recalls_the_switch(qtbot, tmp_path):
    import json

    import pytest

    from app.presets import PresetError, load_presets, preset_to_dict

    path = tmp_path / "tiles.preset.json"
    path.write_text(json.dumps({"format": "sigma-studio-preset", "version": 1, "name": "Tiles",
                                "prompt": "terrazzo", "size": "1024x1024", "tileable": "x"}))
    (preset,) = load_presets(path)
    assert preset.tileable == "x" and preset_to_dict(preset)["tileable"] == "x"
    window = make_window(qtbot, FAKE)
    try:
        window.apply_preset(preset)
        assert window.gen_settings.tileable.currentData() == "x"
    finally:
        window.close()
    path.write_text(json.dumps({"format": "sigma-studio-preset", "version": 1, "prompt": "a", "tileable": "z"}))
    with pytest.raises(PresetError, match='"tileable" must be one of off, x, y, both'):
        load_presets(path)
