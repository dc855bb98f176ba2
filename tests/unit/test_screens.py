"""Multi-screen spans on synthetic layouts, checked pixel for pixel: side by side, stacked, mixed DPI,
different heights, bezel compensation; and the screens Qt reports."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.screens import Screen, crop_screens, read_screens, screen_file_name, span_layout


def coded(size: tuple[int, int]) -> Image.Image:
    """Every pixel says where it is: R = x % 256, G = y % 256, B = x // 256 + 16 * (y // 256)."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.stack([x % 256, y % 256, x // 256 + 16 * (y // 256)], -1).astype(np.uint8))


def origin(part: Image.Image) -> tuple[int, int]:
    r, g, b = part.getpixel((0, 0))
    return r + 256 * (b % 16), g + 256 * (b // 16)


def test_side_by_side_is_cut_exactly():
    screens = [Screen("left", 0, 0, 1920, 1080), Screen("right", 1920, 0, 1920, 1080)]
    layout = span_layout(screens)
    assert layout.size == (3840, 1080)
    canvas = coded(layout.size)
    (_, a), (_, b) = crop_screens(canvas, layout)
    assert a.size == b.size == (1920, 1080)
    assert np.array_equal(np.asarray(a), np.asarray(canvas)[:, :1920])
    assert np.array_equal(np.asarray(b), np.asarray(canvas)[:, 1920:])


def test_stacked_with_a_negative_origin():
    screens = [Screen("top", 0, -1440, 2560, 1440), Screen("bottom", 320, 0, 1920, 1080)]
    layout = span_layout(screens)
    assert layout.size == (2560, 2520)
    canvas = coded(layout.size)
    (_, top), (_, bottom) = crop_screens(canvas, layout)
    assert np.array_equal(np.asarray(top), np.asarray(canvas)[:1440, :2560])
    assert np.array_equal(np.asarray(bottom), np.asarray(canvas)[1440:2520, 320:2240])


def test_different_heights_leave_the_unseen_corner_unused():
    screens = [Screen("tall", 0, 0, 1080, 1920), Screen("wide", 1080, 420, 1920, 1080)]
    layout = span_layout(screens)
    assert layout.size == (3000, 1920)
    canvas = coded(layout.size)
    (_, tall), (_, wide) = crop_screens(canvas, layout)
    assert tall.size == (1080, 1920) and wide.size == (1920, 1080)
    assert np.array_equal(np.asarray(wide), np.asarray(canvas)[420:1500, 1080:3000])


def test_mixed_dpi_uses_the_largest_ratio_and_saves_each_screen_natively():
    screens = [Screen("laptop", 0, 0, 1440, 900, dpr=2.0), Screen("monitor", 1440, 0, 1920, 1080, dpr=1.0)]
    layout = span_layout(screens)
    assert layout.scale == 2.0 and layout.size == (6720, 2160)
    canvas = coded(layout.size)
    (_, laptop), (_, monitor) = crop_screens(canvas, layout)
    assert laptop.size == (2880, 1800)  # retina panel: every device pixel
    assert np.array_equal(np.asarray(laptop), np.asarray(canvas)[:1800, :2880])
    assert monitor.size == (1920, 1080)  # its crop of 3840x2160 canvas pixels, halved
    flat = Image.new("RGB", layout.size, (10, 20, 30))
    flat.paste((200, 100, 50), (2880, 0, 6720, 2160))
    assert crop_screens(flat, layout)[1][1].getpixel((960, 540)) == (200, 100, 50)


def test_bezel_compensation_skips_the_picture_behind_the_frames():
    screens = [Screen("a", 0, 0, 1000, 500, width_mm=250), Screen("b", 1000, 0, 1000, 500, width_mm=250)]
    layout = span_layout(screens, bezel_mm=10)  # 4 px per mm -> 40 px hidden
    assert layout.size == (2040, 500)
    canvas = coded(layout.size)
    (_, a), (_, b) = crop_screens(canvas, layout)
    assert origin(a) == (0, 0) and origin(b) == (1040, 0)
    assert np.array_equal(np.asarray(b), np.asarray(canvas)[:, 1040:2040])


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="no screens"):
        span_layout([])
    with pytest.raises(ValueError, match="bezel -1 mm"):
        span_layout([Screen("a", 0, 0, 10, 10)], bezel_mm=-1)
    layout = span_layout([Screen("a", 0, 0, 100, 50)])
    with pytest.raises(ValueError, match="the picture is 10x10 but the span needs 100x50"):
        crop_screens(Image.new("RGB", (10, 10)), layout)


def test_file_names_and_qt_screens(qapp):
    screen = Screen("DP-1/x", 0, 0, 1280, 720, dpr=1.5)
    assert screen_file_name("wall", 0, screen) == "wall-screen1-DP-1-x-1920x1080.png"
    found = read_screens(qapp)
    assert found and all(s.width > 0 and s.dpr > 0 for s in found)


def test_export_span_writes_one_native_file_per_screen_with_settings(tmp_path):
    from app.metadata import read_params
    from app.screens import export_span

    screens = [Screen("DP-1", 0, 0, 640, 360, dpr=2.0), Screen("HDMI-1", 640, 0, 800, 600)]
    layout = span_layout(screens)
    canvas = coded(layout.size)
    paths = export_span(canvas, layout, tmp_path / "out", "wall", {"prompt": "p", "seed": 1})
    assert [p.name for p in paths] == ["wall-screen1-DP-1-1280x720.png", "wall-screen2-HDMI-1-800x600.png"]
    first = Image.open(paths[0])
    assert np.array_equal(np.asarray(first.convert("RGB")), np.asarray(canvas)[:720, :1280])
    params = read_params(paths[1])
    assert params["span"] == {"screen": "HDMI-1", "box": [1280, 0, 2880, 1200]} and params["width"] == 800
