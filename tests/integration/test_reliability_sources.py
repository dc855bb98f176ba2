"""A corrupt single-file model is reported when it is resolved, before its base is looked up or
downloaded (issue 11): a truncated or foreign checkpoint never waits for a 19 GB base."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model.errors import SourceError
from model.loading import catalog
from model.loading.catalog import resolve_source


def _safetensors(path: Path) -> Path:
    from safetensors.torch import save_file

    save_file({"x_embedder.proj.weight": torch.ones(64, 64)}, path)
    return path


def _pth(path: Path) -> Path:
    torch.save({"state_dict": {"x_embedder.proj.weight": torch.ones(64, 64)}}, path)
    return path


def _cut(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("make", [
    lambda d: _cut(_safetensors(d / "cut.safetensors")),
    lambda d: _cut(_pth(d / "cut.pth")),
    lambda d: (d / "noise.safetensors").write_bytes(b"\xff" * 64) and d / "noise.safetensors",
    lambda d: (d / "text.pth").write_text("not a checkpoint") and d / "text.pth",
    lambda d: (d / "empty.pth").write_bytes(b"") or d / "empty.pth",
])
def test_a_corrupt_single_file_is_refused_before_the_base_is_resolved(tmp_path, monkeypatch, make):
    path = make(tmp_path)
    asked = []
    monkeypatch.setattr(catalog, "_resolve_base", lambda base: asked.append(base) or pytest.fail("base looked up"))
    with pytest.raises(SourceError) as err:
        resolve_source(str(path), base="PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers")
    assert str(path.resolve()) in str(err.value) and not asked


@pytest.mark.parametrize("make", [_safetensors, _pth])
def test_a_whole_single_file_still_resolves(tmp_path, make):
    path = make(tmp_path / ("ok.safetensors" if make is _safetensors else "ok.pth"))
    source = resolve_source(str(path), base="demo")
    assert source.kind == "single_file" and source.base is not None


def test_the_prompt_cache_on_disk_stays_under_its_cap(tmp_path):
    from model.inference import cache_files
    from model.inference.prompt_cache import PromptCache

    cache = PromptCache(tmp_path, capacity=2, disk_cap_bytes=3 * 4096 + 1000)
    for i in range(10):
        cache.put(PromptCache.key("m", f"prompt {i}", ""), {"embeds": torch.zeros(1024)})
    files, size = cache_files.usage(tmp_path)
    assert size <= 3 * 4096 + 1000 and 1 <= files <= 3
    newest = PromptCache.key("m", "prompt 9", "")
    assert (tmp_path / f"{newest}.safetensors").exists()
