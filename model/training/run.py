"""Weak-to-strong training and fine-tuning of PixArt-Sigma pipelines (library + `python -m model.train`).

A run is a list of stages from a JSON config (docs/TRAINING.md), each restartable on its own:

- ``vae``: a fresh AutoencoderKL (4 latent channels, 8x) trained on the images (L1 + L2 + small KL);
  its scaling factor is set to 1 / std of the latents.
- ``text``: (demo data only) a T5 trained from scratch learns the caption grammar by predicting the
  caption's labels (main colour, accent colour, pattern, layout) through attention-pooling probes, a
  stand-in for the language pretraining the released T5 had; the DiT stages then read it frozen.
- ``base``: the DiT at low resolution: epsilon-prediction MSE on the first 4 output channels, noise
  from a DDPMScheduler with the pipeline's training betas, classifier-free caption dropout, EMA.
- ``resolution``: the same at a higher resolution after setting ``sample_size`` and
  ``interpolation_scale`` in the transformer config (PixArt's sin-cos position embedding covers
  ``base_size / interpolation_scale`` positions, so doubling both keeps the learned range).
- ``kv``: KV token compression (``apply_kv_compression(mode="conv")``) fine-tuned, saved as a sidecar.

Every DiT stage caches VAE latents and caption tokens/embeddings once (in the work folder's
``cache``), samples batches from one aspect bucket at a time, writes resumable checkpoints (model,
EMA, optimizer, step, RNG), a sample grid, and saves the EMA weights as a diffusers pipeline folder.
Stages are time-boxed by ``--max-minutes`` in proportion to their ``share``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import platform
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

CONFIG_FORMAT = "sigma-studio-train"
CONFIG_VERSION = 1
STAGE_KINDS = ("vae", "text", "base", "resolution", "kv")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- configuration


@dataclass
class StageConfig:
    """One training stage (see docs/TRAINING.md for every key)."""

    name: str
    kind: str  # vae | text | base | resolution | kv
    share: float = 1.0  # fraction of the time budget (relative to the other stages)
    steps: int = 1000  # upper bound; a time budget may stop earlier
    batch_size: int = 32
    lr: float = 1e-4
    lr_schedule: str = "cosine"  # cosine (to lr * min_lr_ratio) | constant; after linear warmup
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    sizes: list = field(default_factory=lambda: [[256, 256]])  # buckets, [width, height] in pixels
    samples: int = 1000  # images rendered (demo data) or used (folder data)
    data_share: float = 0.35  # at most this fraction of the stage budget goes to rendering + caching
    captions_per_image: int = 1
    caption_dropout: float = 0.1
    offset_noise: float = 0.0  # std of a per-channel constant added to the noise (global colour control)
    high_t_fraction: float = 0.0  # part of each batch with t drawn from the noisier half
    ema_decay: float = 0.999
    train_text_encoder: bool = False
    text_encoder_lr: float | None = None  # None: lr
    sample_size: int | None = None  # transformer sample_size for this stage (None: keep)
    interpolation_scale: float | None = None  # transformer interpolation_scale (None: keep)
    kv_factor: int = 2
    kv_blocks: list | None = None  # None: the second half of the blocks
    kv_uncompressed: float = 0.5  # kv stage: fraction of batches run without compression
    kv_train: str = "all"  # all | kv (only the compressors)
    kl_weight: float = 1e-6  # vae stage
    vae_train: str = "all"  # vae stage: all (a fresh VAE) | decoder (fine-tune the pipeline VAE's decoder)
    log_every: int = 25
    checkpoint_every: int = 500  # steps; also at the end and on Ctrl-C
    sample_every: int = 0  # steps; 0: only at the end of the stage


@dataclass
class TrainConfig:
    """A whole run: model source, data, stages and run-wide settings."""

    model: dict = field(default_factory=lambda: {"preset": "Demo"})
    data: dict = field(default_factory=lambda: {"kind": "demo", "seed": 0})
    stages: list = field(default_factory=list)
    seed: int = 0
    mixed_precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
    gradient_checkpointing: bool = False
    max_tokens: int = 300  # caption tokens kept (the pipeline uses 300)
    workers: int | str = "auto"  # processes rendering/loading images
    sample_prompts: list = field(default_factory=list)
    sample_steps: int = 20
    sample_guidance: float = 4.5
    save_half: list = field(default_factory=list)  # components saved in fp16, e.g. ["transformer"]
    final_share: float = 0.06  # of the budget kept for the final save + eval
    eval: dict | None = None  # {"n": 48, "size": 512, "steps": 20} for demo data


def _from_dict(cls, data: dict, where: str):
    """Dataclass from a dict; keys starting with '_' are comments; unknown keys are refused."""
    known = {f.name for f in fields(cls)}
    unknown = [k for k in data if k not in known and not k.startswith("_")]
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown} (known: {sorted(known)})")
    return cls(**{k: v for k, v in data.items() if k in known})


def load_config(source: str | os.PathLike | dict) -> TrainConfig:
    """Read and validate a training config (a JSON file or an already parsed dict)."""
    where = "config"
    if not isinstance(source, dict):
        where = str(source)
        source = json.loads(Path(source).read_text(encoding="utf-8"))
    data = copy.deepcopy(source)
    if data.pop("format", CONFIG_FORMAT) != CONFIG_FORMAT:
        raise ValueError(f"{where}: not a {CONFIG_FORMAT} file")
    if int(data.pop("version", 1)) > CONFIG_VERSION:
        raise ValueError(f"{where}: version is newer than {CONFIG_VERSION}")
    stages = [_from_dict(StageConfig, s, f"{where}: stage {i}") for i, s in enumerate(data.pop("stages", []))]
    cfg = _from_dict(TrainConfig, data, where)
    cfg.stages = stages
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: stage names must be unique, got {names}")
    for s in stages:
        if s.kind not in STAGE_KINDS:
            raise ValueError(f"{where}: stage {s.name!r} has kind {s.kind!r}, expected one of {STAGE_KINDS}")
        if s.vae_train not in ("all", "decoder"):
            raise ValueError(f"{where}: stage {s.name!r} has vae_train {s.vae_train!r}, expected all or decoder")
        for size in s.sizes:
            if len(size) != 2 or any(int(v) % 16 for v in size):
                raise ValueError(f"{where}: stage {s.name!r} size {size} must be [w, h], multiples of 16")
    return cfg


# ---------------------------------------------------------------- small utilities


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: no CUDA GPU is available here (use --device cpu)")
    return device


def autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the forward passes (None: plain fp32)."""
    mode = cfg.mixed_precision
    if mode == "auto":
        mode = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[mode]


def _autocast(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast when a dtype is set, else a no-op context."""
    if dtype is None:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=dtype)


def _sync(device: torch.device) -> None:
    """Wait for the device (honest timings)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fingerprint(module: torch.nn.Module) -> str:
    """A short hash of a module's weights (cache keys): names, shapes, sums and leading values.

    Cheap even for T5-XXL (no full copy to the host), yet any training step changes it.
    """
    h = hashlib.sha1()
    with torch.no_grad():
        for name, tensor in sorted(module.state_dict().items()):
            t = tensor.detach()
            flat = t.reshape(-1)[:64].float().cpu()
            stats = torch.stack([t.float().sum(), t.float().abs().sum()]).cpu()
            h.update(f"{name}{tuple(t.shape)}".encode())
            h.update(flat.numpy().tobytes() + stats.numpy().tobytes())
    return h.hexdigest()[:16]


def _hash(obj: Any) -> str:
    """Stable short hash of a JSON-able object."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Budget:
    """Wall-clock time box of a run, split between stages by their share."""

    def __init__(self, minutes: float | None) -> None:
        """`minutes` None: no limit."""
        self.start = time.monotonic()
        self.deadline = None if minutes is None else self.start + 60.0 * minutes

    def left(self) -> float:
        """Seconds left (inf without a limit)."""
        return math.inf if self.deadline is None else self.deadline - time.monotonic()

    def stage_deadline(self, share: float, shares_left: float, reserve: float) -> float:
        """Deadline (monotonic seconds) of a stage taking `share` of what remains after `reserve`."""
        if self.deadline is None:
            return math.inf
        avail = max(0.0, self.left() - reserve)
        return time.monotonic() + avail * share / max(shares_left, 1e-9)


def lr_at(stage: StageConfig, progress: float, step: int) -> float:
    """Learning rate at `step` with `progress` in 0..1 of the stage (warmup, then cosine or constant)."""
    warm = min(1.0, (step + 1) / max(1, stage.warmup_steps))
    if stage.lr_schedule == "constant":
        return stage.lr * warm
    p = min(max(progress, 0.0), 1.0)
    floor = stage.min_lr_ratio
    return stage.lr * warm * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def rng_state(device: torch.device) -> dict:
    """Global RNG states (python, numpy, torch, cuda)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Restore rng_state()."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())  # a checkpoint loaded with map_location=cuda moved it
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


# ---------------------------------------------------------------- data sources


def closest_size(width: int, height: int, sizes: list) -> tuple[int, int]:
    """The bucket size whose aspect ratio is closest (in log) to width x height."""
    ratio = math.log(height / width)
    w, h = min(sizes, key=lambda s: abs(math.log(s[1] / s[0]) - ratio))
    return int(w), int(h)


def fit_to(image: Image.Image, width: int, height: int) -> Image.Image:
    """Resize to cover width x height and center-crop (keeps the aspect of the content)."""
    image = image.convert("RGB")
    scale = max(width / image.width, height / image.height)
    size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    image = image.resize(size, Image.BICUBIC)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return image.crop((left, top, left + width, top + height))


class DemoSource:
    """The procedural wallpapers of model/demo_data.py (training split only)."""

    def __init__(self, seed: int, captions_per_image: int) -> None:
        """Dataset `seed`; each image gets `captions_per_image` phrasings."""
        self.seed = seed
        self.k = captions_per_image

    def size_of(self, index: int, sizes: list) -> tuple[int, int]:
        """Bucket of sample `index`: sizes taken in turn (deterministic)."""
        w, h = sizes[index % len(sizes)]
        return int(w), int(h)

    def item(self, index: int, size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
        """(H, W, 3) uint8 image and its captions."""
        from .demo_data import captions_for, render_sample

        sample = render_sample(self.seed, index, size[0], size[1])
        return np.asarray(sample.image), captions_for(self.seed, index, self.k)


class FolderSource:
    """A folder of images with captions: `name.txt` next to `name.png`, or a metadata.jsonl
    with {"file_name": ..., "text": ...} lines."""

    def __init__(self, path: str | os.PathLike) -> None:
        """Index the images of `path` (sorted, deterministic)."""
        self.path = Path(path)
        self.items: list[tuple[Path, str]] = []
        meta = self.path / "metadata.jsonl"
        captions: dict[str, str] = {}
        if meta.exists():
            for line in meta.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    captions[row["file_name"]] = row["text"]
        for file in sorted(p for p in self.path.rglob("*") if p.suffix.lower() in IMAGE_EXTS):
            rel = file.relative_to(self.path).as_posix()
            text = captions.get(rel)
            if text is None and file.with_suffix(".txt").exists():
                text = file.with_suffix(".txt").read_text(encoding="utf-8").strip()
            if text is not None:
                self.items.append((file, text))
        if not self.items:
            raise ValueError(f"{self.path}: no images with captions (.txt next to them or metadata.jsonl)")
        self._sizes: dict[int, tuple[int, int]] = {}

    def __len__(self) -> int:
        """Number of captioned images."""
        return len(self.items)

    def size_of(self, index: int, sizes: list) -> tuple[int, int]:
        """Bucket by the image's aspect ratio."""
        file = self.items[index % len(self.items)][0]
        if index not in self._sizes:
            with Image.open(file) as im:
                self._sizes[index] = im.size
        return closest_size(*self._sizes[index], sizes)

    def item(self, index: int, size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
        """(H, W, 3) uint8 image (cover + center crop) and its caption."""
        file, text = self.items[index % len(self.items)]
        with Image.open(file) as im:
            return np.asarray(fit_to(im, *size)), [text]


def make_source(data: dict, stage: StageConfig) -> DemoSource | FolderSource:
    """The data source named by the config's `data` section."""
    kind = data.get("kind", "demo")
    if kind == "demo":
        return DemoSource(int(data.get("seed", 0)), stage.captions_per_image)
    if kind == "folder":
        return FolderSource(data["path"])
    raise ValueError(f"data kind {kind!r} is not demo or folder")


_SOURCES: dict[str, DemoSource | FolderSource] = {}


def _render_chunk(args: tuple) -> list[tuple[int, np.ndarray, list[str]]]:
    """Worker: render/load a chunk of (index, size) items (top level so processes can run it)."""
    data, stage_dict, chunk = args
    key = json.dumps([data, stage_dict["captions_per_image"]], sort_keys=True)
    if key not in _SOURCES:  # one folder scan per process, not per chunk
        _SOURCES[key] = make_source(data, StageConfig(**stage_dict))
    source = _SOURCES[key]
    return [(i, *source.item(i, size)) for i, size in chunk]


def iter_items(
    data: dict, stage: StageConfig, plan: list[tuple[int, tuple[int, int]]], workers: int, chunk: int = 64
) -> Iterator[list[tuple[int, np.ndarray, list[str]]]]:
    """Yield rendered/loaded items chunk by chunk, in plan order (worker processes when workers > 1).

    At most 2 x workers chunks are in flight, and closing the generator early cancels the rest.
    """
    jobs = [(data, asdict(stage), plan[i : i + chunk]) for i in range(0, len(plan), chunk)]
    if workers <= 1:
        for job in jobs:
            yield _render_chunk(job)
        return
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
    try:
        pending: deque = deque()
        todo = iter(jobs)
        for job in todo:
            pending.append(pool.submit(_render_chunk, job))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            job = next(todo, None)
            if job is not None:
                pending.append(pool.submit(_render_chunk, job))
            yield result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def resolve_workers(setting: int | str) -> int:
    """'auto' -> one process per spare core (max 16); 1 renders in-process."""
    if setting == "auto":
        return max(1, min(16, (os.cpu_count() or 1) - 1)) if (os.cpu_count() or 1) > 4 else 1
    return max(1, int(setting))


# ---------------------------------------------------------------- text


def tokenize(tokenizer, captions: list[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Captions -> (ids (N, L) long, mask (N, L) long), padded to max_tokens as the pipeline does."""
    out = tokenizer(
        captions,
        padding="max_length",
        max_length=max_tokens,
        truncation=True,
        add_special_tokens=True,
        return_tensors="pt",
    )
    return out.input_ids, out.attention_mask


def encode_text(text_encoder, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, L) ids + mask -> (N, L, C) embeddings."""
    return text_encoder(ids, attention_mask=mask)[0]


def trim_tokens(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop trailing all-padding columns: the masked tokens change nothing (T5 and cross-attention mask them)."""
    keep = max(1, int(mask.sum(1).max()))
    return ids[:, :keep].contiguous(), mask[:, :keep].contiguous()


# ---------------------------------------------------------------- cache


@dataclass
class Bucket:
    """Cached training items of one size: latents and caption indices."""

    size: tuple[int, int]  # (width, height) in pixels
    latents: torch.Tensor  # (N, 4, h, w) scaled VAE latent means, fp16
    captions: torch.Tensor  # (N, K) indices into the caption table


@dataclass
class DataCache:
    """Latents by bucket + the caption table (token ids, masks, optional frozen-encoder embeddings)."""

    buckets: list[Bucket]
    ids: torch.Tensor  # (M, L) caption token ids
    mask: torch.Tensor  # (M, L)
    emb: torch.Tensor | None  # (M, L, C) bf16, None when the text encoder trains
    empty_ids: torch.Tensor  # (1, L) the empty prompt
    empty_mask: torch.Tensor  # (1, L)
    empty_emb: torch.Tensor | None  # (1, L, C)

    def to(self, device: torch.device, max_emb_bytes: int = 2 << 30) -> DataCache:
        """Move the tensors to `device`; caption embeddings only when smaller than max_emb_bytes."""

        def move(t: torch.Tensor | None, big_ok: bool = True) -> torch.Tensor | None:
            if t is None or (not big_ok and t.numel() * t.element_size() > max_emb_bytes):
                return t
            return t.to(device)

        buckets = [Bucket(b.size, move(b.latents), move(b.captions)) for b in self.buckets]
        return DataCache(
            buckets,
            move(self.ids),
            move(self.mask),
            move(self.emb, big_ok=False),
            move(self.empty_ids),
            move(self.empty_mask),
            move(self.empty_emb),
        )


def _encode_images(
    vae, images: list[np.ndarray], device: torch.device, dtype, batch: int = 32
) -> torch.Tensor:
    """uint8 (H, W, 3) images of one size -> (N, 4, H/8, W/8) scaled latent means (fp16, CPU)."""
    out = []
    scale = vae.config.scaling_factor
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.stack(images[i : i + batch])).to(device)  # (B, H, W, 3) uint8
        x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (B, 3, H, W) in -1..1
        with torch.no_grad(), _autocast(device, dtype):
            mean = vae.encode(x).latent_dist.mean  # (B, 4, H/8, W/8)
        out.append((mean.float() * scale).half().cpu())
    return torch.cat(out)


def build_cache(
    ctx: RunContext, stage: StageConfig, pipe, deadline: float, with_emb: bool
) -> tuple[DataCache, dict]:
    """Render/load images, encode latents (and embeddings when the text encoder is frozen), once.

    Stored in work/cache/<key>/ and reused by any stage with the same data, sizes, VAE and text encoder.
    Rendering stops at `deadline` (the cache then holds fewer samples; the log says how many).
    """
    t0 = time.monotonic()
    source = make_source(ctx.cfg.data, stage)
    n = stage.samples if not isinstance(source, FolderSource) else min(stage.samples, len(source))
    key_src = {
        "data": ctx.cfg.data,
        "sizes": stage.sizes,
        "samples": n,
        "k": stage.captions_per_image,
        "tokens": ctx.cfg.max_tokens,
        "vae": fingerprint(pipe.vae),
    }
    folder = ctx.work / "cache" / _hash(key_src)
    info: dict = {"folder": str(folder)}
    file = folder / "latents.pt"
    if file.exists():
        blob = torch.load(file, map_location="cpu", weights_only=False)
        info.update(blob["info"], reused=True)
        fields_ = blob["cache"]
        fields_["buckets"] = [Bucket(**b) for b in fields_["buckets"]]
        cache = DataCache(**fields_)
    else:
        cache = _render_and_encode(ctx, stage, pipe, source, n, deadline, info)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"cache": asdict(cache), "info": info}, folder / "latents.tmp")
        os.replace(folder / "latents.tmp", file)
        info["reused"] = False
    if with_emb:
        # frozen text encoder: embeddings once per encoder version, next to the latents
        emb_file = folder / f"emb-{fingerprint(pipe.text_encoder)}.pt"
        if emb_file.exists():
            cache.emb, cache.empty_emb = torch.load(emb_file, map_location="cpu", weights_only=False)
        else:
            cache.emb = _embed_all(pipe.text_encoder, cache.ids, cache.mask, ctx.device, ctx.amp)
            cache.empty_emb = _embed_all(
                pipe.text_encoder, cache.empty_ids, cache.empty_mask, ctx.device, ctx.amp
            )
            torch.save((cache.emb, cache.empty_emb), emb_file.with_suffix(".tmp"))
            os.replace(emb_file.with_suffix(".tmp"), emb_file)
    info["seconds"] = round(time.monotonic() - t0, 2)
    return cache, info


def _render_and_encode(
    ctx: RunContext, stage: StageConfig, pipe, source, n: int, deadline: float, info: dict
) -> DataCache:
    """Render/load up to n items (until `deadline`), encode latents by size, tokenize captions."""

    t0 = time.monotonic()
    plan = [(i, source.size_of(i, stage.sizes)) for i in range(n)]
    per_size: dict[tuple[int, int], list] = {}
    captions: list[str] = []
    cap_index: dict[str, int] = {}
    pending: dict[tuple[int, int], list] = {}
    dtype = ctx.amp
    stopped = False
    rendered = 0
    chunks = iter_items(ctx.cfg.data, stage, plan, ctx.workers)
    for chunk in chunks:
        for _index, image, caps in chunk:
            ids = []
            for c in caps:
                if c not in cap_index:
                    cap_index[c] = len(captions)
                    captions.append(c)
                ids.append(cap_index[c])
            while len(ids) < stage.captions_per_image:
                ids.append(ids[len(ids) % len(caps)])
            size = (image.shape[1], image.shape[0])
            pending.setdefault(size, []).append((image, ids))
            rendered += 1
        for size, items in list(pending.items()):
            if len(items) >= 64:
                lat = _encode_images(pipe.vae, [im for im, _ in items], ctx.device, dtype)
                per_size.setdefault(size, []).append((lat, torch.tensor([ids for _, ids in items])))
                pending[size] = []
        if time.monotonic() > deadline and rendered >= stage.batch_size:
            stopped = True
            break
    chunks.close()
    for size, items in pending.items():
        if items:
            lat = _encode_images(pipe.vae, [im for im, _ in items], ctx.device, dtype)
            per_size.setdefault(size, []).append((lat, torch.tensor([ids for _, ids in items])))
    buckets = [
        Bucket(size, torch.cat([lat for lat, _ in parts]), torch.cat([c for _, c in parts]))
        for size, parts in sorted(per_size.items())
    ]

    ids, mask = tokenize(pipe.tokenizer, captions, ctx.cfg.max_tokens)
    empty_ids, empty_mask = tokenize(pipe.tokenizer, [""], ctx.cfg.max_tokens)
    keep = max(int(mask.sum(1).max()), 1)
    ids, mask = ids[:, :keep], mask[:, :keep]
    empty_ids, empty_mask = empty_ids[:, :keep], empty_mask[:, :keep]
    info.update(
        samples=rendered,
        planned=n,
        stopped_early=stopped,
        captions=len(captions),
        tokens=keep,
        buckets={f"{b.size[0]}x{b.size[1]}": len(b.latents) for b in buckets},
        render_seconds=round(time.monotonic() - t0, 2),
    )
    return DataCache(buckets, ids, mask, None, empty_ids, empty_mask, None)


def _embed_all(
    text_encoder, ids: torch.Tensor, mask: torch.Tensor, device: torch.device, dtype
) -> torch.Tensor:
    """Embeddings of every caption (frozen encoder), bf16 on CPU."""
    out = []
    text_encoder.eval()
    for i in range(0, len(ids), 256):
        with torch.no_grad(), _autocast(device, dtype):
            e = encode_text(text_encoder, ids[i : i + 256].to(device), mask[i : i + 256].to(device))
        out.append(e.to(torch.bfloat16).cpu())
    return torch.cat(out)


class BucketSampler:
    """Batches drawn from one bucket at a time (bucket chosen in proportion to its size)."""

    def __init__(self, counts: list[int], batch_size: int, seed: int) -> None:
        """`counts` items per bucket; reproducible from `seed`, resumable via state_dict()."""
        self.counts = list(counts)
        self.batch_size = batch_size
        self.weights = torch.tensor(self.counts, dtype=torch.float64)
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[int, torch.Tensor]:
        """(bucket, indices (B,)) sampled with replacement."""
        b = int(torch.multinomial(self.weights, 1, generator=self.generator))
        return b, torch.randint(self.counts[b], (self.batch_size,), generator=self.generator)

    def state_dict(self) -> dict:
        """Generator state."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict()."""
        self.generator.set_state(state["generator"].cpu())


def drop_captions(p: float, batch: int, generator: torch.Generator) -> torch.Tensor:
    """(B,) bool: which captions are replaced by the empty prompt (classifier-free guidance training)."""
    return torch.rand(batch, generator=generator, device=generator.device) < p


# ---------------------------------------------------------------- run context


@dataclass
class RunContext:
    """What every stage needs: config, folders, device, precision, budget, log."""

    cfg: TrainConfig
    out: Path
    work: Path
    device: torch.device
    amp: torch.dtype | None
    budget: Budget
    workers: int = 1
    progress: bool = True
    log: dict = field(default_factory=dict)
    command: str = ""

    def stage_dir(self, name: str) -> Path:
        """Saved pipeline of a finished stage."""
        return self.work / "stages" / name

    def checkpoint(self, name: str) -> Path:
        """Resumable training state of a stage."""
        return self.work / "checkpoints" / f"{name}.pt"

    def write_log(self) -> None:
        """train_log.json in the work folder (and in out when published)."""
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "train_log.json").write_text(
            json.dumps(self.log, indent=2, default=str), encoding="utf-8"
        )


# ---------------------------------------------------------------- pipelines


def initial_pipeline(cfg: TrainConfig, seed: int):
    """The starting pipeline: a named preset with random weights, or a pretrained one."""
    from .build import build_pipeline

    model = cfg.model
    if "preset" in model:
        from . import configs

        preset = getattr(configs, model["preset"], None)
        if preset is None or not callable(preset):
            raise ValueError(f"unknown model preset {model['preset']!r}")
        args = model.get("args", [])
        return build_pipeline(preset(*args), seed=seed)
    if "pretrained" in model:
        from diffusers import PixArtSigmaPipeline, PixArtTransformer2DModel

        local = local_pretrained(model)
        if local and not model.get("transformer") and not model.get("text_encoder_dtype"):
            # a saved pipeline folder (e.g. resources/demo_model): fp32 weights + its KV compressors
            return load_pipeline(local)
        kwargs: dict = {}
        if model.get("transformer"):
            kwargs["transformer"] = PixArtTransformer2DModel.from_pretrained(
                model["transformer"], subfolder=model.get("transformer_subfolder")
            )
        if model.get("text_encoder_dtype"):
            # T5-XXL is 19 GB in fp32: load it in bf16 when it only encodes captions once
            from transformers import T5EncoderModel

            dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
            kwargs["text_encoder"] = T5EncoderModel.from_pretrained(
                model["pretrained"], subfolder="text_encoder", dtype=dtype[model["text_encoder_dtype"]]
            )
        pipe = PixArtSigmaPipeline.from_pretrained(model["pretrained"], **kwargs)
        pipe.set_progress_bar_config(disable=True)
        return pipe
    raise ValueError("model must name a 'preset' or a 'pretrained' pipeline")


def load_pipeline(folder: Path):
    """A saved stage: PixArtSigmaPipeline in fp32 (+ its KV compression sidecar, if any)."""
    from diffusers import PixArtSigmaPipeline

    pipe = PixArtSigmaPipeline.from_pretrained(folder)
    pipe.transformer.to(torch.float32)  # trained weights in fp32; T5 stays as saved (bf16 XXL: 9.5 GB)
    pipe.vae.to(torch.float32)
    pipe.set_progress_bar_config(disable=True)
    sidecar = folder / "transformer" / "kv_compress.json"
    if sidecar.exists():
        from .kv_compress import load_kv_compression, remove_kv_compression

        load_kv_compression(pipe.transformer, folder / "transformer")
        remove_kv_compression(pipe.transformer)  # weights kept, processors back to default
    return pipe


def set_transformer_resolution(pipe, sample_size: int | None, interpolation_scale: float | None) -> bool:
    """Rebuild the transformer with a new sample_size / interpolation_scale (weights kept); True if changed.

    PixArt's position embedding is sin-cos over a grid normalised to base_size / interpolation_scale
    positions (base_size = sample_size / patch), so it is recomputed, not learned: scaling both by the
    same factor keeps the positions the model learned while the token grid gets denser.
    """
    from diffusers import PixArtTransformer2DModel

    old = pipe.transformer
    config = dict(old.config)
    new_size = config["sample_size"] if sample_size is None else int(sample_size)
    new_scale = config["interpolation_scale"] if interpolation_scale is None else float(interpolation_scale)
    if new_size == config["sample_size"] and new_scale == config["interpolation_scale"]:
        return False
    config.update(sample_size=new_size, interpolation_scale=new_scale)
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    new = PixArtTransformer2DModel(**config)
    extra = {k: v for k, v in old.state_dict().items() if ".kv_compress." in k}
    base = {k: v for k, v in old.state_dict().items() if ".kv_compress." not in k}
    new.load_state_dict(base, strict=True)
    if extra:
        from .kv_compress import load_kv_state, remove_kv_compression

        factor = next(
            b.attn1.kv_compress.factor for b in old.transformer_blocks if hasattr(b.attn1, "kv_compress")
        )
        load_kv_state(new, extra, factor)
        remove_kv_compression(new)
    pipe.transformer = new.to(old.device, old.dtype)
    pipe.register_modules(transformer=pipe.transformer)
    return True


def save_pipeline(pipe, folder: Path, half: list[str] | tuple = ()) -> None:
    """Write a diffusers pipeline folder (safetensors) + the KV sidecar; atomically replaces `folder`."""
    from .kv_compress import (
        kv_settings,
        kv_state_dict,
        load_kv_state,
        remove_kv_compression,
        save_kv_compression,
    )

    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tf = pipe.transformer
    kv = {k: v.detach().clone() for k, v in kv_state_dict(tf).items()}
    settings = kv_settings(tf)
    factor = next(
        (b.attn1.kv_compress.factor for b in tf.transformer_blocks if hasattr(b.attn1, "kv_compress")), 0
    )
    if kv:
        remove_kv_compression(tf, drop_weights=True)  # diffusers' loader would not know these keys
    saved = {}
    try:
        for name in half:
            module = getattr(pipe, name)
            saved[name] = module.dtype
            module.to(torch.float16)
        pipe.save_pretrained(tmp, safe_serialization=True)
    finally:
        for name, dtype in saved.items():
            getattr(pipe, name).to(dtype)
        if kv:
            load_kv_state(tf, kv, factor)
            if settings is None:
                remove_kv_compression(tf)
    if kv:
        save_kv_compression(tf, tmp / "transformer")
        if settings is not None:
            from .kv_compress import apply_kv_compression

            apply_kv_compression(tf, settings["factor"], settings["blocks"], settings["mode"])
    from .sources import MODEL_DEFAULTS_FILE

    if (folder / MODEL_DEFAULTS_FILE).is_file():  # the model's generation defaults outlive a re-save
        shutil.copy2(folder / MODEL_DEFAULTS_FILE, tmp / MODEL_DEFAULTS_FILE)
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- sampling


@torch.no_grad()
def sample_grid(
    pipe, prompts: list[str], size: tuple[int, int], steps: int, guidance: float, seed: int, device, amp
):
    """A grid PNG of the prompts generated at `size` with one fixed seed per prompt."""
    generators = [torch.Generator(device="cpu").manual_seed(seed + i) for i in range(len(prompts))]
    with _autocast(device, amp):
        images = pipe(
            list(prompts),
            width=size[0],
            height=size[1],
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=generators,
            use_resolution_binning=False,
            clean_caption=False,
        ).images
    cols = min(4, len(images))
    rows = -(-len(images) // cols)
    w, h = images[0].size
    grid = Image.new("RGB", (cols * w, rows * h), "white")
    for i, im in enumerate(images):
        grid.paste(im, ((i % cols) * w, (i // cols) * h))
    return grid


def _prepare_for_inference(pipe, device: torch.device) -> None:
    """Eval mode on the device, progress bars off."""
    pipe.to(device)
    for name in ("transformer", "text_encoder", "vae"):
        getattr(pipe, name).eval()
    pipe.set_progress_bar_config(disable=True)


# ---------------------------------------------------------------- VAE stage


class VAETrainer:
    """Trains a fresh AutoencoderKL: L1 + L2 reconstruction of sampled latents + kl_weight * KL."""

    def __init__(self, vae, stage: StageConfig, device: torch.device, amp, seed: int) -> None:
        """Optimizer and generator for `vae` on `device`."""
        self.vae = vae.to(device).train().requires_grad_(True)
        self.stage = stage
        self.device = device
        self.amp = amp
        self.decoder_only = stage.vae_train == "decoder"
        if self.decoder_only:  # the encoder (hence the latent space the DiT learned) stays as it is
            for part in (vae.encoder, vae.quant_conv):
                if part is not None:
                    part.requires_grad_(False).eval()
        self.params = [p for p in vae.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=stage.lr, weight_decay=stage.weight_decay)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.step = 0

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """x (B, 3, H, W) in -1..1 -> total loss and its parts."""
        with _autocast(self.device, self.amp):
            with torch.set_grad_enabled(not self.decoder_only and torch.is_grad_enabled()):
                post = self.vae.encode(x).latent_dist
            z = post.sample(generator=self.generator)  # (B, 4, H/8, W/8)
            rec = self.vae.decode(z).sample  # (B, 3, H, W)
        rec = rec.float()
        l1 = (rec - x).abs().mean()
        l2 = F.mse_loss(rec, x)
        kl = post.kl().mean() / x[0].numel()
        total = l1 + l2 + self.stage.kl_weight * x[0].numel() * kl
        return total, {"l1": l1.item(), "l2": l2.item(), "kl": kl.item()}

    def train_step(self, x: torch.Tensor, lr: float) -> torch.Tensor:
        """One optimizer step on a batch; returns the (detached, on-device) loss."""
        for group in self.opt.param_groups:
            group["lr"] = lr
        loss, _ = self.loss(x)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.stage.grad_clip)
        self.opt.step()
        self.step += 1
        return loss.detach()

    def state_dict(self) -> dict:
        """Everything a resume needs."""
        return {
            "step": self.step,
            "vae": self.vae.state_dict(),
            "opt": self.opt.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict()."""
        self.step = state["step"]
        self.vae.load_state_dict(state["vae"])
        self.opt.load_state_dict(state["opt"])
        self.generator.set_state(state["generator"].cpu())


def _uint8_batch(images: torch.Tensor, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, 3, H, W) rows -> float (B, 3, H, W) in -1..1 on device."""
    return images[idx.to(images.device)].to(device).float() / 127.5 - 1.0


@torch.no_grad()
def set_latent_scale(vae, images: torch.Tensor, device: torch.device) -> float:
    """scaling_factor = 1 / std of the latent means (so the DiT sees unit-variance latents)."""
    vae.eval()
    x = _uint8_batch(images, torch.arange(min(len(images), 64)), device)
    z = torch.cat([vae.encode(x[i : i + 32]).latent_dist.mean for i in range(0, len(x), 32)])
    scale = float(1.0 / z.float().std().clamp_min(1e-4))
    vae.register_to_config(scaling_factor=scale)
    return scale


def run_vae_stage(ctx: RunContext, stage: StageConfig, pipe, deadline: float, resume: bool) -> dict:
    """Train a fresh VAE on the source images; returns the stage log."""
    from diffusers import AutoencoderKL

    t0 = time.monotonic()
    # rendering: images kept in memory as uint8 (N, 3, H, W); all sizes must match for batching
    data_deadline = t0 + (deadline - t0) * stage.data_share
    source = make_source(ctx.cfg.data, stage)
    n = stage.samples if not isinstance(source, FolderSource) else min(stage.samples, len(source))
    size = tuple(int(v) for v in stage.sizes[0])
    plan = [(i, size) for i in range(n)]
    arrays = []
    items = iter_items(ctx.cfg.data, stage, plan, ctx.workers)
    for chunk in items:
        arrays.extend(im for _, im, _ in chunk)
        if time.monotonic() > data_deadline and len(arrays) >= stage.batch_size:
            break
    items.close()
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W) uint8
    data_s = time.monotonic() - t0
    if ctx.device.type == "cuda":
        images = images.to(ctx.device)

    demo = ctx.cfg.data.get("kind", "demo") == "demo"
    if stage.vae_train == "decoder":
        vae = copy.deepcopy(pipe.vae).float().to(ctx.device)
        psnr_before = _psnr(vae, images, ctx.device)
        colour_before = _recon_colour(vae, ctx.device) if demo else None
    else:
        colour_before = None
        vae = AutoencoderKL(**{k: v for k, v in pipe.vae.config.items() if not k.startswith("_")})
        psnr_before = None
    trainer = VAETrainer(vae, stage, ctx.device, ctx.amp, ctx.cfg.seed + 11)
    sampler = BucketSampler([len(images)], stage.batch_size, ctx.cfg.seed + 12)
    ckpt = ctx.checkpoint(stage.name)
    curve = _resume_stage(ctx, ckpt, trainer, sampler) if resume else []
    step_time = _loop(
        ctx,
        stage,
        deadline,
        start=trainer.step,
        step_fn=lambda step, progress: trainer.train_step(
            _uint8_batch(images, sampler.next()[1], ctx.device), lr_at(stage, progress, step)
        ),
        save_fn=lambda: _save_checkpoint(
            ckpt,
            {
                "trainer": trainer.state_dict(),
                "sampler": sampler.state_dict(),
                "curve": curve,
                "rng": rng_state(ctx.device),
            },
        ),
        curve=curve,
    )
    vae.eval().requires_grad_(False)
    psnr = _psnr(vae, images, ctx.device)
    x = _uint8_batch(images, torch.arange(min(len(images), 8)), ctx.device)
    rec = _round_trip(vae, x)
    # a decoder fine-tune keeps the latent space, so the scaling factor the DiT learned with stays
    scale = vae.config.scaling_factor if stage.vae_train == "decoder" else set_latent_scale(vae, images, ctx.device)
    pipe.vae = vae.to(ctx.device)
    pipe.register_modules(vae=pipe.vae)
    _save_recon(ctx, stage, x[:8], rec[:8])
    return {
        "images": len(images),
        "size": list(size),
        "data_seconds": round(data_s, 1),
        "steps": trainer.step,
        "step_seconds": step_time,
        "psnr_db": round(psnr, 2),
        "psnr_db_before": None if psnr_before is None else round(psnr_before, 2),
        # the eval's colour score on held-out 256 px renders passed through the VAE: a ceiling for the DiT
        "recon_colour_acc": _recon_colour(vae, ctx.device) if demo else None,
        "recon_colour_acc_before": colour_before,
        "scaling_factor": scale,
        "loss_curve": curve,
    }


@torch.no_grad()
def _round_trip(vae, x: torch.Tensor) -> torch.Tensor:
    """x (B, 3, H, W) in -1..1 through the VAE's latent means, in eval mode (its mode is restored)."""
    was_training = vae.training
    vae.eval()
    rec = vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
    vae.train(was_training)
    return rec


def _psnr(vae, images: torch.Tensor, device: torch.device, n: int = 64) -> float:
    """Reconstruction PSNR (dB) of the first n images through the latent means."""
    x = _uint8_batch(images, torch.arange(min(len(images), n)), device)
    rec = torch.cat([_round_trip(vae, x[i : i + 16]) for i in range(0, len(x), 16)])
    return float(10 * torch.log10(4.0 / F.mse_loss(rec.float(), x)))


@torch.no_grad()
def _recon_colour(vae, device: torch.device, size: int = 256, n: int = 32) -> float:
    """Share of held-out demo renders whose VAE reconstruction keeps its main colour (demo_eval's score)."""
    from .demo_data import render_sample, score_image, summarize

    scores = []
    for i in range(n):
        sample = render_sample(7, i, size, size, "heldout")
        x = torch.from_numpy(np.array(sample.image)).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1
        rec = _round_trip(vae, x)[0]  # (3, H, W)
        arr = ((rec.float().permute(1, 2, 0) + 1) * 127.5).round().byte().cpu().numpy()
        scores.append(score_image(Image.fromarray(arr), sample.labels))
    return round(summarize(scores)["colour_acc"], 4)


def _save_recon(ctx: RunContext, stage: StageConfig, x: torch.Tensor, rec: torch.Tensor) -> None:
    """Originals (top) and reconstructions (bottom) as a PNG in work/samples."""
    row = torch.cat([torch.cat(list(x), 2), torch.cat(list(rec), 2)], 1)  # (3, 2H, B*W)
    arr = ((row.float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    (ctx.work / "samples").mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(ctx.work / "samples" / f"{stage.name}_recon.png")


# ---------------------------------------------------------------- text stage


class CaptionProbe(torch.nn.Module):
    """Read-outs of T5 token states used only to train the encoder (text stage), then dropped.

    One attention-pooling probe per caption label (a learned query over the tokens, then a
    classifier), and a per-token tagger (role: other/main/accent colour; colour family), so the
    token states the DiT cross-attends to say which colour word is the main one.
    """

    TAGS = (3, 13)  # roles, families (+ none)

    def __init__(self, d_model: int, classes: dict[str, int]) -> None:
        super().__init__()
        self.names = list(classes)
        self.queries = torch.nn.Parameter(torch.randn(len(classes), d_model) * d_model**-0.5)
        self.heads = torch.nn.ModuleList(torch.nn.Linear(d_model, n) for n in classes.values())
        self.tagger = torch.nn.Linear(d_model, sum(self.TAGS))

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """(B, L, C) states, (B, L) mask -> logits per label [(B, n_k)]."""
        scores = torch.einsum("qc,blc->bql", self.queries, states) * states.shape[-1] ** -0.5  # (B, Q, L)
        scores = scores.masked_fill(mask[:, None, :] == 0, float("-inf"))
        pooled = torch.einsum("bql,blc->bqc", scores.softmax(-1), states)  # (B, Q, C)
        return [head(pooled[:, k]) for k, head in enumerate(self.heads)]

    def tag_loss(self, states: torch.Tensor, mask: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the per-token tags (B, L, 2) on the unmasked tokens."""
        logits = self.tagger(states)[mask.bool()]  # (T, 3 + 13)
        tags = tags[mask.bool()]  # (T, 2)
        roles, fams = logits.split(self.TAGS, dim=-1)
        return F.cross_entropy(roles, tags[:, 0]) + F.cross_entropy(fams, tags[:, 1])


def caption_label_table(
    seed: int, samples: int, per_image: int, split: str, max_tokens: int = 300
) -> tuple[list[str], torch.Tensor, dict, torch.Tensor]:
    """Demo captions with labels as class indices (N, 4) and per-character tags (N, max_tokens, 2)."""
    from .demo_data import COLOURS, LAYOUTS, PATTERNS, captions_for, colour_word_tags, sample_labels

    values = {
        "main_colour": list(COLOURS),
        "accent_colour": ["none", *COLOURS],
        "pattern": list(PATTERNS),
        "layout": list(LAYOUTS),
    }
    captions, rows, tags = [], [], []
    for i in range(samples):
        labels, _ = sample_labels(seed, i, split)
        row = [values[k].index(labels.get(k) or "none") for k in values]
        for caption in captions_for(seed, i, per_image, split):
            captions.append(caption)
            rows.append(row)
            tag = torch.zeros(max_tokens, 2, dtype=torch.long)
            role, fam = colour_word_tags(caption, labels)  # byte-level tokens: one per ASCII character
            n = min(len(role), max_tokens)
            tag[:n, 0], tag[:n, 1] = torch.tensor(role[:n]), torch.tensor(fam[:n])
            tags.append(tag)
    return captions, torch.tensor(rows), {k: len(v) for k, v in values.items()}, torch.stack(tags)


def run_text_stage(ctx: RunContext, stage: StageConfig, pipe, deadline: float, resume: bool) -> dict:
    """Train the pipeline's T5 encoder to expose the caption's labels (demo data); returns the stage log."""
    if ctx.cfg.data.get("kind", "demo") != "demo":
        raise ValueError(
            f"stage {stage.name!r}: a text stage needs labelled demo data; "
            "with your own images start from a pretrained T5 instead"
        )
    t0 = time.monotonic()
    seed = int(ctx.cfg.data.get("seed", 0))
    tokens = ctx.cfg.max_tokens
    captions, labels, classes, tags = caption_label_table(
        seed, stage.samples, stage.captions_per_image, "train", tokens
    )
    held_caps, held_labels, _, _ = caption_label_table(seed + 1, 256, 1, "heldout", tokens)
    ids, mask = trim_tokens(*tokenize(pipe.tokenizer, captions, tokens))
    tags = tags[:, : ids.shape[1]]
    held_ids, held_mask = trim_tokens(*tokenize(pipe.tokenizer, held_caps, tokens))
    data_s = time.monotonic() - t0

    encoder = pipe.text_encoder.to(ctx.device).float().train().requires_grad_(True)
    probe = CaptionProbe(encoder.config.d_model, classes).to(ctx.device)
    params = [*encoder.parameters(), *probe.parameters()]
    opt = torch.optim.AdamW(params, lr=stage.lr, weight_decay=stage.weight_decay)
    generator = torch.Generator().manual_seed(ctx.cfg.seed + 31)
    state = {"step": 0}
    ckpt = ctx.checkpoint(stage.name)
    curve: list = []
    if resume and ckpt.exists():
        saved = torch.load(ckpt, map_location=ctx.device, weights_only=False)
        encoder.load_state_dict(saved["encoder"])
        probe.load_state_dict(saved["probe"])
        opt.load_state_dict(saved["opt"])
        generator.set_state(saved["generator"])
        state["step"], curve = saved["step"], saved["curve"]

    def loss_of(
        i: torch.Tensor, m: torch.Tensor, y: torch.Tensor, tag: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        i, m = trim_tokens(i, m)
        m = m.to(ctx.device)
        with _autocast(ctx.device, ctx.amp):
            states = encode_text(encoder, i.to(ctx.device), m).float()  # (B, L, C)
        logits = probe(states, m)
        y = y.to(ctx.device)
        loss = sum(F.cross_entropy(z, y[:, k]) for k, z in enumerate(logits))
        if tag is not None:
            loss = loss + probe.tag_loss(states, m, tag[:, : i.shape[1]].to(ctx.device))
        return loss, logits

    def step_fn(step: int, progress: float) -> torch.Tensor:
        for group in opt.param_groups:
            group["lr"] = lr_at(stage, progress, step)
        pick = torch.randint(len(ids), (stage.batch_size,), generator=generator)
        loss, _ = loss_of(ids[pick], mask[pick], labels[pick], tags[pick])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, stage.grad_clip)
        opt.step()
        state["step"] = step + 1
        return loss.detach()

    def save_fn() -> None:
        _save_checkpoint(
            ckpt,
            {
                "encoder": encoder.state_dict(),
                "probe": probe.state_dict(),
                "opt": opt.state_dict(),
                "generator": generator.get_state(),
                "step": state["step"],
                "curve": curve,
            },
        )

    step_time = _loop(ctx, stage, deadline, state["step"], step_fn, save_fn, curve)
    encoder.eval().requires_grad_(False)
    with torch.no_grad():
        _, logits = loss_of(held_ids, held_mask, held_labels)
    accuracy = {
        name: round(float((z.argmax(-1).cpu() == held_labels[:, k]).float().mean()), 4)
        for k, (name, z) in enumerate(zip(classes, logits))
    }
    return {
        "captions": len(captions),
        "tokens": int(ids.shape[1]),
        "data_seconds": round(data_s, 1),
        "steps": state["step"],
        "step_seconds": step_time,
        "heldout_caption_accuracy": accuracy,
        "loss_curve": curve,
    }


# ---------------------------------------------------------------- DiT stages


class DiTTrainer:
    """Epsilon-prediction training of a PixArtTransformer2DModel (+ optionally its T5) with EMA."""

    def __init__(
        self,
        pipe,
        stage: StageConfig,
        device: torch.device,
        amp,
        seed: int,
        gradient_checkpointing: bool = False,
        kv: dict | None = None,
    ) -> None:
        """Optimizer, EMA, noise schedule and generator for the pipeline's transformer (and T5)."""
        from diffusers import DDPMScheduler
        from diffusers.training_utils import EMAModel

        self.pipe = pipe
        self.stage = stage
        self.device = device
        self.amp = amp
        self.kv = kv
        self.transformer = pipe.transformer.to(device).train()
        self.train_te = stage.train_text_encoder
        self.text_encoder = pipe.text_encoder.to(device) if self.train_te else pipe.text_encoder
        self.text_encoder.train(self.train_te)
        self.text_encoder.requires_grad_(self.train_te)
        if gradient_checkpointing:
            self.transformer.enable_gradient_checkpointing()
            if self.train_te:
                self.text_encoder.gradient_checkpointing_enable()
        # DDPM noise with the betas of the pipeline's DPM-Solver (linear 1e-4..0.02, 1000 steps)
        self.noise = DDPMScheduler.from_config(pipe.scheduler.config)
        self.noise.alphas_cumprod = self.noise.alphas_cumprod.to(device)
        self.num_timesteps = self.noise.config.num_train_timesteps

        if stage.kind == "kv" and stage.kv_train == "kv":
            self.transformer.requires_grad_(False)
            for block in self.transformer.transformer_blocks:
                if hasattr(block.attn1, "kv_compress"):
                    block.attn1.kv_compress.requires_grad_(True)
        else:
            self.transformer.requires_grad_(True)
        groups = [{"params": [p for p in self.transformer.parameters() if p.requires_grad], "lr": stage.lr}]
        if self.train_te:
            groups.append(
                {"params": list(self.text_encoder.parameters()), "lr": stage.text_encoder_lr or stage.lr}
            )
        self.lr_scale = [g["lr"] / stage.lr for g in groups]
        fused = device.type == "cuda"
        self.opt = torch.optim.AdamW(groups, lr=stage.lr, weight_decay=stage.weight_decay, fused=fused)
        self.ema = EMAModel(
            self.ema_parameters(), decay=stage.ema_decay, use_ema_warmup=True, power=2 / 3, foreach=True
        )
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.coin = torch.Generator().manual_seed(seed + 1)  # kv stage: compressed or not (host side)
        self.step = 0

    def ema_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters the EMA tracks: transformer (+ compressors) and, when trained, the T5."""
        params = list(self.transformer.parameters())
        if self.train_te:
            params += list(self.text_encoder.parameters())
        return params

    def set_compression(self, on: bool) -> None:
        """KV stage: switch compression on (conv compressors) or off for the next forward."""
        from .kv_compress import apply_kv_compression, remove_kv_compression

        if self.kv is None:
            return
        if on:
            apply_kv_compression(self.transformer, self.kv["factor"], self.kv["blocks"], mode="conv")
        else:
            remove_kv_compression(self.transformer)

    def embeddings(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, C) caption embeddings and (B, L) mask: cached, or from the T5 being trained."""
        if "emb" in batch:
            return batch["emb"], batch["mask"]
        with _autocast(self.device, self.amp):
            emb = encode_text(self.text_encoder, batch["ids"], batch["mask"])
        return emb, batch["mask"]

    def loss(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """MSE between the predicted (first 4 channels) and the true noise on a batch."""
        g = generator or self.generator
        x0 = batch["latents"].float()  # (B, 4, h, w)
        b = x0.shape[0]
        noise = torch.randn(x0.shape, generator=g, device=g.device).to(x0.device)  # (B, 4, h, w)
        if self.stage.offset_noise:
            # offset noise: a per-image, per-channel constant, so the model learns to move global colour
            offset = torch.randn((b, x0.shape[1], 1, 1), generator=g, device=g.device).to(x0.device)
            noise = noise + self.stage.offset_noise * offset
        t = torch.randint(0, self.num_timesteps, (b,), generator=g, device=g.device)  # (B,)
        if self.stage.high_t_fraction:
            # part of the batch from the noisier half, where the caption alone decides colour and layout
            high = torch.randint(
                self.num_timesteps // 2, self.num_timesteps, (b,), generator=g, device=g.device
            )
            pick = torch.rand(b, generator=g, device=g.device) < self.stage.high_t_fraction
            t = torch.where(pick, high, t)
        t = t.to(x0.device)
        xt = self.noise.add_noise(x0, noise, t)  # (B, 4, h, w)
        emb, mask = self.embeddings(batch)
        with _autocast(self.device, self.amp):
            out = self.transformer(
                xt,
                encoder_hidden_states=emb,
                encoder_attention_mask=mask,
                timestep=t,
                added_cond_kwargs={"resolution": None, "aspect_ratio": None},
            ).sample  # (B, 8, h, w): epsilon + (unused) variance
        eps = out[:, : x0.shape[1]].float()
        return F.mse_loss(eps, noise)

    def train_step(self, batch: dict, lr: float) -> torch.Tensor:
        """One optimizer + EMA step on a batch; returns the (detached, on-device) loss."""
        for group, k in zip(self.opt.param_groups, self.lr_scale):
            group["lr"] = lr * k
        if self.kv is not None:
            self.set_compression(float(torch.rand((), generator=self.coin)) >= self.kv["off"])
        loss = self.loss(batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for g in self.opt.param_groups for p in g["params"]]
        torch.nn.utils.clip_grad_norm_(params, self.stage.grad_clip)
        self.opt.step()
        self.ema.step(self.ema_parameters())
        self.step += 1
        return loss.detach()

    def use_ema(self) -> None:
        """Swap the EMA weights in (restore() swaps the training weights back)."""
        self.ema.store(self.ema_parameters())
        self.ema.copy_to(self.ema_parameters())

    def restore(self) -> None:
        """Undo use_ema()."""
        self.ema.restore(self.ema_parameters())

    def state_dict(self) -> dict:
        """Model, EMA, optimizer, step and generator: everything an exact resume needs."""
        state = {
            "step": self.step,
            "transformer": self.transformer.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "generator": self.generator.get_state(),
            "coin": self.coin.get_state(),
        }
        if self.train_te:
            state["text_encoder"] = self.text_encoder.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict()."""
        self.step = state["step"]
        self.transformer.load_state_dict(state["transformer"])
        if self.train_te:
            self.text_encoder.load_state_dict(state["text_encoder"])
        self.ema.load_state_dict(state["ema"])
        self.ema.shadow_params = [p.to(self.device) for p in self.ema.shadow_params]
        self.opt.load_state_dict(state["opt"])
        self.generator.set_state(state["generator"].cpu())
        self.coin.set_state(state["coin"].cpu())


def make_batch(
    cache: DataCache, bucket: int, idx: torch.Tensor, generator: torch.Generator, p_drop: float, device
) -> dict:
    """A training batch from one bucket: latents, one caption per item, caption dropout applied."""
    b = cache.buckets[bucket]
    latents = b.latents[idx.to(b.latents.device)].to(device)  # (B, 4, h, w)
    k = b.captions.shape[1]
    pick = torch.randint(k, (len(idx),), generator=generator, device=generator.device).to(b.captions.device)
    cap = b.captions[idx.to(b.captions.device), pick]  # (B,)
    drop = drop_captions(p_drop, len(idx), generator).to(device)  # (B,)
    mask = torch.where(
        drop[:, None], cache.empty_mask.to(device), cache.mask[cap.to(cache.mask.device)].to(device)
    )
    batch = {"latents": latents, "mask": mask, "dropped": drop}
    if cache.emb is not None:
        emb = cache.emb[cap.to(cache.emb.device)].to(device).float()  # (B, L, C)
        batch["emb"] = torch.where(drop[:, None, None], cache.empty_emb.to(device).float(), emb)
    else:
        ids = cache.ids[cap.to(cache.ids.device)].to(device)
        batch["ids"] = torch.where(drop[:, None], cache.empty_ids.to(device), ids)
    return batch


def run_dit_stage(ctx: RunContext, stage: StageConfig, pipe, deadline: float, resume: bool) -> dict:
    """Train the DiT (base, resolution or kv stage); leaves the EMA weights in `pipe`; returns the stage log."""
    t0 = time.monotonic()
    changed = set_transformer_resolution(pipe, stage.sample_size, stage.interpolation_scale)
    kv = None
    if stage.kind == "kv":
        from .kv_compress import apply_kv_compression

        apply_kv_compression(pipe.transformer, stage.kv_factor, stage.kv_blocks, mode="conv")
        from .kv_compress import kv_settings

        kv = {
            "factor": stage.kv_factor,
            "blocks": kv_settings(pipe.transformer)["blocks"],
            "off": stage.kv_uncompressed,
        }
    pipe.to(ctx.device)
    data_deadline = t0 + (deadline - t0) * stage.data_share
    cache, cache_info = build_cache(ctx, stage, pipe, data_deadline, with_emb=not stage.train_text_encoder)
    cache = cache.to(ctx.device) if ctx.device.type == "cuda" else cache
    if not stage.train_text_encoder and ctx.device.type == "cuda":
        pipe.text_encoder.to("cpu")  # embeddings are cached: free the GPU (T5-XXL is 9.5 GB in bf16)
        torch.cuda.empty_cache()
    data_s = time.monotonic() - t0

    trainer = DiTTrainer(
        pipe, stage, ctx.device, ctx.amp, ctx.cfg.seed + 21, ctx.cfg.gradient_checkpointing, kv
    )
    sampler = BucketSampler([len(b.latents) for b in cache.buckets], stage.batch_size, ctx.cfg.seed + 22)
    ckpt = ctx.checkpoint(stage.name)
    curve = _resume_stage(ctx, ckpt, trainer, sampler) if resume else []

    def step_fn(step: int, progress: float) -> torch.Tensor:
        bucket, idx = sampler.next()
        batch = make_batch(cache, bucket, idx, trainer.generator, stage.caption_dropout, ctx.device)
        return trainer.train_step(batch, lr_at(stage, progress, step))

    def save_fn() -> None:
        state = {"trainer": trainer.state_dict(), "sampler": sampler.state_dict(), "curve": curve}
        _save_checkpoint(ckpt, {**state, "rng": rng_state(ctx.device)})

    def sample_fn(step: int) -> None:
        trainer.use_ema()
        try:
            _stage_samples(ctx, stage, pipe, f"{stage.name}_{step:06d}")
        finally:
            trainer.restore()
            trainer.transformer.train()
            trainer.text_encoder.train(trainer.train_te)
            if not trainer.train_te and ctx.device.type == "cuda":
                pipe.text_encoder.to("cpu")  # back off the GPU while the DiT trains

    step_time = _loop(ctx, stage, deadline, trainer.step, step_fn, save_fn, curve, sample_fn)
    trainer.use_ema()  # the saved model is the EMA
    trainer.ema = None
    pipe.transformer.requires_grad_(False).eval()
    pipe.text_encoder.requires_grad_(False).eval()
    if ctx.cfg.gradient_checkpointing:
        pipe.transformer.disable_gradient_checkpointing()
    if kv is not None:
        trainer.set_compression(False)  # weights stay; processors back to default
    return {
        "resolution_changed": changed,
        "sample_size": pipe.transformer.config.sample_size,
        "interpolation_scale": pipe.transformer.config.interpolation_scale,
        "cache": cache_info,
        "data_seconds": round(data_s, 1),
        "steps": trainer.step,
        "step_seconds": step_time,
        "kv": kv,
        "loss_curve": curve,
    }


def _stage_samples(ctx: RunContext, stage: StageConfig, pipe, name: str) -> Path | None:
    """Sample grid of the config's prompts at the stage's first bucket size -> work/samples/NAME.png."""
    if not ctx.cfg.sample_prompts:
        return None
    _prepare_for_inference(pipe, ctx.device)
    size = tuple(int(v) for v in stage.sizes[0])
    grid = sample_grid(
        pipe,
        ctx.cfg.sample_prompts,
        size,
        ctx.cfg.sample_steps,
        ctx.cfg.sample_guidance,
        0,
        ctx.device,
        ctx.amp,
    )
    path = ctx.work / "samples" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path


def _save_checkpoint(path: Path, state: dict) -> None:
    """torch.save atomically (a crash never leaves a half-written checkpoint)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _resume_stage(ctx, ckpt, trainer, sampler) -> list:
    """Restore a stage's trainer, sampler and RNG from its checkpoint; returns the loss curve so far."""
    if not ckpt.exists():
        return []
    state = torch.load(ckpt, map_location=ctx.device, weights_only=False)
    trainer.load_state_dict(state["trainer"])
    sampler.load_state_dict(state["sampler"])
    set_rng_state(state["rng"], ctx.device)
    return state["curve"]


def _loop(
    ctx: RunContext,
    stage: StageConfig,
    deadline: float,
    start: int,
    step_fn: Callable[[int, float], torch.Tensor],
    save_fn: Callable[[], None],
    curve: list,
    sample_fn: Callable[[int], None] | None = None,
) -> float:
    """The step loop: progress bar (loss, ETA), time box, periodic checkpoints/samples; returns s/step.

    Losses stay on the device and are read every 10 steps, so a GPU never waits for the host per step.
    """
    from tqdm import tqdm

    t_start = time.monotonic()
    budget = deadline - t_start
    bar = tqdm(
        total=stage.steps,
        initial=start,
        desc=stage.name,
        disable=not ctx.progress,
        dynamic_ncols=True,
        mininterval=1.0 if sys.stderr.isatty() else 20.0,
    )
    step = start
    pending: list[torch.Tensor] = []
    acc: list[float] = []
    smooth = None

    def flush() -> None:
        nonlocal smooth
        if not pending:
            return
        values = torch.stack(pending).float().cpu().tolist()
        pending.clear()
        for v in values:
            if not math.isfinite(v):
                raise FloatingPointError(f"{stage.name}: loss became {v} near step {step}")
            smooth = v if smooth is None else 0.98 * smooth + 0.02 * v
        acc.extend(values)
        bar.set_postfix(loss=f"{smooth:.4f}")

    try:
        while step < stage.steps:
            now = time.monotonic()
            if now >= deadline:
                break
            progress = step / stage.steps
            if math.isfinite(budget) and budget > 0:
                progress = max(progress, (now - t_start) / budget)
            pending.append(step_fn(step, progress))
            step += 1
            bar.update(1)
            if step % 10 == 0:
                flush()
            if math.isfinite(deadline) and (step == start + 20 or (step - start) % 200 == 0):
                _sync(ctx.device)  # the bar's total (and ETA): the steps the time box allows
                per_step = (time.monotonic() - t_start) / (step - start)
                bar.total = min(stage.steps, step + int((deadline - time.monotonic()) / max(per_step, 1e-6)))
                bar.refresh()
            if step % stage.log_every == 0:
                flush()
                curve.append([step, round(sum(acc) / len(acc), 5), round(time.monotonic() - t_start, 1)])
                acc.clear()
            if stage.checkpoint_every and step % stage.checkpoint_every == 0:
                save_fn()
            if sample_fn is not None and stage.sample_every and step % stage.sample_every == 0:
                sample_fn(step)
    except KeyboardInterrupt:
        save_fn()
        bar.close()
        raise
    flush()
    if acc:
        curve.append([step, round(sum(acc) / len(acc), 5), round(time.monotonic() - t_start, 1)])
    _sync(ctx.device)
    bar.close()
    save_fn()
    done = step - start
    return round((time.monotonic() - t_start) / done, 4) if done else 0.0


# ---------------------------------------------------------------- the run


def _stage_input(ctx: RunContext, index: int):
    """The pipeline a stage starts from: the previous stage's output, else the initial model."""
    for prev in reversed(ctx.cfg.stages[:index]):
        folder = ctx.stage_dir(prev.name)
        if (folder / "model_index.json").exists():
            return load_pipeline(folder), prev.name
        raise FileNotFoundError(
            f"stage {ctx.cfg.stages[index].name!r} needs the output of stage {prev.name!r} "
            f"({folder}); run that stage first"
        )
    return initial_pipeline(ctx.cfg, ctx.cfg.seed), "initial"


def _hardware(device: torch.device) -> str:
    """One line naming the machine."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA), {os.cpu_count()} CPU cores"
    return (
        f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"({torch.get_num_threads()} torch threads), torch {torch.__version__}"
    )


def publish(ctx: RunContext, pipe, eval_result: dict | None = None) -> None:
    """Write the output folder: the pipeline (EMA weights), train_log.json, samples, README.md, and the
    starting model's generation defaults (sigma_studio.json) when the output has none of its own."""
    from .sources import MODEL_DEFAULTS_FILE

    save_pipeline(pipe, ctx.out, ctx.cfg.save_half)
    parent = local_pretrained(ctx.cfg.model)
    if parent and (parent / MODEL_DEFAULTS_FILE).is_file() and not (ctx.out / MODEL_DEFAULTS_FILE).exists():
        shutil.copy2(parent / MODEL_DEFAULTS_FILE, ctx.out / MODEL_DEFAULTS_FILE)
    samples = ctx.work / "samples"
    if samples.exists():
        dest = ctx.out / "samples"
        dest.mkdir(exist_ok=True)
        latest: dict[str, Path] = {}
        for png in sorted(samples.glob("*.png")):
            stage = png.stem.rsplit("_", 1)[0]
            latest[stage] = png  # the last grid of each stage (names sort by step)
        for stage, png in latest.items():
            shutil.copy2(png, dest / f"{stage}.png")
    (ctx.out / "train_log.json").write_text(json.dumps(ctx.log, indent=2, default=str), encoding="utf-8")
    (ctx.out / "README.md").write_text(readme_text(ctx.log, eval_result), encoding="utf-8")


def readme_text(log: dict, eval_result: dict | None) -> str:
    """The model card: how it was trained (every run back to the first: command, hardware, minutes)
    and its eval scores. `log` is a run's train_log.json; a continued model's log holds its starting
    model's log under "parent"."""
    runs = []
    while log:
        runs.append(log)
        log = (log.get("parent") or {}).get("log")
    runs.reverse()  # oldest first
    first = runs[0]
    origin = "trained from scratch" if "parent" not in first else "fine-tuned"
    lines = [
        "# Sigma Studio demo model",
        "",
        "A small PixArt-Sigma pipeline (PixArtTransformer2DModel + T5EncoderModel + AutoencoderKL, diffusers",
        f"layout) {origin} on the procedural wallpapers of `model/demo_data.py` by `model/train.py`.",
        "It is trained on simple prompts (colours, stripes, bands, circles, dots, waves, mountains, grids,",
        "checkerboards, gradients, sunsets, placement) and knows nothing else; how well it follows them is",
        "measured below.",
        "",
        "## How it was trained",
        "",
    ]
    if len(runs) > 1:
        lines += [
            f"In {len(runs)} runs, each starting from the model the one before made "
            "(config `\"model\": {\"pretrained\": FOLDER}`):",
            "",
        ]
    for number, run in enumerate(runs, 1):
        if len(runs) > 1:
            lines += [f"### Run {number}", ""]
        lines += _run_lines(run)
        lines.append("")
    if len(runs) > 1:
        total = sum(s.get("seconds", 0) for run in runs for s in run.get("stages", {}).values()) / 60
        lines += [f"Training time over all runs: {total:.1f} minutes.", ""]
    lines += ["## Evaluation (held-out colour x pattern x layout prompts, benchmarks/demo_eval.py)", ""]
    if eval_result:
        lines.append(
            "- by the trainer on the training machine, at the end of the last run: colour of the main area: "
            f"{eval_result['colour_acc']:.1%} "
            f"(exact shade {eval_result['shade_acc']:.1%}), pattern: {eval_result['pattern_acc']:.1%}, "
            f"n={eval_result['n']} at {eval_result.get('size')}x{eval_result.get('size')}, "
            f"{eval_result.get('steps')} steps, guidance {eval_result.get('guidance')}"
        )
    else:
        lines.append("- not run by the trainer: see `benchmarks/demo_eval.py` and its Measured section below, if present")
    lines += ["", "Training log: `train_log.json`; sample grids: `samples/`.", ""]
    return "\n".join(lines)


def _run_lines(log: dict) -> list[str]:
    """One run of a model card: its command(s), hardware, minutes and per-stage table."""
    lines = []
    stages = log.get("stages", {})
    by_command: dict[str, list[str]] = {}
    for name, s in stages.items():
        by_command.setdefault(s.get("command", log.get("command", "?")), []).append(name)
    for command, names in by_command.items():
        what = "" if len(by_command) == 1 else f" (stages {', '.join(names)})"
        lines.append(f"- command{what}: `{command}`")
    hardware = {s.get("hardware", log.get("hardware")) for s in stages.values()} or {log.get("hardware")}
    minutes = sum(s.get("seconds", 0) for s in stages.values()) / 60
    lines += [
        f"- hardware: {'; '.join(sorted(str(h) for h in hardware))}",
        f"- training time: {minutes:.1f} minutes over all stages (time box of the last command: "
        f"{log.get('max_minutes')} min)",
        "",
        "| stage | steps | s/step | data s | minutes | last loss |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in stages.items():
        last = s.get("loss_curve", [[0, None]])[-1][1] if s.get("loss_curve") else None
        lines.append(
            f"| {name} | {s.get('steps')} | {s.get('step_seconds')} | {s.get('data_seconds')} | "
            f"{s.get('seconds', 0) / 60:.1f} | {last} |"
        )
    for name, s in stages.items():
        if s.get("heldout_caption_accuracy"):
            acc = ", ".join(f"{k.replace('_', ' ')} {v:.1%}" for k, v in s["heldout_caption_accuracy"].items())
            lines += ["", f"Text stage `{name}`: the T5's read-outs on held-out captions: {acc}."]
    return lines


def local_pretrained(model: dict) -> Path | None:
    """The config's `pretrained` model when it is a local folder (relative paths: to the repo first)."""
    source = model.get("pretrained")
    if not source:
        return None
    folder = Path(source)
    if not folder.is_absolute() and (ROOT / folder).is_dir():
        folder = ROOT / folder
    return folder if folder.is_dir() else None


def parent_log(model: dict) -> dict | None:
    """The training log of a local pretrained starting model (its train_log.json), for the lineage."""
    folder = local_pretrained(model)
    file = folder / "train_log.json" if folder else None
    if file is None or not file.is_file():
        return None
    source = model["pretrained"]
    try:
        log = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for stage in log.get("stages", {}).values():
        if stage.get("loss_curve"):
            stage["loss_curve"] = stage["loss_curve"][-1:]  # kept short: the card shows the last loss
    log.pop("config", None)
    return {"model": str(source), "log": log}


def _quiet_libraries() -> None:
    """No per-save progress bars or dtype notices from diffusers/transformers during a run."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:  # pragma: no cover - older hubs
        pass


def run_training(
    cfg: TrainConfig,
    out: str | os.PathLike,
    work: str | os.PathLike | None = None,
    device: str = "auto",
    max_minutes: float | None = None,
    only: list[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    command: str = "",
    run_eval: bool = True,
) -> dict:
    """Run the config's stages (or `only` those) into `out`; returns the log (also train_log.json)."""
    _quiet_libraries()
    dev = pick_device(device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(out)
    work = Path(work) if work else ROOT / "build" / "train" / out.name
    torch.manual_seed(cfg.seed)
    ctx = RunContext(
        cfg,
        out,
        work,
        dev,
        autocast_dtype(cfg, dev),
        Budget(max_minutes),
        resolve_workers(cfg.workers),
        progress,
    )
    ctx.command = command or "python -m model.train " + " ".join(sys.argv[1:])
    old_log = work / "train_log.json"
    ctx.log = json.loads(old_log.read_text()) if (resume or only) and old_log.exists() else {}
    ctx.log.update(
        command=ctx.command,
        hardware=_hardware(dev),
        device=str(dev),
        autocast=str(ctx.amp),
        max_minutes=max_minutes,
        config=asdict(cfg),
    )
    ctx.log.setdefault("stages", {})
    parent = parent_log(cfg.model)
    if parent:
        ctx.log["parent"] = parent  # the model card shows every run back to the first
    names = [s.name for s in cfg.stages]
    for name in only or []:
        if name not in names and name not in STAGE_KINDS:
            raise ValueError(f"no stage {name!r} in the config (stages: {names})")
    todo = [i for i, s in enumerate(cfg.stages) if not only or s.name in only or s.kind in only]
    if resume and not only:
        todo = [i for i in todo if not ctx.log["stages"].get(cfg.stages[i].name, {}).get("done")]
    reserve = ctx.budget.left() * cfg.final_share if ctx.budget.deadline else 0.0
    pipe = None
    prev_name = None
    for pos, i in enumerate(todo):
        stage = cfg.stages[i]
        if pipe is None or prev_name != (cfg.stages[i - 1].name if i else "initial"):
            pipe, prev_name = _stage_input(ctx, i)
        shares_left = sum(cfg.stages[j].share for j in todo[pos:])
        deadline = ctx.budget.stage_deadline(stage.share, shares_left, reserve)
        t0 = time.monotonic()
        runner = {"vae": run_vae_stage, "text": run_text_stage}.get(stage.kind, run_dit_stage)
        stage_resume = resume and ctx.checkpoint(stage.name).exists()
        info = runner(ctx, stage, pipe, deadline, stage_resume)
        _prepare_for_inference(pipe, ctx.device)
        makes_images = stage.kind not in ("vae", "text") or stage.vae_train == "decoder"
        if makes_images and ctx.budget.left() > 0.5 * reserve:  # grids never overrun the time box
            _stage_samples(ctx, stage, pipe, f"{stage.name}_final")
        info.update(
            seconds=round(time.monotonic() - t0, 1),
            done=True,
            resumed=stage_resume,
            command=ctx.command,
            hardware=ctx.log["hardware"],
        )
        ctx.log["stages"][stage.name] = info
        save_pipeline(pipe, ctx.stage_dir(stage.name))
        ctx.log["total_minutes"] = round((time.monotonic() - ctx.budget.start) / 60, 2)
        ctx.write_log()
        publish(ctx, pipe)
        prev_name = stage.name
    eval_result = None
    wants_eval = pipe is not None and run_eval and cfg.eval and cfg.data.get("kind", "demo") == "demo"
    if wants_eval and ctx.budget.left() < 0.25 * reserve:
        ctx.log["eval"] = {"skipped": "out of time: run benchmarks/demo_eval.py"}
        run_eval = False
    if pipe is not None and run_eval and cfg.eval and cfg.data.get("kind", "demo") == "demo":
        from .demo_data import evaluate_pipeline

        t0 = time.monotonic()
        _prepare_for_inference(pipe, ctx.device)
        deadline = ctx.budget.deadline or math.inf
        eval_result = evaluate_pipeline(pipe, device=ctx.device, deadline=deadline - 2.0, **cfg.eval)
        eval_result["seconds"] = round(time.monotonic() - t0, 1)
        eval_result.pop("items", None)
        ctx.log["eval"] = eval_result
    if pipe is not None:
        ctx.log["total_minutes"] = round((time.monotonic() - ctx.budget.start) / 60, 2)
        ctx.write_log()
        publish(ctx, pipe, eval_result)
    return ctx.log


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """`python -m model.train demo|train --config C --out DIR [--stage S] [--resume] [--device D] [--max-minutes M]`."""
    parser = argparse.ArgumentParser(prog="python -m model.train", description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        choices=["demo", "train", "recipe"],
        help="demo: the embedded demo model; train: any config; recipe: runs in a row (model/recipe.py)",
    )
    parser.add_argument("--config", default=None, help="JSON config (demo: configs/train_demo.json)")
    parser.add_argument("--out", default=None, help="output pipeline folder (demo: resources/demo_model)")
    parser.add_argument(
        "--work", default=None, help="cache/checkpoints/samples folder (default: build/train/OUTNAME)"
    )
    parser.add_argument(
        "--stage", action="append", default=None, help="run only this stage (name or kind); repeatable"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from checkpoints, skip finished stages"
    )
    parser.add_argument("--vae-stage", action="store_true", help="only the VAE stage (= --stage vae)")
    parser.add_argument(
        "--train-text-encoder", action="store_true", help="train the T5 jointly in every DiT stage"
    )
    parser.add_argument(
        "--gradient-checkpointing", action="store_true", help="diffusers gradient checkpointing"
    )
    parser.add_argument("--mixed-precision", choices=["auto", "bf16", "fp32"], default=None)
    parser.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (recipe: every run's)")
    parser.add_argument("--from-run", type=int, default=1, help="recipe: start at run K (earlier outputs kept)")
    parser.add_argument("--max-minutes", type=float, default=None, help="time box for all stages together")
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch (1 is best on a busy CPU)"
    )
    parser.add_argument("--no-eval", action="store_true", help="skip the final held-out eval")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.command == "recipe":
        return _main_recipe(parser, args)
    args.device = args.device or "auto"
    config = args.config or (str(ROOT / "configs" / "train_demo.json") if args.command == "demo" else None)
    out = args.out or (str(ROOT / "resources" / "demo_model") if args.command == "demo" else None)
    if config is None or out is None:
        parser.error("train needs --config and --out")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        cfg = load_config(config)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.vae_stage:
        args.stage = [*(args.stage or []), "vae"]
    if args.train_text_encoder:
        for stage in cfg.stages:
            stage.train_text_encoder = stage.kind != "vae"
    if args.gradient_checkpointing:
        cfg.gradient_checkpointing = True
    if args.mixed_precision:
        cfg.mixed_precision = args.mixed_precision
    try:
        log = run_training(
            cfg,
            out,
            args.work,
            args.device,
            args.max_minutes,
            args.stage,
            args.resume,
            progress=not args.no_progress,
            command="python -m model.train " + " ".join(argv if argv is not None else sys.argv[1:]),
            run_eval=not args.no_eval,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_summary(out, log)
    return 0


def _print_summary(out, log: dict) -> None:
    summary = {k: {"steps": v.get("steps"), "seconds": v.get("seconds")} for k, v in log["stages"].items()}
    print(
        json.dumps(
            {"out": str(out), "minutes": log.get("total_minutes"), "stages": summary, "eval": log.get("eval")}
        )
    )


def _main_recipe(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """`python -m model.train recipe --config RECIPE --out DIR [--from-run K] [--device D]`."""
    from .recipe import run_recipe

    if not args.config or not args.out:
        parser.error("recipe needs --config RECIPE.json and --out DIR")
    try:
        logs = run_recipe(
            args.config, args.out, args.work, args.from_run, args.device, progress=not args.no_progress
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_summary(args.out, logs[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
