"""Training configuration: the JSON run config (StageConfig, TrainConfig, load_config), the repo root,
and device / precision choice.

May import: model.training.stages (the registry's stage kinds, when validating), torch. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

CONFIG_FORMAT = "sigma-studio-train"
CONFIG_VERSION = 1
ROOT = Path(__file__).resolve().parents[2]  # the repository (configs/, build/, resources/)


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
    from .stages import STAGES

    for s in stages:
        if s.kind not in STAGES:
            raise ValueError(f"{where}: stage {s.name!r} has kind {s.kind!r}, expected one of {tuple(STAGES)}")
        if s.vae_train not in ("all", "decoder"):
            raise ValueError(f"{where}: stage {s.name!r} has vae_train {s.vae_train!r}, expected all or decoder")
        for size in s.sizes:
            if len(size) != 2 or any(int(v) % 16 for v in size):
                raise ValueError(f"{where}: stage {s.name!r} size {size} must be [w, h], multiples of 16")
    return cfg


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
