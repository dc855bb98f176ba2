"""Contract 2: settings written into PNG/JPEG/WebP files and read back with Pillow; atomic writes."""

from __future__ import annotations

import json
import os

import pytest
from PIL import ExifTags, Image, PngImagePlugin

from app.atomic import atomic_write, atomic_write_bytes, atomic_write_text
from app.metadata import (
    APP_VERSION,
    MetadataError,
    a1111_parameters,
    build_params,
    decode_user_comment,
    describe,
    encode_user_comment,
    parse_a1111,
    read_params,
    save_image,
)

CONTRACT_KEYS = {
    "version",
    "prompt",
    "negative",
    "width",
    "height",
    "steps",
    "guidance",
    "seed",
    "model",
    "kv_compress",
    "created",
}


@pytest.fixture
def params():
    """Settings of a 4K wallpaper with a non-ASCII prompt."""
    return build_params(
        "Neon city at night, rain — 東京",
        "blurry, text",
        3840,
        2160,
        20,
        4.5,
        42,
        "PixArt-alpha/PixArt-Sigma-XL-2-2K-MS",
        "auto",
    )


@pytest.fixture
def image():
    """A small RGB image."""
    return Image.new("RGB", (64, 48), (200, 40, 90))


def _user_comment(path):
    with Image.open(path) as im:
        return im.getexif().get_ifd(ExifTags.IFD.Exif)[0x9286]


# ---------------------------------------------------------------------------------------------------
# Parameters and A1111 text
# ---------------------------------------------------------------------------------------------------


def test_build_params_has_contract_keys(params):
    assert set(params) >= CONTRACT_KEYS
    assert params["version"] == APP_VERSION and APP_VERSION
    assert params["sampler"] == "DPM++ 2M"
    assert "T" in params["created"]


def test_build_params_keeps_extra_keys():
    params = build_params("p", "", 1024, 1024, 20, 4.5, 1, "m", "off", style="Cinematic")
    assert params["style"] == "Cinematic"


def test_a1111_text_exact_format():
    params = build_params("PROMPT", "NEG", 3840, 2160, 20, 4.5, 42, "NAME", "auto")
    assert a1111_parameters(params) == (
        "PROMPT\nNegative prompt: NEG\n"
        "Steps: 20, Sampler: DPM++ 2M, CFG scale: 4.5, Seed: 42, Size: 3840x2160, Model: NAME"
    )


def test_a1111_round_trip(params):
    parsed = parse_a1111(a1111_parameters(params))
    for key in ("prompt", "negative", "width", "height", "steps", "guidance", "seed", "model", "sampler"):
        assert parsed[key] == params[key], key


def test_a1111_quotes_values_with_commas():
    params = build_params("p", "", 1024, 1024, 20, 4.5, 1, "C:\\models\\a, b", "auto")
    assert parse_a1111(a1111_parameters(params))["model"] == "C:\\models\\a, b"


def test_parse_a1111_multiline_and_extra_keys():
    text = (
        "a castle\non a hill\nat dawn\nNegative prompt: ugly,\nbad hands\n"
        "Steps: 30, Sampler: Euler a, CFG scale: 7, Seed: 123, Size: 512x768, "
        'Model hash: abc123, Model: sd15, Clip skip: 2, Lora hashes: "x: 1, y: 2"'
    )
    parsed = parse_a1111(text)
    assert parsed["prompt"] == "a castle\non a hill\nat dawn"
    assert parsed["negative"] == "ugly,\nbad hands"
    assert (parsed["steps"], parsed["guidance"], parsed["seed"]) == (30, 7.0, 123)
    assert (parsed["width"], parsed["height"], parsed["sampler"], parsed["model"]) == (
        512,
        768,
        "Euler a",
        "sd15",
    )
    assert parsed["extra"] == {"Model hash": "abc123", "Clip skip": "2", "Lora hashes": "x: 1, y: 2"}


def test_parse_a1111_without_negative_or_settings():
    parsed = parse_a1111("a cat\nSteps: 20, Sampler: Euler, CFG scale: 5, Seed: -1, Size: 1024x1024")
    assert parsed["prompt"] == "a cat" and parsed["negative"] == ""
    assert parsed["seed"] is None
    assert parse_a1111("just a prompt") == {"prompt": "just a prompt", "negative": ""}


def test_describe(params):
    text = describe(params)
    assert "3840×2160" in text and "seed 42" in text and "PixArt-Sigma-XL-2-2K-MS" in text
    assert describe(None) == "No settings found"


def test_user_comment_encodings():
    assert encode_user_comment('{"a": 1}') == b'ASCII\0\0\0{"a": 1}'
    assert decode_user_comment(encode_user_comment("東京 ✓")) == "東京 ✓"
    assert decode_user_comment(b"UNICODE\0" + "hello 東京".encode("utf-16-le")) == "hello 東京"
    assert decode_user_comment(b"\0" * 8 + b"plain") == "plain"


# ---------------------------------------------------------------------------------------------------
# Round trips through real files
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg", ".webp"])
def test_round_trip_all_formats(tmp_path, image, params, suffix):
    path = save_image(image, tmp_path / f"out{suffix}", params)
    assert path == tmp_path / f"out{suffix}"
    read = read_params(path)
    assert {k: read[k] for k in CONTRACT_KEYS} == {k: params[k] for k in CONTRACT_KEYS}
    with Image.open(path) as im:
        assert im.size == (64, 48)
        assert im.format == {".png": "PNG", ".webp": "WEBP"}.get(suffix, "JPEG")


def test_png_chunks(tmp_path, image, params):
    path = save_image(image, tmp_path / "out.png", params)
    with Image.open(path) as im:
        assert im.text["parameters"] == a1111_parameters(params)
        assert json.loads(im.text["sigma-studio"])["prompt"] == params["prompt"]
    raw = path.read_bytes()
    assert b"iTXtsigma-studio" in raw


def test_exif_user_comment_has_charset_prefix(tmp_path, image, params):
    for suffix in (".jpg", ".webp"):
        comment = _user_comment(save_image(image, tmp_path / f"out{suffix}", params))
        assert comment[:8] in (b"ASCII\0\0\0", b"UNICODE\0")
        assert json.loads(decode_user_comment(comment))["seed"] == 42


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_dpi_kept(tmp_path, image, params, suffix):
    path = save_image(image, tmp_path / f"poster{suffix}", params, dpi=300)
    with Image.open(path) as im:
        assert tuple(round(v) for v in im.info["dpi"]) == (300, 300)
    assert read_params(path)["dpi"] == 300


def test_dpi_in_webp_exif(tmp_path, image, params):
    path = save_image(image, tmp_path / "poster.webp", params, dpi=300)
    with Image.open(path) as im:
        exif = im.getexif()
        assert (float(exif[0x011A]), float(exif[0x011B]), exif[0x0128]) == (300.0, 300.0, 2)


def test_jpeg_converts_rgba(tmp_path, params):
    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    path = save_image(rgba, tmp_path / "alpha.jpg", params)
    with Image.open(path) as im:
        assert im.mode == "RGB"
        assert im.getpixel((16, 16))[0] > 240  # transparent became white, not black


def test_fmt_overrides_suffix(tmp_path, image, params):
    path = save_image(image, tmp_path / "out.img", params, fmt="jpeg")
    with Image.open(path) as im:
        assert im.format == "JPEG"


def test_unsupported_format_is_refused(tmp_path, image, params):
    with pytest.raises(MetadataError, match=r"out\.gif.*\.png"):
        save_image(image, tmp_path / "files" / "out.gif", params)
    assert not (tmp_path / "files").exists()


def test_read_opened_image(tmp_path, image, params):
    path = save_image(image, tmp_path / "out.png", params)
    with Image.open(path) as im:
        assert read_params(im)["seed"] == 42


def test_read_a1111_only_png(tmp_path, image):
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters",
        "a fox in snow\nNegative prompt: blurry\n"
        "Steps: 25, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 7, Size: 64x48, Model: sdxl",
    )
    path = tmp_path / "a1111.png"
    image.save(path, pnginfo=info)
    params = read_params(path)
    assert params["prompt"] == "a fox in snow" and params["negative"] == "blurry"
    assert (params["steps"], params["guidance"], params["seed"], params["model"]) == (25, 6.5, 7, "sdxl")


def test_read_a1111_jpeg_user_comment(tmp_path, image):
    exif = Image.Exif()
    text = "a fox\nNegative prompt: \nSteps: 25, Sampler: Euler, CFG scale: 6, Seed: 7, Size: 64x48"
    exif.get_ifd(ExifTags.IFD.Exif)[0x9286] = b"UNICODE\0" + text.encode("utf-16-be")
    path = tmp_path / "a1111.jpg"
    image.save(path, exif=exif.tobytes())
    assert read_params(path)["steps"] == 25


def test_no_settings_is_none(tmp_path, image):
    image.save(tmp_path / "plain.png")
    image.save(tmp_path / "plain.jpg")
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[0x9286] = b"ASCII\0\0\0Holiday photo"
    image.save(tmp_path / "camera.jpg", exif=exif.tobytes())
    for name in ("plain.png", "plain.jpg", "camera.jpg"):
        assert read_params(tmp_path / name) is None, name


def test_garbage_file_raises_with_name(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(MetadataError, match=r"broken\.png"):
        read_params(path)
    with pytest.raises(MetadataError, match=r"missing\.png"):
        read_params(tmp_path / "missing.png")


# ---------------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------------


def test_atomic_write_keeps_old_file_when_writer_raises(tmp_path):
    (tmp_path / "files").mkdir()
    path = tmp_path / "files" / "settings.json"
    path.write_text("old")

    def failing(temp):
        temp.write_text("half written")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, failing)
    assert path.read_text() == "old"
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]


def test_save_image_failure_keeps_old_image(tmp_path, image, params, monkeypatch):
    path = save_image(image, tmp_path / "files" / "out.png", params)
    before = path.read_bytes()
    monkeypatch.setattr(Image.Image, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        save_image(image, path, params)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["out.png"]


def test_atomic_write_text_and_bytes(tmp_path):
    text_path = atomic_write_text(tmp_path / "sub" / "a.txt", "héllo\n")
    assert text_path.read_text(encoding="utf-8") == "héllo\n"
    assert atomic_write_bytes(tmp_path / "b.bin", b"\0\1").read_bytes() == b"\0\1"
    if os.name == "posix":  # created with the umask's permissions, not mkstemp's 0600
        umask = os.umask(0)
        os.umask(umask)
        assert text_path.stat().st_mode & 0o777 == 0o666 & ~umask
