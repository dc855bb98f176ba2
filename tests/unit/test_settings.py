"""Settings persisted as JSON (defaults, round trip, recovery, migration), prompt history and paths."""

from __future__ import annotations

import json

import pytest

from app import paths
from app.settings import HISTORY_LIMIT, SETTINGS_VERSION, PromptHistory, Settings


def test_paths_live_in_the_isolated_home(isolated_home):
    for folder in (
        paths.config_dir(),
        paths.data_dir(),
        paths.gallery_dir(),
        paths.cache_dir(),
        paths.thumbnail_dir(),
        paths.embedding_cache_dir(),
        paths.models_dir(),
    ):
        assert folder.is_dir()
        assert folder.is_relative_to(isolated_home)
    assert paths.default_output_dir().is_relative_to(isolated_home)
    assert (paths.resources_dir() / "styles.json").is_file()


def test_paths_follow_xdg_without_studio_home(isolated_home, monkeypatch):
    monkeypatch.delenv("SIGMA_STUDIO_HOME")
    assert paths.config_dir() == isolated_home / "config" / "SigmaStudio"
    assert paths.cache_dir() == isolated_home / "cache" / "SigmaStudio"


def test_defaults_when_no_file():
    settings = Settings.load()
    assert settings == Settings()
    assert settings.load_warning is None
    assert (settings.device, settings.memory_mode, settings.kv_compress, settings.theme) == ("auto",) * 3 + (
        "system",
    )
    assert (settings.steps, settings.guidance, settings.last_size) == (20, 4.5, "3840x2160")
    assert settings.default_model is None and settings.local_models == []
    assert settings.output_dir.endswith("Sigma Studio")
    assert not paths.settings_file().exists()


def test_save_and_load(tmp_path):
    settings = Settings.load()
    settings.theme, settings.steps, settings.guidance = "dark", 28, 5.0
    settings.default_model, settings.local_models = "PixArt-alpha/PixArt-Sigma-XL-2-2K-MS", ["/models/a"]
    path = settings.save()
    assert path == paths.settings_file()
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == SETTINGS_VERSION and "load_warning" not in data and "path" not in data
    loaded = Settings.load()
    assert loaded == settings and loaded.load_warning is None
    other = Settings(theme="light").save(tmp_path / "elsewhere.json")
    assert Settings.load(other).theme == "light"


def test_corrupt_file_gives_defaults_and_keeps_backup():
    path = paths.settings_file()
    path.write_text('{"theme": "dark", oops', encoding="utf-8")
    settings = Settings.load()
    assert settings == Settings()
    assert "damaged" in settings.load_warning and str(path) in settings.load_warning
    backup = path.with_name("settings.json.bak")
    assert backup.read_text(encoding="utf-8") == '{"theme": "dark", oops'
    assert str(backup) in settings.load_warning
    settings.save()
    assert Settings.load().load_warning is None


def test_not_an_object_and_binary_files():
    path = paths.settings_file()
    path.write_text("[1, 2]")
    assert "does not hold a JSON object" in Settings.load().load_warning
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert "damaged" in Settings.load().load_warning


def test_unknown_keys_ignored_and_bad_values_reset():
    paths.settings_file().write_text(
        json.dumps(
            {
                "version": 1,
                "theme": "dark",
                "future_option": True,
                "steps": "many",
                "device": "tpu",
                "last_size": "A3",
            }
        )
    )
    settings = Settings.load()
    assert settings.theme == "dark" and settings.steps == 20 and settings.device == "auto"
    assert settings.last_size == "3840x2160"
    assert "steps 'many'" in settings.load_warning and "device 'tpu'" in settings.load_warning
    assert "future_option" not in settings.load_warning
    assert "future_option" not in settings.to_dict()


def test_unversioned_file_is_migrated():
    paths.settings_file().write_text(json.dumps({"model": "my-model", "size": "1024x1024", "theme": "light"}))
    settings = Settings.load()
    assert (settings.default_model, settings.last_size, settings.theme) == ("my-model", "1024x1024", "light")
    assert settings.version == SETTINGS_VERSION and settings.load_warning is None


def test_newer_file_is_read_with_a_warning():
    paths.settings_file().write_text(json.dumps({"version": SETTINGS_VERSION + 1, "theme": "dark"}))
    settings = Settings.load()
    assert settings.theme == "dark"
    assert "newer Sigma Studio" in settings.load_warning


def test_history_most_recent_first_and_dedup():
    history = PromptHistory()
    history.add("a cat", "blurry")
    history.add("a dog")
    history.add("  a cat ", "blurry")
    history.add("   ")
    assert [(e.prompt, e.negative) for e in history.items()] == [("a cat", "blurry"), ("a dog", "")]
    assert PromptHistory().items() == history.items()


def test_history_limit():
    history = PromptHistory()
    for number in range(HISTORY_LIMIT + 20):
        history.add(f"prompt {number}")
    items = PromptHistory().items()
    assert len(items) == HISTORY_LIMIT == 200
    assert items[0].prompt == f"prompt {HISTORY_LIMIT + 19}"


def test_history_search():
    history = PromptHistory()
    history.add("Neon city at night", "blurry")
    history.add("misty mountains")
    assert [e.prompt for e in history.search("NEON night")] == ["Neon city at night"]
    assert [e.prompt for e in history.search("blurry")] == ["Neon city at night"]
    assert len(history.search("")) == 2
    assert history.search("ocean") == []


def test_history_corrupt_file_recovers():
    paths.prompt_history_file().write_text("not json")
    history = PromptHistory()
    assert history.items() == [] and "damaged" in history.load_warning
    assert paths.prompt_history_file().with_name("prompt_history.json.bak").exists()
    history.add("again")
    assert [e.prompt for e in PromptHistory().items()] == ["again"]


@pytest.mark.parametrize("steps", [0, 201, 2.5, True])
def test_out_of_range_steps_are_reset(steps):
    paths.settings_file().write_text(json.dumps({"version": 1, "steps": steps}))
    assert Settings.load().steps == 20
