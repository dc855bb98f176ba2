"""The prompt-embedding disk cache has a size cap (least recently used first) and is shown and
cleared in Settings (issue 11). Torch-free: the files are written as the cache writes them."""

from __future__ import annotations

import os
import time

from app import paths
from app.model_service import clear_prompt_cache, prompt_cache_usage
from app.settings import Settings


def _entry(folder, name: str, size: int, age_s: float):
    path = folder / f"{name}.safetensors"
    path.write_bytes(b"\0" * size)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_eviction_drops_the_least_recently_used_files_past_the_cap(tmp_path):
    from model.inference import cache_files

    old, middle, new = (_entry(tmp_path, n, 400, age) for n, age in (("old", 300), ("middle", 200), ("new", 100)))
    cache_files.touch(old)  # read just now: the most recently used
    assert cache_files.evict(tmp_path, cap_bytes=900) == 1
    assert old.exists() and new.exists() and not middle.exists()
    assert cache_files.usage(tmp_path) == (2, 800)


def test_settings_dialog_shows_the_cache_size_and_clears_it(qtbot):
    from ui.settings_dialog import SettingsDialog

    folder = paths.embedding_cache_dir()
    for i in range(3):
        _entry(folder, f"k{i}", 312_000, 10)
    dialog = SettingsDialog(Settings.load())
    qtbot.addWidget(dialog)
    assert "0.9 MB in 3 file(s)" in dialog.cache_label.text() and dialog.clear_cache_button.isEnabled()
    dialog.clear_cache_button.click()
    assert prompt_cache_usage(folder)[:2] == (0, 0)
    assert "0.0 MB in 0 file(s)" in dialog.cache_label.text() and not dialog.clear_cache_button.isEnabled()
    assert clear_prompt_cache(folder) == 0
