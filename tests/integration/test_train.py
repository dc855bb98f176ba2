"""Training code and demo data: determinism, held-out split, scorers, every stage, resume, output folder."""

from __future__ import annotations

import copy
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from model.demo import data as dd
from model.demo import scoring as sc
from model.training.cache import Bucket, BucketSampler, DataCache, _embed_all, drop_captions, make_batch
from model.training.config import ROOT, StageConfig, load_config
from model.training.data import FolderSource, closest_size, tokenize, trim_tokens
from model.training.loop import lr_at
from model.training.pipelines import initial_pipeline, set_transformer_resolution
from model.training.run import run_training
from model.training.stages.dit import DiTTrainer
from model.training.stages.vae import VAETrainer, _uint8_batch, set_latent_scale

# ---------------------------------------------------------------- helpers


def tiny_stage(kind: str = "base", **kw) -> StageConfig:
    """A StageConfig with small numbers for tests."""
    base = {
        "name": kind,
        "kind": kind,
        "steps": 4,
        "batch_size": 4,
        "lr": 1e-3,
        "warmup_steps": 1,
        "sizes": [[64, 64]],
        "samples": 8,
    }
    base.update(kw)
    return StageConfig(**base)


def tiny_cache(pipe, sizes=((64, 64), (96, 64)), n=6, k=2) -> DataCache:
    """A DataCache of random latents in two buckets and real caption tokens."""
    g = torch.Generator().manual_seed(0)
    captions = [f"a {c} wallpaper with red stripes" for c in ("blue", "green", "black", "white")]
    ids, mask = tokenize(pipe.tokenizer, captions, 64)
    empty_ids, empty_mask = tokenize(pipe.tokenizer, [""], 64)
    ids, mask = trim_tokens(ids, mask)
    empty_ids, empty_mask = empty_ids[:, : ids.shape[1]], empty_mask[:, : ids.shape[1]]
    buckets = [
        Bucket(
            (w, h),
            torch.randn(n, 4, h // 8, w // 8, generator=g).half(),
            torch.randint(len(captions), (n, k), generator=g),
        )
        for w, h in sizes
    ]
    return DataCache(buckets, ids, mask, None, empty_ids, empty_mask, None)


def with_embeddings(cache: DataCache, pipe) -> DataCache:
    """The same cache with frozen-encoder embeddings."""
    cache = copy.copy(cache)
    cache.emb = _embed_all(pipe.text_encoder, cache.ids, cache.mask, torch.device("cpu"), None)
    cache.empty_emb = _embed_all(
        pipe.text_encoder, cache.empty_ids, cache.empty_mask, torch.device("cpu"), None
    )
    return cache


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: tiny models gain nothing from two, and on a busy CPU two threads stall each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def pipe():
    """A fresh tiny pipeline per test (training mutates it)."""
    from model.build import build_pipeline
    from model.configs import Tiny

    return build_pipeline(Tiny(), seed=0)


# ---------------------------------------------------------------- demo data


def test_dataset_is_deterministic_and_varied():
    a = dd.render_sample(0, 5, 96, 64)
    b = dd.render_sample(0, 5, 96, 64)
    assert a.caption == b.caption and a.labels == b.labels
    assert a.image.size == (96, 64)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    samples = [dd.render_sample(0, i, 32, 32) for i in range(60)]
    assert len({s.caption for s in samples}) > 50
    assert len({s.labels["pattern"] for s in samples}) >= 10
    assert {s.labels["main_colour"] for s in samples} != {a.labels["main_colour"]}
    # same labels at another size: same picture, scaled
    big = dd.render_sample(0, 5, 192, 128)
    small = np.asarray(big.image.resize((96, 64), Image.BOX), dtype=float)
    assert np.abs(small - np.asarray(a.image, dtype=float)).mean() < 12


def test_captions_name_the_colours_and_pattern():
    for i in range(40):
        s = dd.render_sample(1, i, 32, 32)
        text = s.caption.replace("gray", "grey")
        assert dd.family(s.labels["main_colour"]) in text
        if s.labels["accent_colour"]:
            assert dd.family(s.labels["accent_colour"]) in text
        assert len(s.caption) <= 120


def test_held_out_split():
    train = [dd.sample_labels(0, i, "train")[0] for i in range(300)]
    held = [dd.sample_labels(0, i, "heldout")[0] for i in range(100)]
    everything = [dd.sample_labels(0, i, "all")[0] for i in range(600)]
    assert not any(dd.is_held_out(x) for x in train)
    assert all(dd.is_held_out(x) for x in held)
    frac = sum(dd.is_held_out(x) for x in everything) / len(everything)
    assert 0.05 < frac < 0.3
    # composition, not vocabulary: held-out colours and patterns still appear in training
    assert {x["main_family"] for x in held} <= {x["main_family"] for x in train}
    assert {x["pattern"] for x in held} <= {x["pattern"] for x in train}
    prompts = dd.heldout_prompts(24)
    assert len(prompts) == 24 and all(dd.is_held_out(labels) for _, labels in prompts)
    assert len({(lb["main_family"], lb["pattern"], lb["layout"]) for _, lb in prompts}) == 24


def test_scorers_recognise_ground_truth_renders():
    scores = []
    for i in range(48):
        s = dd.render_sample(321, i, 128, 128, "all")
        scores.append(sc.score_image(s.image, s.labels))
    summary = sc.summarize(scores)
    assert summary["colour_acc"] == 1.0 and summary["shade_acc"] == 1.0
    assert summary["pattern_acc"] >= 0.9
    # and the scorer is not fooled: a flat wrong colour scores wrong
    s = dd.render_sample(321, 0, 128, 128, "all")
    wrong = "white" if dd.family(s.labels["main_colour"]) != "white" else "black"
    flat = Image.new("RGB", (128, 128), dd.PALETTE[wrong])
    assert not sc.score_image(flat, s.labels)["colour_ok"]
    assert sc.classify_pattern(flat) == "solid"


# ---------------------------------------------------------------- batching


def test_colour_word_tags_mark_main_and_accent_words():
    labels = {"main_colour": "dark blue", "accent_colour": "light red", "pattern": "dots", "layout": "left"}
    caption = "pale red dots on the left on a deep blue background"
    role, fam = dd.colour_word_tags(caption, labels)
    assert len(role) == len(fam) == len(caption)

    def tagged(word: str) -> tuple[set, set]:
        start = caption.index(word)
        return set(role[start : start + len(word)]), set(fam[start : start + len(word)])

    blue, red = dd.FAMILIES.index("blue") + 1, dd.FAMILIES.index("red") + 1
    assert tagged("deep") == tagged("blue") == ({1}, {blue})  # the shade word goes with its colour
    assert tagged("pale") == tagged("red") == ({2}, {red})
    assert tagged("dots on the left") == ({0}, {0})
    # "gray" spelling and punctuation; every rendered caption tags both of its colours
    role, fam = dd.colour_word_tags("gray, with red", {"main_colour": "grey", "accent_colour": "red"})
    assert role[:5] == [1] * 5 and fam[0] == dd.FAMILIES.index("grey") + 1 and role[-3:] == [2] * 3
    for i in range(30):
        s = dd.render_sample(2, i, 16, 16)
        role, _ = dd.colour_word_tags(s.caption, s.labels)
        assert 1 in role and (2 in role) == bool(s.labels["accent_colour"])


@pytest.mark.slow
def test_text_stage_teaches_the_encoder_the_caption_labels(tmp_path):
    cfg = load_config(
        {
            "model": {"preset": "Tiny"},
            "data": {"kind": "demo", "seed": 0},
            "max_tokens": 96,
            "stages": [
                {"name": "text", "kind": "text", "steps": 250, "batch_size": 32, "lr": 3e-3, "samples": 600},
            ],
        }
    )
    before = _initial_text_encoder_state(cfg)
    log = run_training(cfg, tmp_path / "out", tmp_path / "work", device="cpu", progress=False)
    info = log["stages"]["text"]
    assert info["steps"] == 250 and info["loss_curve"][-1][1] < 0.7 * info["loss_curve"][0][1]
    # held-out captions (unseen colour x pattern x layout combinations): well above chance (1/12)
    assert info["heldout_caption_accuracy"]["pattern"] > 0.25
    from transformers import T5EncoderModel

    after = T5EncoderModel.from_pretrained(tmp_path / "out" / "text_encoder").state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # the probe is not part of the saved pipeline
    assert not any("probe" in k or "tagger" in k for k in after)


def _initial_text_encoder_state(cfg) -> dict:
    return {k: v.clone() for k, v in initial_pipeline(cfg, cfg.seed).text_encoder.state_dict().items()}


def test_text_stage_refuses_unlabelled_data(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (32, 32), "red").save(images / "a.png")
    (images / "a.txt").write_text("a red square")
    cfg = load_config(
        {
            "model": {"preset": "Tiny"},
            "data": {"kind": "folder", "path": str(images)},
            "stages": [{"name": "text", "kind": "text", "steps": 2, "batch_size": 2, "samples": 2}],
        }
    )
    with pytest.raises(ValueError, match="labelled demo data"):
        run_training(cfg, tmp_path / "out", tmp_path / "work", device="cpu", progress=False)


def test_bucket_sampler_groups_by_size(pipe):
    cache = tiny_cache(pipe)
    sampler = BucketSampler([len(b.latents) for b in cache.buckets], 5, seed=0)
    g = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(20):
        bucket, idx = sampler.next()
        batch = make_batch(cache, bucket, idx, g, 0.1, torch.device("cpu"))
        h, w = cache.buckets[bucket].size[1] // 8, cache.buckets[bucket].size[0] // 8
        assert batch["latents"].shape == (5, 4, h, w)  # one size per batch
        seen.add(bucket)
    assert seen == {0, 1}
    # folder data: images go to the bucket with the closest aspect ratio
    sizes = [[256, 256], [320, 192], [192, 320]]
    assert closest_size(1920, 1080, sizes) == (320, 192)
    assert closest_size(600, 900, sizes) == (192, 320)
    assert closest_size(500, 520, sizes) == (256, 256)


def test_folder_source(tmp_path):
    Image.new("RGB", (300, 200), "red").save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("a red poster\n")
    Image.new("RGB", (100, 300), "blue").save(tmp_path / "b.jpg")
    (tmp_path / "metadata.jsonl").write_text(json.dumps({"file_name": "b.jpg", "text": "blue"}) + "\n")
    Image.new("RGB", (64, 64)).save(tmp_path / "no_caption.png")
    src = FolderSource(tmp_path)
    assert len(src) == 2
    sizes = [[64, 64], [96, 64], [64, 96]]
    assert src.size_of(0, sizes) == (96, 64)
    image, caps = src.item(1, src.size_of(1, sizes))
    assert image.shape == (96, 64, 3) and caps == ["blue"]


def test_caption_dropout_rate(pipe):
    g = torch.Generator().manual_seed(0)
    assert abs(float(drop_captions(0.1, 20000, g).float().mean()) - 0.1) < 0.01
    cache = tiny_cache(pipe)
    batch = make_batch(cache, 0, torch.arange(4), g, 1.0, torch.device("cpu"))
    assert torch.equal(batch["ids"], cache.empty_ids.expand(4, -1))
    assert torch.equal(batch["mask"], cache.empty_mask.expand(4, -1))
    cache = with_embeddings(cache, pipe)
    batch = make_batch(cache, 0, torch.arange(4), g, 1.0, torch.device("cpu"))
    assert torch.equal(batch["emb"], cache.empty_emb.float().expand(4, -1, -1))
    batch = make_batch(cache, 0, torch.arange(4), g, 0.0, torch.device("cpu"))
    assert not batch["dropped"].any()


# ---------------------------------------------------------------- stages


def _fixed_loss(trainer: DiTTrainer, batch: dict) -> float:
    """Loss with fixed noise and timesteps (comparable before/after training)."""
    with torch.no_grad():
        return float(trainer.loss(batch, torch.Generator().manual_seed(123)))


@pytest.mark.parametrize("train_te", [True, False])
def test_base_steps_reduce_loss_on_a_fixed_batch(pipe, train_te):
    cache = tiny_cache(pipe)
    if not train_te:
        cache = with_embeddings(cache, pipe)
    extra = {"offset_noise": 0.1, "high_t_fraction": 0.4} if train_te else {}
    stage = tiny_stage("base", train_text_encoder=train_te, ema_decay=0.9, **extra)
    trainer = DiTTrainer(pipe, stage, torch.device("cpu"), None, seed=0)
    batch = make_batch(
        cache, 0, torch.arange(6), torch.Generator().manual_seed(1), 0.0, torch.device("cpu")
    )
    before = _fixed_loss(trainer, batch)
    te_before = [p.clone() for p in pipe.text_encoder.parameters()]
    for _ in range(25):
        loss = trainer.train_step(batch, 2e-3)
        assert torch.isfinite(loss)
    assert _fixed_loss(trainer, batch) < before
    te_changed = any(not torch.equal(a, b) for a, b in zip(te_before, pipe.text_encoder.parameters()))
    assert te_changed == train_te
    # the EMA follows the weights but lags behind them
    shadow = trainer.ema.shadow_params[0]
    first = next(pipe.transformer.parameters())
    assert not torch.equal(shadow, first)


def test_vae_stage_reduces_loss(pipe):
    from diffusers import AutoencoderKL

    vae = AutoencoderKL(**{k: v for k, v in pipe.vae.config.items() if not k.startswith("_")})
    trainer = VAETrainer(vae, tiny_stage("vae"), torch.device("cpu"), None, seed=0)
    images = torch.from_numpy(
        np.stack([np.asarray(dd.render_sample(0, i, 32, 32).image) for i in range(4)])
    ).permute(0, 3, 1, 2)
    x = _uint8_batch(images, torch.arange(4), torch.device("cpu"))

    def fixed() -> float:
        trainer.generator.manual_seed(5)
        with torch.no_grad():
            return float(trainer.loss(x)[0])

    before = fixed()
    for _ in range(15):
        assert torch.isfinite(trainer.train_step(x, 3e-3))
    assert fixed() < before
    scale = set_latent_scale(vae, images, torch.device("cpu"))
    assert vae.config.scaling_factor == scale > 0


@pytest.mark.slow
def test_decoder_stage_keeps_the_latent_space(tmp_path):
    """vae_train: decoder fine-tunes the decoder only: encoder, latents and scaling factor stay, PSNR rises."""
    cfg = load_config(
        {
            "model": {"preset": "Tiny"},
            "data": {"kind": "demo", "seed": 0},
            "stages": [
                {"name": "fresh", "kind": "vae", "steps": 30, "batch_size": 4, "lr": 3e-3, "sizes": [[32, 32]], "samples": 16},
                {
                    "name": "decoder",
                    "kind": "vae",
                    "vae_train": "decoder",
                    "steps": 40,
                    "batch_size": 4,
                    "lr": 3e-3,
                    "sizes": [[32, 32]],
                    "samples": 16,
                },
            ],
        }
    )
    out, work = tmp_path / "out", tmp_path / "work"
    run_training(cfg, out, work, device="cpu", progress=False, only=["fresh"])  # "vae" would name both
    from diffusers import AutoencoderKL

    first = AutoencoderKL.from_pretrained(out / "vae")
    log = run_training(cfg, out, work, device="cpu", progress=False, only=["decoder"])
    second = AutoencoderKL.from_pretrained(out / "vae")
    info = log["stages"]["decoder"]
    assert info["psnr_db"] > info["psnr_db_before"]
    assert 0.0 <= info["recon_colour_acc"] <= 1.0 and info["recon_colour_acc_before"] is not None
    assert second.config.scaling_factor == first.config.scaling_factor
    a, b = first.state_dict(), second.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith(("encoder.", "quant_conv.")))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("decoder."))
    bad = copy.deepcopy(cfg.stages[1].__dict__)
    bad["vae_train"] = "encoder"
    with pytest.raises(ValueError, match="vae_train"):
        load_config({"stages": [bad]})


def test_resolution_stage_rescales_position_embedding(pipe):
    tf = pipe.transformer
    weights = {k: v.clone() for k, v in tf.state_dict().items()}
    assert set_transformer_resolution(pipe, 16, 2.0)
    new = pipe.transformer
    assert new is not tf and new.config.sample_size == 16 and new.config.interpolation_scale == 2.0
    assert new.pos_embed.interpolation_scale == 2.0 and new.pos_embed.base_size == 8
    for k, v in new.state_dict().items():
        assert torch.equal(v, weights[k])
    # the positions cover the same range (base_size / interpolation_scale) as before: 8/2 == 4/1
    assert new.pos_embed.base_size / 2.0 == tf.pos_embed.base_size / tf.pos_embed.interpolation_scale
    assert not set_transformer_resolution(pipe, None, None)


def test_kv_stage_starts_at_average_pooling(pipe):
    from model.inference.kv_compress import attach

    tf = pipe.transformer.eval()
    x = torch.randn(1, 4, 8, 12)
    emb = torch.randn(1, 5, tf.config.caption_channels)
    kwargs = {"encoder_hidden_states": emb, "timestep": torch.tensor([500]), "added_cond_kwargs": {}}

    attach(tf, 2, mode="avg")
    with torch.no_grad():
        avg = tf(x, **kwargs).sample
    attach(tf, 2, mode="conv")
    blocks = [b for b in tf.transformer_blocks if hasattr(b.attn1, "kv_compress")]
    assert blocks
    for b in blocks:
        assert torch.equal(
            b.attn1.kv_compress.sr.weight, torch.full_like(b.attn1.kv_compress.sr.weight, 0.25)
        )
        assert not b.attn1.kv_compress.sr.bias.any()
    # the strided conv is exactly the average pool: with the LayerNorm bypassed the model output matches
    norms = [b.attn1.kv_compress.norm for b in blocks]
    for b in blocks:
        b.attn1.kv_compress.norm = torch.nn.Identity()
    with torch.no_grad():
        conv = tf(x, **kwargs).sample
    torch.testing.assert_close(conv, avg, atol=1e-6, rtol=1e-6)
    for b, n in zip(blocks, norms):
        b.attn1.kv_compress.norm = n

    # the kv trainer trains the compressors, with some batches uncompressed
    cache = with_embeddings(tiny_cache(pipe), pipe)
    stage = tiny_stage("kv", kv_uncompressed=0.0)
    kv = {"factor": 2, "blocks": None, "off": 0.0}
    trainer = DiTTrainer(pipe, stage, torch.device("cpu"), None, seed=0, kv=kv)
    before = blocks[0].attn1.kv_compress.sr.weight.clone()
    batch = make_batch(
        cache, 1, torch.arange(4), torch.Generator().manual_seed(0), 0.0, torch.device("cpu")
    )
    for _ in range(3):
        assert torch.isfinite(trainer.train_step(batch, 1e-3))
    assert not torch.equal(before, blocks[0].attn1.kv_compress.sr.weight)


def test_resume_restores_step_optimizer_and_ema_exactly(pipe):
    from model.build import build_pipeline
    from model.configs import Tiny

    stage = tiny_stage("base", train_text_encoder=True, ema_decay=0.99)
    cache = tiny_cache(pipe)
    counts = [len(b.latents) for b in cache.buckets]

    def run_steps(trainer, sampler, n):
        losses = []
        for step in range(n):
            bucket, idx = sampler.next()
            batch = make_batch(cache, bucket, idx, trainer.generator, 0.1, torch.device("cpu"))
            losses.append(float(trainer.train_step(batch, lr_at(stage, step / 10, trainer.step))))
        return losses

    a = DiTTrainer(pipe, stage, torch.device("cpu"), None, seed=0)
    sa = BucketSampler(counts, 3, seed=1)
    run_steps(a, sa, 3)
    buf = io.BytesIO()
    torch.save({"trainer": a.state_dict(), "sampler": sa.state_dict()}, buf)
    next_a = run_steps(a, sa, 2)

    other = build_pipeline(Tiny(), seed=7)  # different weights: the checkpoint must overwrite them all
    b = DiTTrainer(other, stage, torch.device("cpu"), None, seed=99)
    sb = BucketSampler(counts, 3, seed=99)
    buf.seek(0)
    state = torch.load(buf, weights_only=False)
    b.load_state_dict(state["trainer"])
    sb.load_state_dict(state["sampler"])
    assert b.step == 3
    next_b = run_steps(b, sb, 2)
    assert next_a == next_b
    for p, q in zip(a.ema.shadow_params, b.ema.shadow_params):
        assert torch.equal(p, q)
    for p, q in zip(pipe.transformer.parameters(), other.transformer.parameters()):
        assert torch.equal(p, q)


# ---------------------------------------------------------------- end to end


TINY_RUN = {
    "format": "sigma-studio-train",
    "version": 1,
    "model": {"preset": "Tiny"},
    "data": {"kind": "demo", "seed": 0},
    "max_tokens": 96,
    "workers": 1,
    "sample_prompts": ["red stripes on blue"],
    "sample_steps": 2,
    "eval": {"n": 2, "size": 64, "steps": 2, "batch": 2},
    "stages": [
        {"name": "vae", "kind": "vae", "steps": 2, "batch_size": 4, "sizes": [[32, 32]], "samples": 8},
        {"name": "text", "kind": "text", "steps": 2, "batch_size": 4, "samples": 8},
        {
            "name": "base",
            "kind": "base",
            "steps": 2,
            "batch_size": 4,
            "sizes": [[32, 32], [48, 32]],
            "samples": 8,
            "captions_per_image": 2,
            "train_text_encoder": True,
            "sample_size": 4,
            "interpolation_scale": 0.5,
        },
        {
            "name": "resolution",
            "kind": "resolution",
            "steps": 2,
            "batch_size": 4,
            "sizes": [[64, 64]],
            "samples": 4,
            "sample_size": 8,
            "interpolation_scale": 1,
        },
        {"name": "kv", "kind": "kv", "steps": 2, "batch_size": 4, "sizes": [[64, 64]], "samples": 4},
    ],
}


def test_demo_run_end_to_end_output_loads_and_generates(tmp_path):
    from diffusers import PixArtSigmaPipeline

    from model.inference.kv_compress import load_kv_compression

    cfg = load_config(TINY_RUN)
    out, work = tmp_path / "demo_model", tmp_path / "work"
    log = run_training(cfg, out, work, device="cpu", progress=False)
    assert [s for s in log["stages"]] == ["vae", "text", "base", "resolution", "kv"]
    assert all(s["done"] for s in log["stages"].values())
    assert log["stages"]["resolution"]["sample_size"] == 8
    assert log["stages"]["kv"]["cache"]["reused"]  # same data as the resolution stage: cached once
    assert "colour_acc" in log["eval"]
    assert (out / "README.md").read_text().count("colour") >= 1
    assert json.loads((out / "train_log.json").read_text())["stages"]["kv"]["done"]
    assert (out / "transformer" / "kv_compress.safetensors").exists()

    loaded = PixArtSigmaPipeline.from_pretrained(out)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.transformer.config.sample_size == 8
    image = loaded(
        "a blue poster",
        width=64,
        height=64,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        use_resolution_binning=False,
        clean_caption=False,
    ).images[0]
    assert image.size == (64, 64)
    assert load_kv_compression(loaded.transformer, out / "transformer")["factor"] == 2

    # a single stage re-runs from the previous stage's saved output; --resume continues its checkpoint
    log = run_training(
        cfg, out, work, device="cpu", only=["kv"], resume=True, progress=False, run_eval=False
    )
    assert log["stages"]["kv"]["resumed"] and log["stages"]["kv"]["steps"] == 2

    # weak-to-strong continuation: a new run starts from the saved model (its learned KV compressors
    # included) and the model card keeps the whole lineage
    (out / "sigma_studio.json").write_text(
        json.dumps({"format": "sigma-studio-model", "version": 1, "defaults": {"guidance": 2.5}})
    )
    more = copy.deepcopy(TINY_RUN)
    more["model"] = {"pretrained": str(out)}
    more["stages"] = [s for s in more["stages"] if s["kind"] == "kv"]
    cfg2 = load_config(more)
    start = initial_pipeline(cfg2, 0)
    parent_kv = load_kv_compression(loaded.transformer, out / "transformer")
    blocks = parent_kv["blocks"]
    for b in blocks:
        got = start.transformer.transformer_blocks[b].attn1.kv_compress.state_dict()
        want = loaded.transformer.transformer_blocks[b].attn1.kv_compress.state_dict()
        assert all(torch.equal(got[k], want[k]) for k in want)
    out2 = tmp_path / "continued"
    log2 = run_training(cfg2, out2, tmp_path / "work2", device="cpu", progress=False, run_eval=False)
    assert list(log2["stages"]) == ["kv"]
    assert list(log2["parent"]["log"]["stages"]) == ["vae", "text", "base", "resolution", "kv"]
    card = (out2 / "README.md").read_text()
    assert "### Run 1" in card and "### Run 2" in card and "| resolution |" in card
    assert card.index("| resolution |") < card.index("### Run 2")
    assert json.loads((out2 / "sigma_studio.json").read_text())["defaults"] == {"guidance": 2.5}  # inherited


def test_config_files_load_and_unknown_keys_are_refused():
    for name in ("train_demo.json", "train_demo_cpu.json"):
        cfg = load_config(ROOT / "configs" / name)
        assert [s.kind for s in cfg.stages][:5] == ["vae", "text", "base", "resolution", "kv"]
        assert not any(s.train_text_encoder for s in cfg.stages)  # the DiT reads the text stage's T5 frozen
    cont = load_config(ROOT / "configs" / "train_demo_finetune.json")
    assert cont.model == {"pretrained": "resources/demo_model"}
    assert [s.kind for s in cont.stages] == ["vae", "resolution", "kv"]  # decoder first: DiT stages share one cache
    assert cont.stages[0].vae_train == "decoder" and cont.stages[-1].kv_blocks == [3, 4, 5]
    from model.training.recipe import load_recipe

    runs, defaults = load_recipe(ROOT / "configs" / "demo_recipe.json")  # the shipped model's runs
    assert [(r.config.name, r.device) for r in runs] == [
        ("train_demo_cpu.json", "cpu"),
        ("train_demo_finetune.json", "cuda"),
    ]
    assert defaults == json.loads((ROOT / "resources/demo_model/sigma_studio.json").read_text())["defaults"]
    bad = copy.deepcopy(TINY_RUN)
    bad["stages"][0]["stepz"] = 3
    with pytest.raises(ValueError, match="stepz"):
        load_config(bad)


def test_recipe_runs_continue_each_other_and_write_the_defaults(tmp_path):
    from model.training.recipe import load_recipe, run_recipe

    first, second = copy.deepcopy(TINY_RUN), copy.deepcopy(TINY_RUN)
    first["stages"] = [s for s in first["stages"] if s["kind"] in ("vae", "text", "base")]
    second["stages"] = [s for s in second["stages"] if s["kind"] == "resolution"]
    (tmp_path / "a.json").write_text(json.dumps(first))
    (tmp_path / "b.json").write_text(json.dumps(second))
    recipe = tmp_path / "recipe.json"
    body = {
        "format": "sigma-studio-recipe",
        "version": 1,
        "defaults": {"guidance": 2.0},
        "runs": [{"config": "a.json", "device": "cpu", "eval": False}, {"config": "b.json", "device": "cpu"}],
    }
    recipe.write_text(json.dumps(body))
    out, work = tmp_path / "model", tmp_path / "work"
    logs = run_recipe(recipe, out, work, progress=False)
    assert [list(log["stages"]) for log in logs] == [["vae", "text", "base"], ["resolution"]]
    assert "eval" not in logs[0] and "colour_acc" in logs[1]["eval"]
    saved = json.loads((out / "train_log.json").read_text())
    assert saved["parent"]["model"] == str(work / "run1-a")
    assert list(saved["parent"]["log"]["stages"]) == ["vae", "text", "base"]
    assert json.loads((out / "sigma_studio.json").read_text())["defaults"] == {"guidance": 2.0}
    card = (out / "README.md").read_text()
    assert "### Run 1" in card and "run 2/2" in card

    # --from-run 2 reuses run 1's output; a re-save keeps the defaults file
    log = run_recipe(recipe, out, work, from_run=2, progress=False)[0]
    assert list(log["stages"]) == ["resolution"] and (out / "sigma_studio.json").exists()

    # bad recipes: clear errors before any training
    for change, message in [
        ({"runs": []}, "non-empty"),
        ({"runs": [{"config": "missing.json"}]}, "not found"),
        ({"runs": [{"config": "a.json", "gpu": True}]}, "unknown keys"),
        ({"defaults": {"guidance": 99}}, "guidance"),
        ({"format": "other"}, "not a recipe"),
    ]:
        recipe.write_text(json.dumps({**body, **change}))
        with pytest.raises(ValueError, match=message):
            load_recipe(recipe)
    recipe.write_text(json.dumps(body))
    with pytest.raises(ValueError, match="holds no model"):
        run_recipe(recipe, tmp_path / "other", tmp_path / "work2", from_run=2, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            run_recipe(recipe, tmp_path / "other", tmp_path / "work3", device="cuda", progress=False)
