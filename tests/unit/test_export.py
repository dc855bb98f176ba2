"""Batch export: real gallery records exported to several sizes and formats in a temporary folder."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from app import export as export_module
from app import metadata
from app.atomic import atomic_write
from app.export import (
    ExportError,
    ExportOptions,
    ExportTarget,
    export_one,
    plan_export,
    render_name,
    resize_to_target,
    run_export,
    safe_filename,
    slugify,
    smart_crop_box,
)
from app.gallery import Gallery

TARGETS = [
    ExportTarget(320, 180, "Wallpaper"),
    ExportTarget(120, 260, "Phone"),
    ExportTarget(150, 212, "A-series poster", dpi=300),
]
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def make_image(width: int, height: int, seed: int) -> Image.Image:
    """A small procedural picture: coloured gradient with seed-dependent shapes."""
    base = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", (base, base.rotate(90).resize((width, height)), base.point(lambda v: 255 - v)))
    draw = ImageDraw.Draw(image)
    for i in range(5):
        x, y = (seed * 41 + i * 67) % width, (seed * 23 + i * 31) % height
        draw.rectangle((x, y, x + width // 6, y + height // 6), fill=(200, (seed * 80) % 256, 30 * i))
    return image


def params_for(prompt: str, seed: int, width: int, height: int) -> dict:
    """Generation settings as the worker stores them."""
    return metadata.build_params(prompt, "blurry", width, height, steps=20, guidance=4.5, seed=seed,
                                 model="tiny", kv_compress="off")


@pytest.fixture
def records(tmp_path):
    """Two gallery records: a landscape and a portrait image."""
    store = Gallery(tmp_path / "gallery")
    made = [
        store.add(make_image(480, 270, 1), params_for("Neon city at night: rain / reflections", 11, 480, 270)),
        store.add(make_image(270, 480, 2), params_for("Mountain lake at sunrise", 22, 270, 480)),
    ]
    yield made
    store.close()


def files_in(folder: Path) -> list[str]:
    """Names of all files (hidden temp files included) in folder."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def dpi_of(path: Path) -> float | None:
    """The DPI stored in an image file (pHYs, JFIF or EXIF resolution), or None."""
    with Image.open(path) as image:
        if "dpi" in image.info:
            return float(image.info["dpi"][0])
        resolution = image.getexif().get(0x011A)
        return float(resolution) if resolution else None


# ---------------------------------------------------------------------------------------------
# Export of real records
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fit", ["crop", "fit", "smart"])
def test_two_images_three_sizes_two_formats(records, tmp_path, fit):
    out = tmp_path / "out"
    options = ExportOptions(targets=TARGETS, fmt=("png", "jpeg"), fit=fit, out_dir=out)
    progress = []

    items = plan_export(records, options)
    report = run_export(items, options, on_progress=lambda done, total, path: progress.append((done, total)))

    assert len(items) == 12 and len(report.written) == 12
    assert report.failed == [] and report.skipped == [] and report.cancelled is False
    assert progress == [(i, 12) for i in range(1, 13)]
    assert len({p.name for p in report.written}) == 12
    for item, path in zip(items, report.written):
        assert path == item.dest and path.parent == out
        with Image.open(path) as image:
            assert image.size == (item.target.width, item.target.height)
            assert image.format == PIL_FORMATS[item.fmt]
        params = metadata.read_params(path)
        assert params["prompt"] == item.record.prompt and params["seed"] == item.record.seed
        assert params["export"]["width"] == item.target.width and params["export"]["height"] == item.target.height
        assert params["export"]["fit"] == fit and params["export"]["source_id"] == item.record.id
        if item.target.dpi:
            assert dpi_of(path) == pytest.approx(300, abs=0.1)
            assert params["dpi"] == 300
    assert files_in(out) == sorted(p.name for p in report.written)  # no temp files left


def test_webp_export_keeps_size_metadata_and_dpi(records, tmp_path):
    options = ExportOptions(targets=[TARGETS[2]], fmt="webp", out_dir=tmp_path / "out", quality=80)

    report = run_export(plan_export(records[:1], options), options)

    (path,) = report.written
    assert path.suffix == ".webp"
    with Image.open(path) as image:
        assert image.format == "WEBP" and image.size == (150, 212)
    assert metadata.read_params(path)["export"]["format"] == "webp"
    assert dpi_of(path) == pytest.approx(300)


def test_file_names_follow_the_template(records, tmp_path):
    options = ExportOptions(targets=TARGETS[:1], out_dir=tmp_path, template="{date}-{id}-{label}-{fmt}-{name}")

    (item,) = plan_export(records[:1], options)

    date = records[0].created[:10]
    assert item.dest.name == f"{date}-{records[0].id}-Wallpaper-png-neon-city-at-night-rain-reflections.png"
    default = plan_export(records[:1], ExportOptions(targets=TARGETS[:1], out_dir=tmp_path))[0]
    assert default.dest.name == "neon-city-at-night-rain-reflections_320x180_11.png"


def test_second_run_never_overwrites(records, tmp_path):
    out = tmp_path / "out"
    options = ExportOptions(targets=TARGETS[:2], fmt="png", out_dir=out)
    first = run_export(plan_export(records, options), options)
    before = {p: p.read_bytes() for p in first.written}

    second = run_export(plan_export(records, options), options)
    third = plan_export(records, options)

    assert all(p.stem.endswith(" (2)") for p in second.written)
    assert [p.name for p in second.written] == [f"{p.stem} (2){p.suffix}" for p in first.written]
    assert all(item.dest.stem.endswith(" (3)") for item in third)
    assert all(p.read_bytes() == data for p, data in before.items())

    replace = ExportOptions(targets=TARGETS[:2], fmt="png", out_dir=out, overwrite=True)
    assert [item.dest for item in plan_export(records, replace)] == first.written


def test_duplicates_within_a_plan_get_suffixes(records, tmp_path):
    options = ExportOptions(targets=[TARGETS[0], TARGETS[0]], out_dir=tmp_path, template="{name}", overwrite=True)

    items = plan_export([records[0], records[0]], options)

    names = [item.dest.name for item in items]
    base = "neon-city-at-night-rain-reflections"
    assert names == [f"{base}.png", f"{base} (2).png", f"{base} (3).png", f"{base} (4).png"]


def test_file_appearing_after_planning_is_not_overwritten(records, tmp_path):
    options = ExportOptions(targets=TARGETS[:1], out_dir=tmp_path)
    (item,) = plan_export(records[:1], options)
    item.dest.write_bytes(b"the user's own file")

    written = export_one(item, options)

    assert written.name == f"{item.dest.stem} (2).png"
    assert item.dest.read_bytes() == b"the user's own file"


def test_cancel_stops_between_files_and_leaves_no_partial_file(records, tmp_path):
    out = tmp_path / "out"
    options = ExportOptions(targets=TARGETS, fmt=("png", "webp"), out_dir=out)
    items = plan_export(records, options)
    done_count = []

    report = run_export(items, options, on_progress=lambda done, total, path: done_count.append(done),
                        should_cancel=lambda: len(done_count) >= 5)

    assert report.cancelled is True and len(report.written) == 5 and done_count == [1, 2, 3, 4, 5]
    assert files_in(out) == sorted(p.name for p in report.written)
    for path in report.written:
        with Image.open(path) as image:
            image.load()


def test_failure_while_writing_leaves_no_partial_file(records, tmp_path, monkeypatch):
    out = tmp_path / "out"
    options = ExportOptions(targets=TARGETS[:2], out_dir=out)
    items = plan_export(records[:1], options)
    real_save = metadata.save_image

    def save_half_then_fail(image, path, params, **kwargs):
        if Path(path) == items[1].dest:
            def write_half(temp):
                temp.write_bytes(b"\x89PNG half a file")
                raise OSError(28, "No space left on device")
            atomic_write(path, write_half)
        return real_save(image, path, params, **kwargs)

    monkeypatch.setattr(export_module.metadata, "save_image", save_half_then_fail)
    report = run_export(items, options)

    assert report.written == [items[0].dest]
    ((failed_item, reason),) = report.failed
    assert failed_item is items[1] and "No space left" in reason and str(items[1].dest) in reason
    assert files_in(out) == [items[0].dest.name]


def test_missing_source_is_skipped_with_a_reason(records, tmp_path):
    records[1].path.unlink()
    options = ExportOptions(targets=TARGETS[:1], out_dir=tmp_path / "out")

    report = run_export(plan_export(records, options), options)

    assert len(report.written) == 1
    ((item, reason),) = report.skipped
    assert item.record is records[1] and "missing" in reason and str(records[1].path) in reason


# ---------------------------------------------------------------------------------------------
# Fit modes
# ---------------------------------------------------------------------------------------------

def detail_on_one_side(width: int, height: int, side: str) -> Image.Image:
    """Flat grey with random noise squares filling the quarter of the image at `side`."""
    image = Image.new("RGB", (width, height), (128, 128, 128))
    draw = ImageDraw.Draw(image)
    rng = random.Random(0)
    if side in ("left", "right"):
        x0 = 0 if side == "left" else width * 3 // 4
        region = (x0, 0, x0 + width // 4, height)
    else:
        y0 = 0 if side == "top" else height * 3 // 4
        region = (0, y0, width, y0 + height // 4)
    for x in range(region[0], region[2], 4):
        for y in range(region[1], region[3], 4):
            draw.rectangle((x, y, x + 3, y + 3), fill=tuple(rng.randrange(256) for _ in range(3)))
    return image


@pytest.mark.parametrize("side", ["left", "right", "top", "bottom"])
def test_smart_crop_picks_the_detailed_region(side):
    horizontal = side in ("left", "right")
    image = detail_on_one_side(800, 300, side) if horizontal else detail_on_one_side(300, 800, side)

    left, top, right, bottom = smart_crop_box(image, (300, 300))

    assert right - left == pytest.approx(300) and bottom - top == pytest.approx(300)
    detail = {"left": (0, 200), "right": (600, 800), "top": (0, 200), "bottom": (600, 800)}[side]
    start, end = (left, right) if horizontal else (top, bottom)
    assert start <= detail[0] + 1 and end >= detail[1] - 1  # the whole detailed quarter is inside

    cropped = resize_to_target(image, ExportTarget(150, 150), fit="smart")
    centre = resize_to_target(image, ExportTarget(150, 150), fit="crop")
    assert cropped.size == (150, 150)
    assert len(cropped.getcolors(1 << 24)) > 10 * len(centre.getcolors(1 << 24))


def test_smart_crop_of_a_flat_image_is_centred():
    image = Image.new("RGB", (640, 320), (10, 20, 30))

    assert smart_crop_box(image, (100, 100)) == pytest.approx((160, 0, 480, 320))
    assert smart_crop_box(image, (200, 100)) == (0, 0, 640, 320)  # same ratio: nothing to choose


def test_fit_pads_with_the_pad_colour_and_crop_fills():
    image = Image.new("RGB", (400, 100), (255, 0, 0))

    fitted = resize_to_target(image, ExportTarget(200, 200), fit="fit", pad_color=(0, 0, 255))
    cropped = resize_to_target(image, ExportTarget(200, 200), fit="crop")

    assert fitted.size == cropped.size == (200, 200)
    assert fitted.getpixel((100, 5)) == (0, 0, 255) and fitted.getpixel((100, 195)) == (0, 0, 255)
    assert fitted.getpixel((100, 100)) == (255, 0, 0) and fitted.getpixel((0, 100)) == (255, 0, 0)
    assert cropped.getcolors() == [(200 * 200, (255, 0, 0))]


@pytest.mark.parametrize("size", [(1, 1), (333, 77), (77, 333), (1001, 999)])
@pytest.mark.parametrize("fit", ["crop", "fit", "smart"])
def test_pixel_sizes_are_exact(size, fit):
    image = make_image(301, 199, 3)

    assert resize_to_target(image, ExportTarget(*size), fit=fit).size == size


# ---------------------------------------------------------------------------------------------
# Names and errors
# ---------------------------------------------------------------------------------------------

def test_slug_and_file_names_are_safe_everywhere():
    assert slugify("Neon city, at NIGHT!") == "neon-city-at-night"
    assert slugify("Café Ürban ☕ dreams") == "cafe-urban-dreams"
    assert slugify("") == slugify("☕☕") == "untitled"
    long_slug = slugify("an extraordinarily detailed matte painting of a floating castle above clouds")
    assert len(long_slug) <= 40 and not long_slug.endswith("-") and long_slug.startswith("an-extraordinarily")
    assert slugify("x" * 100) == "x" * 40
    assert safe_filename('a/b\\c:d*e?f"g<h>i|j') == "a_b_c_d_e_f_g_h_i_j"
    assert safe_filename("CON") == "_CON" and safe_filename("nul.tar") == "_nul.tar"
    assert safe_filename("name. ") == "name" and safe_filename("...") == "image"
    assert len(safe_filename("y" * 400)) <= 150


def test_unknown_template_field_is_named(records, tmp_path):
    options = ExportOptions(targets=TARGETS[:1], out_dir=tmp_path, template="{name}_{resolution}")

    with pytest.raises(ExportError, match="'resolution'.*\\{name\\}"):
        plan_export(records, options)
    for bad, named in [("{}", "'{}'"), ("{name.upper}", "'name.upper'"), ("{name", "malformed")]:
        with pytest.raises(ExportError, match=named.replace("{", "\\{").replace("}", "\\}")):
            render_name(bad, records[0], TARGETS[0], "png")


def test_bad_options_are_refused_clearly(records, tmp_path):
    for change, message in [
        ({"fmt": "gif"}, "Unknown export format 'gif'"),
        ({"fit": "stretch"}, "Unknown fit mode 'stretch'"),
        ({"targets": []}, "No export sizes"),
        ({"targets": [ExportTarget(0, 10)]}, "at least 1x1"),
        ({"quality": 0}, "between 1 and 100"),
    ]:
        options = ExportOptions(**{"targets": TARGETS[:1], "out_dir": tmp_path, **change})
        with pytest.raises(ExportError, match=message):
            plan_export(records, options)
    assert ExportOptions(targets=TARGETS, out_dir=tmp_path, fmt=["JPG", "jpeg", ".png"]).formats == ("jpeg", "png")


def test_unwritable_export_folder_is_a_clear_error(records, tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("in the way")
    options = ExportOptions(targets=TARGETS[:1], out_dir=blocker / "exports")
    items = plan_export(records, options)

    with pytest.raises(ExportError, match="Cannot create the export folder .*Choose another folder"):
        run_export(items, options)
    with pytest.raises(ExportError, match="is a file"):
        plan_export(records, ExportOptions(targets=TARGETS[:1], out_dir=blocker))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions, not root")
def test_read_only_export_folder_is_a_clear_error(records, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        options = ExportOptions(targets=TARGETS[:1], out_dir=locked)
        with pytest.raises(ExportError, match="permission denied. Choose another folder"):
            run_export(plan_export(records, options), options)
    finally:
        locked.chmod(0o700)


def test_target_from_size_preset():
    from app.sizes import SIZE_PRESETS

    poster = next(p for p in SIZE_PRESETS if p.dpi)
    target = ExportTarget.from_preset(poster)

    assert (target.width, target.height, target.label, target.dpi) == (poster.width, poster.height,
                                                                       poster.label, poster.dpi)
