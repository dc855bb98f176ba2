"""Poster mode (issue 13): data, contrast, automatic layout, raster export with metadata, presets,
the gallery keeping a poster, batch export re-flowing it, and the `poster` command line.

Qt text needs an application: every test that lays out or draws text takes pytest-qt's `qapp`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from app import metadata
from app.poster import contrast
from app.poster.model import Poster, PosterError, TextLayer, make_poster, parse_paper, poster_from_params


def split_image(busy: str, size=(600, 400), seed=0) -> Image.Image:
    """A picture with one busy half (coloured noise) and one calm half (flat blue-grey)."""
    width, height = size
    rng = np.random.default_rng(seed)
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = (70, 90, 110)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if busy == "left":
        pixels[:, : width // 2] = noise[:, : width // 2]
    elif busy == "right":
        pixels[:, width // 2 :] = noise[:, width // 2 :]
    elif busy == "top":
        pixels[: height // 2] = noise[: height // 2]
    else:
        pixels[height // 2 :] = noise[height // 2 :]
    return Image.fromarray(pixels)


# -- data -------------------------------------------------------------------------------------


def test_poster_json_round_trip_and_validation():
    poster = make_poster("Title", "Sub", "Footer", safe_area="phone")
    poster.layers[0].x, poster.layers[0].y = 0.5, 0.2
    again = Poster.from_dict(json.loads(json.dumps(poster.to_dict())))
    assert again == poster
    bad = poster.to_dict()
    bad["layers"][0]["size"] = 3
    with pytest.raises(PosterError, match="'title': size"):
        Poster.from_dict(bad)
    with pytest.raises(PosterError, match="newer"):
        Poster.from_dict({**poster.to_dict(), "version": 99})
    assert poster_from_params({"prompt": "x"}) is None


def test_paper_sizes_and_names():
    a3 = parse_paper("a3-portrait")
    assert (a3.width_mm, a3.height_mm, a3.bleed_mm) == (297, 420, 3.0)
    assert a3.pixels(300) == (3508, 4961)
    assert parse_paper("A4 landscape", 0).width_mm == 297
    assert parse_paper("letter").width_mm == pytest.approx(215.9)
    with pytest.raises(PosterError, match="unknown paper"):
        parse_paper("b5")
    with pytest.raises(PosterError, match="bleed"):
        parse_paper("a4", bleed_mm=50)


# -- contrast ---------------------------------------------------------------------------------


def test_wcag_contrast_values():
    white, black = contrast.luminance((255, 255, 255)), contrast.luminance((0, 0, 0))
    assert contrast.ratio(white, black) == pytest.approx(21.0)
    grey = contrast.luminance((0x77, 0x77, 0x77))
    assert contrast.ratio(grey, white) == pytest.approx(4.48, abs=0.01)  # the classic just-fails-AA grey


def test_contrast_picks_the_readable_colour_and_says_when_aa_fails():
    light = np.full((100, 3), 235.0)
    dark = np.full((100, 3), 20.0)
    assert contrast.check_layer("title", "auto", light).colour == "#000000"
    assert contrast.check_layer("title", "auto", dark).colour == "#ffffff"
    mid = np.full((100, 3), 128.0)
    result = contrast.check_layer("title", "#909090", mid)
    assert not result.ok and result.ratio < 4.5
    assert "is below WCAG AA 4.5:1" in result.message and "band" in result.message
    fixed = contrast.check_layer("title", "#909090", np.full((100, 3), 120.0), band=True, band_colour="#000000",
                                 band_opacity=0.9)
    assert fixed.ok and fixed.ratio >= 4.5


def test_a_band_is_added_when_no_colour_reaches_aa():
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (2000, 3)).astype(np.float64)  # every luminance: no plain colour reaches AA
    result = contrast.check_layer("title", "auto", noise, add_band=True)
    assert result.ok and result.band_opacity is not None and 0 < result.band_opacity <= 1
    assert contrast.contrast_over(contrast.hex_to_rgb(result.colour), noise) < 4.5


# -- layout -----------------------------------------------------------------------------------


def _centre(rect):
    return (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2


@pytest.mark.parametrize("busy", ["left", "right", "top", "bottom"])
def test_text_goes_to_the_calm_half(qapp, busy):
    from app.poster.layout import layout

    image = split_image(busy, size=(600, 400) if busy in ("left", "right") else (400, 600))
    placements = layout(image, make_poster("Harbour Lights", "A night by the sea"))
    assert [p.role for p in placements] == ["title", "subtitle"]
    for place in placements:
        cx, cy = _centre(place.block.rect)
        left, top, right, bottom = place.block.rect
        if busy == "left":
            assert left >= image.width / 2 - 2, place.block.rect
        elif busy == "right":
            assert right <= image.width / 2 + 2, place.block.rect
        elif busy == "top":
            assert top >= image.height / 2 - 2, place.block.rect
        else:
            assert bottom <= image.height / 2 + 2, place.block.rect
        assert place.contrast.ok, place.contrast.message


def test_layout_keeps_to_the_safe_area(qapp):
    from app.poster.layout import layout, safe_rect

    image = Image.new("RGB", (540, 960), (30, 30, 30))
    for area in ("print", "phone"):
        poster = make_poster("Clock-free title", "subtitle", "footer", safe_area=area)
        safe = safe_rect(area, 540, 960)
        for place in layout(image, poster):
            left, top, right, bottom = place.block.rect
            assert safe[0] - 1 <= left and right <= safe[2] + 1 and safe[1] - 1 <= top and bottom <= safe[3] + 1
    phone = layout(image, make_poster("T", safe_area="phone"))[0]
    assert phone.block.top >= 0.30 * 960 - 1  # below the status bar and the lock-screen clock


def test_placed_layers_stay_and_the_subtitle_follows(qapp):
    from app.poster.layout import layout

    poster = make_poster("Placed", "follows")
    poster.layers[0].x, poster.layers[0].y = 0.5, 0.6
    title, subtitle = layout(Image.new("RGB", (800, 800), "white"), poster)
    assert title.block.anchor_x == pytest.approx(400) and title.block.top == pytest.approx(480)
    assert subtitle.block.top > title.block.top + title.block.height - 1


def test_snap_to_guides():
    from app.poster.layout import snap

    assert snap(0.49, 0.0, 1.0, 0.02) == 0.5
    assert snap(0.30, 0.0, 1.0, 0.02) == 0.30
    assert snap(0.34, 0.0, 1.0, 0.02) == pytest.approx(1 / 3)


def test_missing_font_is_a_clear_error(qapp):
    from app.poster.layout import layout
    from app.poster.text import FontError, bundled_families, resolve_family

    assert bundled_families() == ["EB Garamond", "Lato", "Bebas Neue", "Roboto Condensed"]
    assert resolve_family("serif") == "EB Garamond" and resolve_family("lato") == "Lato"
    poster = make_poster("x", family="No Such Font 42")
    with pytest.raises(FontError, match="'No Such Font 42' is not installed"):
        layout(Image.new("RGB", (100, 100)), poster)


# -- raster export and metadata ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_metadata_round_trip(qapp, tmp_path, suffix):
    from app.poster.render import export_raster

    poster = make_poster("Round Trip", "kept as data", "2026")
    poster.layers[1].effect = "outline"
    params = metadata.build_params("a lighthouse", "", 512, 724, 20, 4.5, 7, "demo", "auto")
    path, _placements = export_raster(split_image("top", (300, 400)), poster, tmp_path / f"p{suffix}", (600, 800), params)
    read = metadata.read_params(path)
    assert read["prompt"] == "a lighthouse" and read["seed"] == 7
    assert (read["width"], read["height"]) == (600, 800)
    assert poster_from_params(read) == poster
    assert Image.open(path).size == (600, 800)


def test_text_is_drawn_in_the_chosen_colour(qapp):
    from app.poster.render import render_image

    image = Image.new("RGB", (400, 300), (20, 20, 20))
    rendered, placements = render_image(image, make_poster("WHITE"))
    left, top, right, bottom = (round(v) for v in placements[0].block.rect)
    box = np.asarray(rendered.crop((left, top, right, bottom)))
    assert placements[0].colour == "#ffffff"
    assert (box.min(axis=2) > 200).sum() > 0.05 * box.shape[0] * box.shape[1]  # white glyph pixels
    assert np.asarray(rendered)[5, 5].tolist() == [20, 20, 20]  # outside the text: the picture untouched


def test_full_disk_and_cancel_leave_no_file(qapp, tmp_path, monkeypatch):
    import shutil as shutil_module

    from app.poster import render

    poster = make_poster("Nothing half-written")
    image = Image.new("RGB", (200, 200))
    out = tmp_path / "out"
    with pytest.raises(render.Cancelled):
        render.export_raster(image, poster, out / "c.png", should_cancel=lambda: True)

    def disk_full(self, fp, *args, **kwargs):  # the disk fills up while the file is being written
        with open(fp, "wb") as handle:
            handle.write(b"partial")
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Image.Image, "save", disk_full)
        with pytest.raises(render.PosterExportError, match="No space left on device"):
            render.export_raster(image, poster, out / "e.png")
    usage = shutil_module.disk_usage(out)
    monkeypatch.setattr(render.shutil, "disk_usage", lambda _p: usage._replace(free=1000))
    with pytest.raises(render.PosterExportError, match="Not enough disk space"):
        render.export_raster(image, poster, out / "d.png")
    assert list(out.iterdir()) == []


# -- presets, gallery, batch export -----------------------------------------------------------


def test_a_preset_may_carry_a_poster_layout():
    from app.presets import PresetError, parse_presets, preset_to_dict

    poster = make_poster("Look", "again").to_dict()
    text = json.dumps({"format": "sigma-studio-preset", "prompt": "a city", "poster": poster})
    preset = parse_presets(text, "look.preset.json")[0]
    assert Poster.from_dict(preset.poster) == Poster.from_dict(poster)
    assert preset_to_dict(preset)["poster"] == preset.poster
    plain = parse_presets(json.dumps({"format": "sigma-studio-preset", "prompt": "a"}), "p.preset.json")[0]
    assert plain.poster is None and "poster" not in preset_to_dict(plain)
    bad = json.dumps({"format": "sigma-studio-preset", "prompt": "a", "poster": {"layers": [{"role": "title", "align": "up"}]}})
    with pytest.raises(PresetError, match='"poster": poster layer \'title\': align'):
        parse_presets(bad, "bad.preset.json")


def _gallery_with_picture(tmp_path, image=None):
    from app.gallery.store import Gallery

    gallery = Gallery(tmp_path / "gallery")
    params = metadata.build_params("a harbour", "", 400, 600, 20, 4.5, 3, "demo", "auto")
    record = gallery.add(image or split_image("top", (400, 600)), params)
    return gallery, record


def test_the_gallery_keeps_the_poster_and_the_original_pixels(qapp, tmp_path):
    from app.gallery.store import Gallery

    gallery, record = _gallery_with_picture(tmp_path)
    before = np.asarray(Image.open(record.path)).copy()
    poster = make_poster("Kept", "as data")
    poster.layers[0].x, poster.layers[0].y = 0.5, 0.7
    gallery.set_poster(record.id, poster.to_dict())
    gallery.close()
    reopened = Gallery(tmp_path / "gallery")
    again = reopened.get(record.id)
    assert poster_from_params(again.params) == poster
    assert poster_from_params(metadata.read_params(again.path)) == poster  # in the PNG's Contract-2 JSON
    assert np.array_equal(np.asarray(Image.open(again.path)), before)  # the picture itself untouched
    reopened.set_poster(record.id, None)
    assert "poster" not in reopened.get(record.id).params
    reopened.close()


def test_batch_export_reflows_the_poster_to_each_size(qapp, tmp_path):
    from app.export import ExportOptions, ExportTarget, plan_export, resize_to_target, run_export
    from app.poster.layout import layout, safe_rect
    from app.poster.render import fit_image

    gallery, record = _gallery_with_picture(tmp_path, split_image("top", (800, 800)))
    poster = make_poster("A Long Festival Title For Every Screen", "subtitle line")
    record = gallery.set_poster(record.id, poster.to_dict())
    targets = [ExportTarget(1080, 1920, "phone"), ExportTarget(1920, 1080, "desktop")]
    options = ExportOptions(targets=targets, out_dir=tmp_path / "out", fmt="png")
    report = run_export(plan_export([record], options), options)
    assert len(report.written) == 2 and not report.failed
    source = Image.open(record.path).convert("RGB")
    lines = {}
    for path, target in zip(sorted(report.written, key=lambda p: Image.open(p).width), targets):
        exported = Image.open(path).convert("RGB")
        assert exported.size == (target.width, target.height)
        assert poster_from_params(metadata.read_params(path)) == poster
        plain = resize_to_target(source, target).convert("RGB")
        assert not np.array_equal(np.asarray(exported), np.asarray(plain))  # the text is drawn in
        placements = layout(fit_image(source, exported.size), poster)
        safe = safe_rect("print", *exported.size)
        for place in placements:
            left, top, right, bottom = place.block.rect
            assert safe[0] - 1 <= left and right <= safe[2] + 1 and safe[1] - 1 <= top and bottom <= safe[3] + 1
            assert top >= exported.height / 2 - 2  # still on the calm (bottom) half at each aspect
        lines[target.label] = len(placements[0].block.lines)
    assert lines["phone"] > lines["desktop"]  # the narrow size wraps the title onto more lines
    gallery.close()


def test_batch_export_without_the_poster(qapp, tmp_path):
    from app.export import ExportOptions, ExportTarget, plan_export, run_export

    gallery, record = _gallery_with_picture(tmp_path)
    record = gallery.set_poster(record.id, make_poster("T").to_dict())
    options = ExportOptions(targets=[ExportTarget(200, 300)], out_dir=tmp_path / "out", poster=False)
    report = run_export(plan_export([record], options), options)
    assert "poster" not in metadata.read_params(report.written[0])
    gallery.close()


# -- command line -----------------------------------------------------------------------------


def test_cli_poster_writes_an_image(qapp, tmp_path, capsys):
    from app.cli import run_cli

    split_image("top", (300, 420)).save(tmp_path / "in.png")
    out = tmp_path / "poster.png"
    code = run_cli(["poster", str(tmp_path / "in.png"), "--title", "CLI Poster", "--subtitle", "made here",
                    "--paper", "a4-portrait", "--size", "420x594", "--font", "serif", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert Image.open(out).size == (420, 594)
    poster = poster_from_params(metadata.read_params(out))
    assert poster.layer("title").text == "CLI Poster" and poster.layer("title").family == "EB Garamond"
    assert "meets WCAG AA" in capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    ({"image": "missing.png"}, "file not found"),
    ({"--font": "No Such Font"}, "not installed"),
    ({"--paper": "b5"}, "unknown paper"),
    ({"--out": "poster.gif"}, "use a .pdf"),
    ({"--title-pos": "2,0.5"}, "from 0 to 1"),
    ({"--size": "axb"}, "use WxH"),
])
def test_cli_poster_bad_input_is_exit_2_with_one_line_and_no_file(qapp, tmp_path, capsys, monkeypatch, change, message):
    from app.cli import run_cli

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    Image.new("RGB", (64, 64)).save(work / "in.png")
    args = {"image": "in.png", "--title": "T", "--paper": "a4-portrait", "--out": "poster.png", **change}
    argv = ["poster", args.pop("image")] + [part for item in args.items() for part in item]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert sorted(p.name for p in work.iterdir()) == ["in.png"]


def test_poster_is_a_cli_command():
    from app.bootstrap import CLI_COMMANDS

    assert "poster" in CLI_COMMANDS


def test_layer_defaults_are_valid():
    for role in ("title", "subtitle", "footer"):
        TextLayer(role=role).validate()


def test_main_py_routes_poster_and_writes_a_pdf_without_a_display(tmp_path):
    """The real entry point in a fresh process: no QApplication made by the test, no display."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    split_image("bottom", (210, 297)).save(tmp_path / "in.png")
    env = {**os.environ, "QT_QPA_PLATFORM": "", "DISPLAY": ""}
    command = [sys.executable, str(root / "main.py"), "poster", str(tmp_path / "in.png"), "--title", "From main",
               "--paper", "a4-portrait", "--crop-marks", "--out", str(tmp_path / "out.pdf")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and "will print at" in done.stderr
    assert (tmp_path / "out.pdf").read_bytes().startswith(b"%PDF")
    bad = subprocess.run(command[:-1] + [str(tmp_path / "out.txt")], capture_output=True, text=True, env=env,
                         cwd=root, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.txt").exists()
