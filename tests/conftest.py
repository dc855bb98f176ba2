"""Shared fixtures: tiny random-weight PixArt-Sigma pipelines saved in the released on-disk layouts,
and an isolated home (config, data, cache, HF cache) for every test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own config/data/cache folders and an offline, empty HF cache."""
    home = tmp_path / "home"
    for var, sub in [("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")]:
        (home / sub).mkdir(parents=True)
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SIGMA_STUDIO_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_pipe():
    """A tiny PixArtSigmaPipeline in memory (random weights, fixed seed)."""
    from model.build import build_pipeline
    from model.configs import Tiny

    return build_pipeline(Tiny(), seed=0)


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory, tiny_pipe):
    """The tiny pipeline saved as a full diffusers folder (model_index.json + five components)."""
    path = tmp_path_factory.mktemp("models") / "tiny-pipeline"
    tiny_pipe.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_transformer_dir(tmp_path_factory, tiny_pipe):
    """Only the transformer, as the released `PixArt-Sigma-XL-2-*-MS` folders hold it."""
    path = tmp_path_factory.mktemp("models") / "tiny-transformer"
    tiny_pipe.transformer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_4k_dir(tmp_path_factory):
    """A tiny pipeline whose costs stay linear at 4K on a CPU: one (compressed) DiT block and a VAE
    without the mid-block attention (quadratic in latent pixels, minutes at 4096^2 on 2 cores)."""
    from dataclasses import replace

    from model.build import build_pipeline
    from model.configs import Tiny

    cfg = Tiny()
    cfg = replace(cfg, transformer={**cfg.transformer, "num_layers": 1}, vae={**cfg.vae, "mid_block_add_attention": False})
    path = tmp_path_factory.mktemp("models") / "tiny-4k"
    build_pipeline(cfg).save_pretrained(path)
    return path
