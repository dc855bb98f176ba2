"""The size picker's "Span all screens" entry (issue 14) on synthetic screen layouts: side by side,
stacked, mixed DPI, different heights, the bezel gap, spans beyond the app's largest side (scaled
down, ratio kept, and said), one screen, and screens going away."""

from __future__ import annotations

import pytest

from app.screens import Screen, read_screens, span_target
from app.sizes import MAX_TARGET_SIDE
from ui.size_picker import CUSTOM, SPAN, SizePicker

FHD_MM = (527.0, 296.0)  # a 24-inch 1920x1080 monitor


def fhd(name: str, x: int, y: int, dpr: float = 1.0) -> Screen:
    return Screen(name, x, y, 1920, 1080, dpr, *FHD_MM)


@pytest.fixture
def picker(qtbot):
    widget = SizePicker()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def span_text(picker: SizePicker) -> str:
    return picker.combo.itemText(picker.combo.findData(SPAN))


@pytest.mark.parametrize("screens, size", [
    ([fhd("left", 0, 0), fhd("right", 1920, 0)], (3840, 1080)),  # side by side
    ([fhd("top", 0, 0), fhd("bottom", 0, 1080)], (1920, 2160)),  # stacked
    ([Screen("laptop", 0, 0, 1280, 720, 2.0, 300, 170), fhd("monitor", 1280, 0)], (6400, 2160)),  # mixed DPI
    ([Screen("qhd", 0, 0, 2560, 1440, 1.0, 597, 336), fhd("fhd", 2560, 0)], (4480, 1440)),  # different heights
])
def test_the_span_entry_covers_every_screen(qtbot, picker, screens, size):
    picker.set_screens(screens)
    assert span_text(picker) == "Span all screens — {}×{}".format(*size)
    with qtbot.waitSignal(picker.size_changed) as signal:
        assert picker.select_span()
    assert signal.args == list(size) and picker.size() == size and picker.is_span()
    assert picker.bezel.isVisible() and picker.bezel_label.isVisible()
    assert picker.preset() is None and picker.size_text() == "{}x{}".format(*size)
    picker.select_preset("1080p")
    assert not picker.bezel.isVisible() and picker.size() == (1920, 1080)
    assert picker.set_size_text("{}x{}".format(*size)) and picker.is_span()  # a restored span size shows it


def test_the_bezel_gap_widens_a_row_and_heightens_a_column(qtbot, picker):
    picker.set_screens([fhd("a", 0, 0), fhd("b", 1920, 0), fhd("c", 3840, 0)])
    picker.select_span()
    assert picker.bezel.minimum() == 0 and picker.bezel.maximum() == 50
    gap = 10 * 1920 / FHD_MM[0]  # logical px hidden behind 10 mm of frames
    with qtbot.waitSignal(picker.size_changed) as signal:
        picker.bezel.setValue(10)
    assert picker.size() == (round(5760 + 2 * gap), 1080) == tuple(signal.args)
    assert span_text(picker) == f"Span all screens — {round(5760 + 2 * gap)}×1080"
    picker.set_screens([fhd("top", 0, 0), fhd("bottom", 0, 1080)])
    assert picker.is_span() and picker.size() == (1920, round(2160 + gap))
    picker.bezel.setValue(0)
    assert picker.size() == (1920, 2160)


def test_a_span_beyond_the_largest_side_is_scaled_down_and_says_so(picker):
    screens = [Screen(f"uhd{i}", i * 3840, 0, 3840, 2160, 1.0, 597, 336) for i in range(6)]
    picker.set_screens(screens)
    width, height = MAX_TARGET_SIDE, round(2160 * MAX_TARGET_SIDE / 23040)
    assert span_text(picker) == f"Span all screens — {width}×{height} (scaled down from 23040×2160)"
    assert picker.select_span() and picker.size() == (width, height)
    assert abs(width / height - 23040 / 2160) < 0.01  # same shape
    assert f"The span is 23040×2160: scaled down to {MAX_TARGET_SIDE} px" in picker.plan_label.text()
    picker.combo.setCurrentIndex(picker.combo.findData(SPAN))
    assert "at most 16384 px a side" in picker.combo.itemData(picker.combo.currentIndex(), 3)  # the tooltip
    target = span_target(screens)
    assert target.scaled and target.full == (23040, 2160) and target.size == (width, height)


def test_a_span_too_narrow_to_make_is_shown_but_cannot_be_chosen(picker):
    strips = [Screen(f"strip{i}", i * 3840, 0, 3840, 300) for i in range(10)]  # 38400x300 -> 16384x128
    picker.set_screens(strips)
    assert span_text(picker) == "Span all screens — too narrow to make"
    assert not picker.select_span() and not picker.is_span()
    item = picker.combo.model().item(picker.combo.findData(SPAN))
    assert not item.isEnabled() and "its short side would be 128 px (at least 256)" in item.toolTip()


def test_one_screen_is_offered_at_its_native_size_without_a_bezel(picker):
    picker.set_screens([Screen("eDP-1", 0, 0, 1440, 900, 2.0, 286, 179)])
    assert span_text(picker) == "This screen — 2880×1800"
    assert picker.select_span() and picker.size() == (2880, 1800)
    assert not picker.bezel.isVisible()


def test_the_running_apps_screens_are_read_and_losing_them_keeps_the_size(picker):
    native = span_target(read_screens()).size  # offscreen Qt reports one screen
    assert span_text(picker) == "This screen — {}×{}".format(*native)
    picker.set_screens([fhd("left", 0, 0), fhd("right", 1920, 0)])
    picker.select_span()
    picker.set_screens([])
    assert picker.combo.findData(SPAN) < 0
    assert picker.combo.currentData() == CUSTOM and picker.size() == (3840, 1080)
    assert not picker.bezel.isVisible()
