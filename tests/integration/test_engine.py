"""Engine: loading, generation, determinism, cancel, sizes, KV compression, cache, OOM step-down."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.errors import BadRequest, Cancelled, EngineError
from model.inference import memory
from model.inference.engine import Engine, GenerationRequest

GiB = 1024**3


@pytest.fixture
def engine(tiny_pipeline_dir, tmp_path):
    eng = Engine(device="cpu", cache_dir=tmp_path / "cache")
    eng.load(str(tiny_pipeline_dir))
    return eng


def small(**kw) -> GenerationRequest:
    base = dict(prompt="a red sunset over blue mountains", width=256, height=256, steps=2, seed=42)
    base.update(kw)
    return GenerationRequest(**base)


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_generates_with_params_and_progress(engine):
    steps = []
    result = engine.generate(small(steps=3), on_step=steps.append)
    image = result.images[0]
    assert image.image.size == (256, 256) and image.seed == 42
    assert image.params["prompt"].startswith("a red sunset") and image.params["steps"] == 3
    denoise = [s for s in steps if s.phase == "denoise"]
    assert [s.step for s in denoise] == [1, 2, 3] and all(s.total == 3 for s in denoise)
    assert denoise[0].preview is not None and denoise[0].preview.mode == "RGB"
    assert pixels(image.image).std() > 0  # a real decoded image, not a blank


def test_same_seed_same_image_and_batch_uses_seed_plus_k(engine):
    first = engine.generate(small()).images[0].image
    again = engine.generate(small()).images[0].image
    assert np.array_equal(pixels(first), pixels(again))
    batch = engine.generate(small(count=2, seed=100))
    assert [im.seed for im in batch.images] == [100, 101]
    alone = engine.generate(small(seed=101)).images[0].image
    assert np.array_equal(pixels(batch.images[1].image), pixels(alone))
    assert not np.array_equal(pixels(batch.images[0].image), pixels(alone))


def test_random_seed_is_reported(engine):
    result = engine.generate(small(seed=None))
    seed = result.images[0].seed
    again = engine.generate(small(seed=seed)).images[0].image
    assert np.array_equal(pixels(result.images[0].image), pixels(again))


def test_size_not_multiple_of_16_is_made_near_and_resized(engine):
    result = engine.generate(small(width=300, height=262))
    assert result.made_size == (304, 256)
    assert result.images[0].image.size == (300, 262)


def test_cancel_between_steps_leaves_engine_usable(engine):
    calls = []

    def cancel_after_first() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(Cancelled):
        engine.generate(small(steps=5), should_cancel=cancel_after_first)
    assert len(calls) == 2  # stopped right after the first step
    assert engine.generate(small()).images[0].image.size == (256, 256)


@pytest.mark.parametrize(
    "bad",
    [
        dict(prompt="   "),
        dict(width=100),
        dict(height=5000),
        dict(steps=0),
        dict(count=0),
        dict(guidance=-1.0),
        dict(seed=-5),
        dict(kv_compress="3"),
    ],
)
def test_bad_requests_are_refused_clearly(engine, bad):
    with pytest.raises(BadRequest) as info:
        engine.generate(small(**bad))
    assert str(info.value)


def test_no_model_loaded_is_a_clear_error(tmp_path):
    with pytest.raises(EngineError, match="no model is loaded"):
        Engine(device="cpu").generate(small())


def test_prompt_embeddings_are_cached_in_memory_and_on_disk(engine, tiny_pipeline_dir, tmp_path):
    engine.generate(small())
    misses = engine.cache.misses
    engine.generate(small(seed=1))
    assert engine.cache.misses == misses and engine.cache.hits >= 1
    assert list((tmp_path / "cache" / "embeddings").glob("*.safetensors"))
    fresh = Engine(device="cpu", cache_dir=tmp_path / "cache")
    fresh.load(str(tiny_pipeline_dir))
    fresh.pipe.text_encoder = None  # the T5 is not needed for a cached prompt
    assert fresh.generate(small()).images[0].image.size == (256, 256)


def test_kv_compression_settings(engine):
    off = engine.generate(small(kv_compress="off"))
    two = engine.generate(small(kv_compress="2"))
    assert off.kv_factor == 1 and two.kv_factor == 2
    assert two.images[0].params["kv_compress"] == "2"
    assert not np.array_equal(pixels(off.images[0].image), pixels(two.images[0].image))
    auto = engine.generate(small(kv_compress="auto"))
    assert auto.kv_factor == 1  # 256 tokens is far below the auto threshold


def test_out_of_memory_steps_down_once_and_says_so(engine, monkeypatch):
    from model.inference import vae_tiling

    real = vae_tiling.decode
    modes = []

    def decode_that_runs_out_once(vae, z, mode="auto", **kw):
        modes.append(mode)
        if len(modes) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(vae, z, mode=mode, **kw)

    monkeypatch.setattr(vae_tiling, "decode", decode_that_runs_out_once)
    result = engine.generate(small())
    assert modes == ["auto", "tiled"]
    assert any("out of memory" in note for note in result.notes)
    assert result.images[0].image.size == (256, 256)


def test_out_of_memory_twice_gives_advice(engine, monkeypatch):
    from model.inference import vae_tiling

    def always_oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(vae_tiling, "decode", always_oom)
    with pytest.raises(EngineError, match="smaller size"):
        engine.generate(small())


def test_memory_plan_table_and_step_down():
    plan = memory.plan_memory("cuda", "auto", free_bytes=40 * GiB)
    assert plan.mode == "gpu"
    assert memory.plan_memory("cuda", "auto", free_bytes=6 * GiB).mode == "offload"
    assert memory.plan_memory("cuda", "auto", free_bytes=1 * GiB).mode == "sequential"
    assert memory.plan_memory("cuda", "sequential", free_bytes=80 * GiB).mode == "sequential"
    assert memory.plan_memory("cpu", "auto").mode == "cpu"
    chain = [plan.mode]
    while (plan := memory.step_down(plan)) is not None:
        chain.append((plan.mode, plan.vae_tiling))
    assert chain == ["gpu", ("offload", "auto"), ("sequential", "tiled")]
    with pytest.raises(BadRequest):
        memory.plan_memory("cuda", "turbo")


@pytest.mark.slow
@pytest.mark.parametrize("size", [(3840, 2160), (4096, 4096)])
def test_4k_runs_end_to_end(tiny_4k_dir, size):
    eng = Engine(device="cpu")
    eng.load(str(tiny_4k_dir))
    steps = []
    result = eng.generate(
        GenerationRequest("a 4k wallpaper", width=size[0], height=size[1], steps=1, seed=3, kv_compress="4"),
        on_step=steps.append,
    )
    image = result.images[0].image
    assert image.size == size and result.made_size == size
    assert result.kv_factor == 4
    assert np.asarray(image).std() > 0
    from model.inference.kv_compress import resolve_kv_factor

    assert resolve_kv_factor("auto", (size[0] // 16) * (size[1] // 16)) >= 2  # auto compresses at 4K
