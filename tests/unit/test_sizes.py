"""Size presets and how each target is made: snapped, upscaled, resized or cropped to exactly the target."""

from __future__ import annotations

import pytest
from PIL import Image

from app.model_service import GRID, MAX_SIDE, MIN_SIDE, BadRequest
from app.sizes import (
    GROUPS,
    SIZE_PRESETS,
    SizeError,
    find_preset,
    fit_to_target,
    groups,
    plan_size,
    resolve_size,
)


def test_presets_are_unique_and_grouped():
    keys = [p.key for p in SIZE_PRESETS]
    assert len(set(keys)) == len(keys)
    assert len({p.label.lower() for p in SIZE_PRESETS}) == len(SIZE_PRESETS)
    assert list(groups()) == list(GROUPS)
    assert sum(len(v) for v in groups().values()) == len(SIZE_PRESETS)
    assert all(groups()[g] for g in GROUPS)


def test_required_sizes_exist():
    expected = {
        "4k-uhd": (3840, 2160),
        "1440p": (2560, 1440),
        "1080p": (1920, 1080),
        "ultrawide-21x9": (3440, 1440),
        "super-ultrawide-32x9": (5120, 1440),
        "5k": (5120, 2880),
        "iphone-13-14": (1170, 2532),
        "iphone-15-16": (1179, 2556),
        "iphone-pro-max": (1290, 2796),
        "android-fhd-plus": (1080, 2400),
        "android-qhd-plus": (1440, 3200),
        "phone-1080x1920": (1080, 1920),
        "a4-portrait": (2480, 3508),
        "a3-portrait": (3508, 4961),
        "a2-portrait": (4961, 7016),
        "a2-landscape": (7016, 4961),
        "us-18x24-portrait": (5400, 7200),
        "2x3-portrait": (2720, 4080),
        "3x4-portrait": (3072, 4096),
        "4x5-portrait": (3264, 4080),
        "square-1024": (1024, 1024),
        "square-2048": (2048, 2048),
        "square-4096": (4096, 4096),
    }
    for key, size in expected.items():
        preset = find_preset(key)
        assert preset is not None, key
        assert (preset.width, preset.height) == size, key


def test_posters_carry_300_dpi_and_others_none():
    for preset in SIZE_PRESETS:
        assert preset.dpi == (300 if preset.group == "Poster" else None), preset.key


@pytest.mark.parametrize("preset", SIZE_PRESETS, ids=lambda p: p.key)
def test_every_preset_plan_is_makeable(preset):
    plan = resolve_size(preset.key)
    made_w, made_h = plan.made
    assert made_w % GRID == 0 and made_h % GRID == 0
    assert MIN_SIDE <= made_w <= MAX_SIDE and MIN_SIDE <= made_h <= MAX_SIDE
    assert plan.target == (preset.width, preset.height)
    assert plan.dpi == preset.dpi and plan.preset == preset
    assert plan.action in ("exact", "resize", "upscale", "crop")
    assert (plan.action == "exact") == (plan.made == plan.target)
    assert plan.action != "crop"  # every preset keeps its ratio
    assert abs((made_w / made_h) / (preset.width / preset.height) - 1) <= 0.01


def test_ratio_posters_are_exact():
    for key, ratio in (("2x3-portrait", 2 / 3), ("3x4-portrait", 3 / 4), ("4x5-portrait", 4 / 5)):
        plan = resolve_size(key)
        assert plan.action == "exact"
        assert plan.made[0] / plan.made[1] == ratio


def test_5k_is_upscaled():
    plan = resolve_size("5K")
    assert (plan.made, plan.action) == ((4096, 2304), "upscale")
    assert plan.message == "Made at 4096×2304 and upscaled to 5120×2880 on save"


def test_a2_poster_message_names_both_sizes_and_print_size():
    plan = resolve_size("A2 portrait")
    assert plan.made == (2896, 4096) and plan.action == "upscale"
    assert plan.message.startswith("Made at 2896×4096 and upscaled to 4961×7016 on save")
    assert "16.5×23.4 in at 300 DPI" in plan.message


def test_phone_is_made_on_the_grid_and_resized():
    plan = resolve_size("1170x2532")
    assert (plan.made, plan.action) == ((1168, 2528), "resize")
    assert plan.message == "Made at 1168×2528, resized to 1170×2532 on save"


def test_exact_and_snapped_sizes():
    assert plan_size(3840, 2160).action == "exact"
    assert plan_size(3840, 2160).message == "Made at exactly 3840×2160"
    assert plan_size(1920, 1080).made == (1920, 1088)


def test_odd_ratio_is_cropped():
    plan = plan_size(200, 5000)
    assert plan.action == "crop" and plan.made == (256, 4096)
    assert "center-cropped to 200×5000" in plan.message


@pytest.mark.parametrize(
    "text", ["4K UHD", "4k-uhd", "4k", "A3 PORTRAIT", "a3-portrait", "us 18x24 in portrait"]
)
def test_find_preset_by_label_key_or_alias(text):
    assert find_preset(text) is not None


def test_resolve_accepts_wxh_forms():
    assert resolve_size("1024x768").target == (1024, 768)
    assert resolve_size(" 1024 × 768 ").target == (1024, 768)
    assert resolve_size("1024X768").preset is None


@pytest.mark.parametrize("text", ["", "big", "4096", "100x100", "5000x5000", "12x", "x12", "-5x300"])
def test_resolve_size_errors_name_the_accepted_forms(text):
    with pytest.raises(SizeError) as info:
        resolve_size(text)
    message = str(info.value)
    assert "256-4096" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, BadRequest)


def test_resolve_size_suggests_close_names():
    with pytest.raises(SizeError, match="did you mean 'a3-portrait'"):
        resolve_size("a3-portait")


def test_plan_size_rejects_bad_values():
    for width, height in ((0, 100), (100, 20000), (1.5, 100), (True, 100)):
        with pytest.raises(SizeError):
            plan_size(width, height)
    with pytest.raises(SizeError, match="dpi"):
        plan_size(1024, 1024, dpi=0)


@pytest.mark.parametrize("target", [(1170, 2532), (5120, 2880), (200, 5000), (264, 4096), (1024, 1024)])
def test_fit_to_target_gives_exact_size(target):
    plan = plan_size(*target)
    made = Image.new("RGB", plan.made, (10, 20, 30))
    fitted = fit_to_target(made, plan)
    assert fitted.size == target
    assert fitted.getpixel((target[0] // 2, target[1] // 2)) == (10, 20, 30)


def test_fit_to_target_crops_the_center():
    plan = plan_size(264, 4096)  # made 272x4096: 4 px cropped from each side
    made = Image.new("RGB", plan.made, (255, 0, 0))
    made.paste((0, 0, 255), (4, 0, 268, 4096))
    fitted = fit_to_target(made, plan)
    assert fitted.size == (264, 4096)
    assert fitted.getpixel((0, 100)) == (0, 0, 255) and fitted.getpixel((263, 100)) == (0, 0, 255)


def test_fit_to_target_exact_returns_image():
    plan = plan_size(1024, 1024)
    made = Image.new("RGB", (1024, 1024))
    assert fit_to_target(made, plan) is made
