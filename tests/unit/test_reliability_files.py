"""Hostile files get a message, never an uncaught exception: presets, dropped images, settings,
prompt history, gallery import and the studio's start with such a file in the config folder."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from app import paths
from app.gallery import Gallery
from app.metadata import MetadataError, read_params
from app.presets import PresetError, load_presets
from app.settings import PromptHistory, Settings

ROOT = Path(__file__).resolve().parents[2]
DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}"
BIG_INT_PRESET = '{"format": "sigma-studio-preset", "version": 1, "prompt": "x", "seed": ' + "9" * 5000 + "}"
BIG_INT_SETTINGS = '{"version": 1, "steps": ' + "9" * 5000 + "}"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(path: Path) -> Path:
    """A PNG whose header says 50,000 x 50,000 pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path


def ztxt_bomb(path: Path) -> Path:
    """A small PNG with a zTXt chunk that inflates to 200 MB."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    data = buffer.getvalue()
    bomb = _chunk(b"zTXt", b"sigma-studio\0\0" + zlib.compress(b" " * 200_000_000, 9))
    iend = data.rindex(b"IEND") - 4
    path.write_bytes(data[:iend] + bomb + data[iend:])
    return path


def deep_itxt_png(path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("sigma-studio", DEEP_OBJECT)
    Image.new("RGB", (8, 8)).save(path, "PNG", pnginfo=info)
    return path


def deep_exif_jpeg(path: Path) -> Path:
    exif = Image.Exif()
    deep = '{"prompt": ' + "[" * 20_000 + "]" * 20_000 + "}"  # EXIF holds at most 64 KB
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\0\0\0" + deep.encode()
    Image.new("RGB", (8, 8)).save(path, "JPEG", exif=exif.tobytes())
    return path


def big_int_png(path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("sigma-studio", '{"prompt": "x", "seed": ' + "9" * 5000 + "}")
    Image.new("RGB", (8, 8)).save(path, "PNG", pnginfo=info)
    return path


HOSTILE_IMAGES = {"huge.png": huge_png, "ztxt.png": ztxt_bomb, "itxt.png": deep_itxt_png,
                  "exif.jpg": deep_exif_jpeg, "bigint.png": big_int_png}


@pytest.mark.parametrize("name", list(HOSTILE_IMAGES))
def test_hostile_images_give_a_metadata_error_or_no_settings(tmp_path, name):
    path = HOSTILE_IMAGES[name](tmp_path / name)
    try:
        params = read_params(path)
    except MetadataError as exc:
        assert name in str(exc)
    else:
        assert params is None or params.get("seed") is None or isinstance(params["seed"], int)


@pytest.mark.parametrize("name", list(HOSTILE_IMAGES))
def test_dropped_hostile_images_give_a_message(tmp_path, name):
    from ui.dnd import classify_paths

    payload = classify_paths([HOSTILE_IMAGES[name](tmp_path / name)])
    assert payload.params is None or isinstance(payload.params, dict)
    if payload.params is None:
        assert payload.message()


@pytest.mark.parametrize("text", [DEEP_JSON, BIG_INT_PRESET, "{" * 50_000])
def test_hostile_preset_files_are_refused_with_a_preset_error(tmp_path, text):
    path = tmp_path / "evil.preset.json"
    path.write_text(text)
    with pytest.raises(PresetError, match="evil.preset.json"):
        load_presets(path)


@pytest.mark.parametrize("text", [DEEP_JSON, BIG_INT_SETTINGS, "[]", '"text"', "\0\1\2 binary"])
def test_settings_load_never_fails_and_keeps_a_bak(tmp_path, text):
    path = tmp_path / "settings.json"
    path.write_text(text)
    settings = Settings.load(path)
    assert settings.steps == Settings().steps and settings.load_warning
    assert (tmp_path / "settings.json.bak").read_text() == text


def test_settings_too_large_are_refused_before_reading(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"theme": "dark", "pad": "' + "x" * 20_000_000 + '"}')
    settings = Settings.load(path)
    assert settings.theme == "system" and "large" in settings.load_warning
    assert (tmp_path / "settings.json.bak").stat().st_size == path.stat().st_size


@pytest.mark.parametrize("text", [DEEP_JSON, '{"items": ' + DEEP_JSON + "}", '{"items": [{"prompt": "a", "negative": '
                                  + "9" * 5000 + "}]}"])
def test_prompt_history_survives_hostile_files(tmp_path, text):
    path = tmp_path / "history.json"
    path.write_text(text)
    history = PromptHistory(path)
    assert history.items() == [] and history.load_warning
    assert (tmp_path / "history.json.bak").exists()


def test_gallery_import_of_hostile_images_reports_each(tmp_path):
    gallery = Gallery(tmp_path / "g")
    files = [make(tmp_path / name) for name, make in HOSTILE_IMAGES.items()]
    records, errors = gallery.import_images(files)
    assert len(records) + len(errors) == len(files)
    assert any("huge.png" in error for error in errors)
    gallery.close()


def test_the_studio_starts_with_hostile_files_in_the_config_folder(tmp_path):
    paths.settings_file().write_text(DEEP_JSON)
    paths.prompt_history_file().write_text(BIG_INT_SETTINGS)
    (paths.user_presets_dir() / "evil.preset.json").write_text(DEEP_JSON)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--quit-after-visible"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", list(HOSTILE_IMAGES))
def test_a_hostile_image_dropped_on_the_window_shows_a_message(qtbot, tmp_path, name):
    from tests.unit.test_main_window import FAKE, make_window

    window = make_window(qtbot, FAKE)
    prompt = window.editor.final_prompt()
    window.open_file(HOSTILE_IMAGES[name](tmp_path / name))
    assert window.banner.isVisible() or window.statusBar().currentMessage()
    assert window.editor.final_prompt() == prompt or name == "bigint.png"


def test_a_hostile_preset_opened_in_the_window_shows_a_message(qtbot, tmp_path):
    from tests.unit.test_main_window import FAKE, make_window

    window = make_window(qtbot, FAKE)
    path = tmp_path / "evil.preset.json"
    path.write_text(DEEP_JSON)
    window.open_file(path)
    assert window.banner.isVisible() and "evil.preset.json" in window.banner.text.text()
