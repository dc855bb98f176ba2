"""Pipelines of a run: the starting model (preset or pretrained), loading and saving a stage's
diffusers folder (with its KV sidecar and model defaults), changing the transformer's resolution,
and sample grids.

May import: model.build, model.configs, model.loading.defaults, model.inference.kv_compress,
model.training.config / .loop, torch, diffusers, transformers, Pillow. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from PIL import Image

from .. import configs
from ..build import build_pipeline, seeded_images
from ..inference.kv_compress import (
    attach,
    kv_settings,
    kv_state_dict,
    load_kv_compression,
    load_kv_state,
    remove_kv_compression,
    save_kv_compression,
)
from ..loading.defaults import MODEL_DEFAULTS_FILE
from .config import ROOT, StageConfig, TrainConfig
from .loop import RunContext, autocast


def local_pretrained(model: dict) -> Path | None:
    """The config's `pretrained` model when it is a local folder (relative paths: to the repo first)."""
    source = model.get("pretrained")
    if not source:
        return None
    folder = Path(source)
    if not folder.is_absolute() and (ROOT / folder).is_dir():
        folder = ROOT / folder
    return folder if folder.is_dir() else None


def initial_pipeline(cfg: TrainConfig, seed: int):
    """The starting pipeline: a named preset with random weights, or a pretrained one."""
    model = cfg.model
    if "preset" in model:
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
            attach(tf, settings["factor"], settings["blocks"], settings["mode"])
    if (folder / MODEL_DEFAULTS_FILE).is_file():  # the model's generation defaults outlive a re-save
        shutil.copy2(folder / MODEL_DEFAULTS_FILE, tmp / MODEL_DEFAULTS_FILE)
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


@torch.no_grad()
def sample_grid(
    pipe, prompts: list[str], size: tuple[int, int], steps: int, guidance: float, seed: int, device, amp
):
    """A grid PNG of the prompts generated at `size` with one fixed seed per prompt."""
    with autocast(device, amp):
        images = seeded_images(pipe, prompts, size[0], size[1], steps, guidance, [seed + i for i in range(len(prompts))])
    cols = min(4, len(images))
    rows = -(-len(images) // cols)
    w, h = images[0].size
    grid = Image.new("RGB", (cols * w, rows * h), "white")
    for i, im in enumerate(images):
        grid.paste(im, ((i % cols) * w, (i // cols) * h))
    return grid


def prepare_for_inference(pipe, device: torch.device) -> None:
    """Eval mode on the device, progress bars off."""
    pipe.to(device)
    for name in ("transformer", "text_encoder", "vae"):
        getattr(pipe, name).eval()
    pipe.set_progress_bar_config(disable=True)


def stage_samples(ctx: RunContext, stage: StageConfig, pipe, name: str) -> Path | None:
    """Sample grid of the config's prompts at the stage's first bucket size -> work/samples/NAME.png."""
    if not ctx.cfg.sample_prompts:
        return None
    prepare_for_inference(pipe, ctx.device)
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
