"""Export of tileable images (tile fill, the single tile), spans across synthetic screens (one file per
screen, checked pixel for pixel against crop_screens), and "Set as wallpaper" after an export."""

from __future__ import annotations

import functools
import subprocess
import threading

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from app import span_export
from app.export import ExportOptions, ExportTarget, resize_to_target
from app.export_wallpaper import WallpaperPick, set_picked
from app.gallery import Gallery
from app.metadata import read_params
from app.screens import Screen, crop_screens, span_layout
from app.tiles import fill
from app.wallpaper import ScreenFile, set_wallpaper
from ui.export_dialog import ExportDialog

BASE = {"negative": "", "steps": 20, "guidance": 4.5, "model": "tiny", "kv_compress": "off"}


def noise(w: int, h: int, seed: int) -> Image.Image:
    """Random pixels: any resize or shift shows at once."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def coded(size: tuple[int, int]) -> Image.Image:
    """Every pixel says where it is (R = x % 256, G = y % 256, B = the 256-blocks)."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.stack([x % 256, y % 256, x // 256 + 16 * (y // 256)], -1).astype(np.uint8))


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture
def gallery(tmp_path):
    g = Gallery(tmp_path / "gallery")
    yield g
    g.close()


def add(gallery, image: Image.Image, prompt: str, seed: int, tileable: str | None = None):
    params = {**BASE, "prompt": prompt, "seed": seed, **({"tileable": tileable} if tileable else {})}
    return gallery.add(image, params)


def make_dialog(qtbot, records, tmp_path, screens=None) -> ExportDialog:
    dialog = ExportDialog(records, screens=screens if screens is not None else [Screen("only", 0, 0, 640, 360)])
    qtbot.addWidget(dialog)
    dialog.set_out_dir(tmp_path / "out")
    return dialog


def export(qtbot, dialog):
    with qtbot.waitSignal(dialog.finished_export, timeout=30000) as blocker:
        assert dialog.start()
    return blocker.args[0]


def test_tile_fill_is_the_tile_repeated_pixel_for_pixel_and_the_single_tile_is_unchanged(qtbot, tmp_path, gallery):
    tile = noise(72, 40, seed=3)
    record = add(gallery, tile, "woven pattern", 5, tileable="both")
    dialog = make_dialog(qtbot, [record], tmp_path)
    assert dialog.fit_combo.currentData() == "tile"  # offered, and chosen, for a tileable image
    dialog.set_sizes(["1080p"])
    dialog.add_custom_size(300, 130)
    dialog.single_tile_box.setChecked(True)
    assert dialog.update_plan() == 3
    assert "filled by repeating the tile" in dialog.plan_label.text()
    assert "the single tile of 1 image is written as it is" in dialog.plan_label.text()
    assert dialog.tile_fallback.isHidden()  # every image is tileable: no fallback to choose

    report = export(qtbot, dialog)
    assert len(report.written) == 3 and not report.failed
    by_size = {Image.open(p).size: p for p in report.written}
    for size in [(1920, 1080), (300, 130)]:
        assert np.array_equal(pixels(by_size[size]), np.asarray(fill(tile, size)))
        assert read_params(by_size[size])["export"]["fit"] == "tile"
    assert np.array_equal(pixels(by_size[(72, 40)]), np.asarray(tile))
    assert read_params(by_size[(72, 40)])["export"]["fit"] == "single tile"
    assert dialog.wallpaper.isHidden()  # three files of one image: which one would be the wallpaper?


def test_mixed_tileable_and_plain_images_say_which_fit_each_gets(qtbot, tmp_path, gallery):
    tile = noise(48, 48, seed=1)
    plain_image = noise(160, 90, seed=2)
    tiled, plain = add(gallery, tile, "tiles", 1, tileable="x"), add(gallery, plain_image, "a harbour", 2)
    dialog = make_dialog(qtbot, [tiled, plain], tmp_path)
    dialog.add_custom_size(200, 100)
    dialog.tile_fallback.setCurrentIndex(dialog.tile_fallback.findData("smart"))
    assert dialog.update_plan() == 2
    text = dialog.plan_label.text()
    assert "1 tileable image is filled by repeating the tile" in text
    assert "1 image is not tileable and is smart-cropped instead" in text
    assert not dialog.tile_fallback.isHidden()

    report = export(qtbot, dialog)
    made = {read_params(p)["prompt"]: p for p in report.written}
    assert np.array_equal(pixels(made["tiles"]), np.asarray(fill(tile, (200, 100))))
    expected = resize_to_target(plain_image, ExportTarget(200, 100), "smart")
    assert np.array_equal(pixels(made["a harbour"]), np.asarray(expected))
    assert read_params(made["a harbour"])["export"]["fit"] == "smart"

    only_plain = make_dialog(qtbot, [plain], tmp_path)
    assert only_plain.fit_combo.findData("tile") < 0 and only_plain.single_tile_box.isHidden()
    with pytest.raises(ValueError, match="tile needs a tileable image"):
        only_plain.set_fit("tile")


SIDE_BY_SIDE = [Screen("DP-1", 0, 0, 320, 180, width_mm=80), Screen("HDMI-1", 320, 0, 320, 180, width_mm=80)]
MIXED_DPI = [Screen("eDP-1", 0, 0, 160, 100, dpr=2.0), Screen("DP-2", 160, 0, 192, 108)]


def test_span_side_by_side_with_a_bezel_tile_fills_the_canvas_and_cuts_it_exactly(qtbot, tmp_path, gallery):
    tile = noise(56, 40, seed=7)
    record = add(gallery, tile, "span tiles", 9, tileable="both")
    dialog = make_dialog(qtbot, [record], tmp_path, screens=SIDE_BY_SIDE)
    dialog.span_box.setChecked(True)
    dialog.span_box.bezel.setValue(10)  # 4 px per mm on these screens: 40 px behind the frames
    layout = span_layout(SIDE_BY_SIDE, 10)
    assert layout.size == (680, 180)
    assert dialog.span_box.screens_label.text() == "2 screens: 320×180, 320×180"
    assert dialog.span_box.canvas_label.text().startswith("680×180 px")
    assert dialog.update_plan() == 3 and "each of the 2 screens" in dialog.plan_label.text()
    assert not dialog.sizes.isEnabled()  # the screens give the sizes

    report = export(qtbot, dialog)
    (result,) = report.spans
    canvas = fill(tile, layout.size)
    assert np.array_equal(pixels(result.picture), np.asarray(canvas))
    for path, (screen, part) in zip(result.screens, crop_screens(canvas, layout), strict=True):
        assert screen.name in path.name and np.array_equal(pixels(path), np.asarray(part))
    right = read_params(result.screens[1])
    assert right["span"] == {"screen": "HDMI-1", "box": [360, 0, 680, 180]}
    assert right["export"]["bezel_mm"] == 10 and right["export"]["fit"] == "tile"

    # the same export again never replaces a file: the image's whole group gets a number
    assert dialog.update_plan() == 3 and "3 files get a number added" in dialog.plan_label.text()
    second = export(qtbot, dialog)
    assert not set(second.written) & set(report.written)
    assert all(" (2)-" in p.name for p in second.written)


def test_span_on_mixed_dpi_screens_saves_each_screen_at_its_native_size(qtbot, tmp_path, gallery):
    layout = span_layout(MIXED_DPI)
    assert layout.size == (704, 216)
    source = coded(layout.size)  # already the canvas size: the cover crop keeps every pixel
    record = add(gallery, source, "mixed dpi", 4)
    dialog = make_dialog(qtbot, [record], tmp_path, screens=MIXED_DPI)
    dialog.span_box.setChecked(True)
    assert dialog.span_box.screens_label.text() == "2 screens: 320×200 (2×), 192×108"

    report = export(qtbot, dialog)
    (result,) = report.spans
    parts = crop_screens(source, layout)
    assert [Image.open(p).size for p in result.screens] == [(320, 200), (192, 108)]
    for path, (_screen, part) in zip(result.screens, parts, strict=True):
        assert np.array_equal(pixels(path), np.asarray(part))
    assert not dialog.wallpaper.isHidden() and dialog.wallpaper.pick.spanned


def test_a_failing_span_write_leaves_none_of_that_images_files(tmp_path, gallery, monkeypatch):
    record = add(gallery, noise(100, 60, seed=5), "fragile", 1)
    layout = span_layout(SIDE_BY_SIDE)
    options = ExportOptions(targets=[], out_dir=tmp_path / "out")
    items = span_export.plan_span([record], layout, options)

    def full_disk(image, path, params, **kwargs):  # the fault: the span picture cannot be written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(span_export.metadata, "save_image", full_disk)
    report = span_export.run_span(items, options)
    assert not report.written and "No space left on device" in report.failed[0][1]
    assert list((tmp_path / "out").iterdir()) == []


def _capture():
    calls: list[tuple[list[str], str]] = []

    def run(command, **_kwargs):  # only records the command: no desktop is changed
        calls.append((command, threading.current_thread().name))
        return subprocess.CompletedProcess(command, 0, "", "")

    return calls, run


def test_set_as_wallpaper_runs_off_the_ui_thread_and_names_the_desktop(qtbot, tmp_path, gallery):
    record = add(gallery, noise(64, 64, seed=8), "single tile", 2, tileable="both")
    dialog = make_dialog(qtbot, [record], tmp_path)
    dialog.single_tile_box.setChecked(True)  # no size checked: just the tile
    report = export(qtbot, dialog)
    (path,) = report.written
    assert not dialog.wallpaper.isHidden() and dialog.wallpaper.pick == WallpaperPick(path, tiled=True)

    calls, run = _capture()
    dialog.wallpaper.setter = functools.partial(set_wallpaper, desktop="gnome", run=run)
    with qtbot.waitSignal(dialog.wallpaper.done, timeout=10000) as blocker:
        qtbot.mouseClick(dialog.wallpaper.button, Qt.MouseButton.LeftButton)
    assert blocker.args == [f"Wallpaper set on GNOME (tiled): {path.name}", False]
    assert dialog.wallpaper.status.text() == blocker.args[0]
    uri = path.resolve().as_uri()
    assert [c for c, _thread in calls] == [
        ["gsettings", "set", "org.gnome.desktop.background", "picture-uri", uri],
        ["gsettings", "set", "org.gnome.desktop.background", "picture-uri-dark", uri],
        ["gsettings", "set", "org.gnome.desktop.background", "picture-options", "wallpaper"],
    ]
    assert all(thread != threading.main_thread().name for _c, thread in calls)


def test_set_as_wallpaper_shows_the_desktops_refusal_in_the_dialog(qtbot, tmp_path, gallery):
    record = add(gallery, noise(96, 54, seed=6), "a lake", 3)
    dialog = make_dialog(qtbot, [record], tmp_path)
    dialog.set_sizes(["1080p"])
    export(qtbot, dialog)
    assert not dialog.wallpaper.isHidden() and not dialog.wallpaper.pick.tiled

    def refusing(command, **_kwargs):  # the fault injected: gsettings has no background schema
        return subprocess.CompletedProcess(command, 1, "", "No such schema “org.gnome.desktop.background”\n")

    dialog.wallpaper.setter = functools.partial(set_wallpaper, desktop="gnome", run=refusing)
    with qtbot.waitSignal(dialog.wallpaper.done, timeout=10000) as blocker:
        assert dialog.wallpaper.set_now()
    message, error = blocker.args
    assert error and message == "Could not set the wallpaper: setting the wallpaper failed: gsettings: No such schema " \
                                "“org.gnome.desktop.background”"
    assert "d9534f" in dialog.wallpaper.status.styleSheet() and dialog.wallpaper.button.isEnabled()

    dialog.wallpaper.setter = functools.partial(set_wallpaper, desktop="xfce")
    with qtbot.waitSignal(dialog.wallpaper.done, timeout=10000) as blocker:
        assert dialog.wallpaper.set_now()
    assert "not one Sigma Studio can set wallpapers on" in blocker.args[0]


def test_a_span_on_several_screens_sets_what_each_desktop_can_show(tmp_path):
    picture = tmp_path / "wall-span-680x180.png"
    noise(68, 18, seed=1).save(picture)
    screens = []
    for index, (name, x) in enumerate((("DELL U2720Q", 1920), ("Built-in Retina Display", 0)), start=1):
        path = tmp_path / f"wall-screen{index}.png"
        noise(32, 18, seed=index).save(path)
        screens.append(ScreenFile(name, x, 0, path))
    pick = WallpaperPick(picture, spanned=True, screens=tuple(screens))
    calls, run = _capture()
    message = set_picked(pick, functools.partial(set_wallpaper, desktop="gnome", run=run))
    assert calls[-1][0][-1] == "spanned" and calls[0][0][-1] == picture.resolve().as_uri()
    assert message == f"Wallpaper set on GNOME: the span picture {picture.name}, stretched across your 2 screens"

    calls.clear()  # KDE Plasma: one script giving each screen its own file, left to right
    message = set_picked(pick, functools.partial(set_wallpaper, desktop="kde", run=run, which={}.get))
    (command,) = [c for c, _thread in calls]
    assert command[:4] == ["qdbus", "org.kde.plasmashell", "/PlasmaShell", "org.kde.PlasmaShell.evaluateScript"]
    script = command[4]
    assert script.index(screens[1].path.resolve().as_uri()) < script.index(screens[0].path.resolve().as_uri())
    assert message == f"Wallpaper set on KDE Plasma: each of your 2 screens shows its own file from {tmp_path}"

    calls.clear()  # macOS: each desktop by its display name
    set_picked(pick, functools.partial(set_wallpaper, desktop="macos", run=run))
    (command,) = [c for c, _thread in calls]
    lines = command[2::2]
    assert command[0] == "osascript" and lines[0] == 'tell application "System Events"'
    assert f'set picture of (first desktop whose display name is "DELL U2720Q") to "{screens[0].path.resolve()}"' in lines

    calls.clear()  # two identical monitors: macOS cannot tell them apart, so the span picture and a hint
    twins = tuple(ScreenFile("DELL U2720Q", f.x, f.y, f.path) for f in screens)
    message = set_picked(WallpaperPick(picture, spanned=True, screens=twins),
                         functools.partial(set_wallpaper, desktop="macos", run=run))
    assert str(picture.resolve()) in calls[0][0][-1] and "the 2 per-screen files" in message


def test_the_span_exports_pick_names_each_screens_file_and_place(qtbot, tmp_path, gallery):
    record = add(gallery, noise(120, 40, seed=3), "two screens", 5)
    dialog = make_dialog(qtbot, [record], tmp_path, screens=SIDE_BY_SIDE)
    dialog.span_box.setChecked(True)
    report = export(qtbot, dialog)
    pick = dialog.wallpaper.pick
    assert pick.spanned and pick.path == report.spans[0].picture
    assert [(f.name, f.x, f.y, f.path) for f in pick.screens] == [
        (s.name, s.x, s.y, p) for s, p in zip(SIDE_BY_SIDE, report.spans[0].screens, strict=True)]


def test_cancelling_a_span_export_stops_between_images_and_keeps_only_whole_groups(tmp_path, gallery):
    records = [add(gallery, noise(100, 60, seed=s), f"span {s}", s) for s in range(4)]
    layout = span_layout(SIDE_BY_SIDE)
    options = ExportOptions(targets=[], out_dir=tmp_path / "out")
    items = span_export.plan_span(records, layout, options)
    progress = []

    report = span_export.run_span(items, options, on_progress=lambda done, total, path: progress.append(done),
                                  should_cancel=lambda: len(progress) >= 2)

    assert report.cancelled and progress == [1, 2] and len(report.spans) == 2
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(p.name for p in report.written)
    assert len(names) == 2 * (len(SIDE_BY_SIDE) + 1)  # each finished image: a file per screen and the span
    for result in report.spans:
        assert [Image.open(p).size for p in result.screens] == [(s.width, s.height) for s in SIDE_BY_SIDE]
