"""Training memory and speed of the full-size PixArt-Sigma DiT (0.6B, random weights) on a GPU.

Runs the trainer's real step (`model.training.stages.dit.DiTTrainer`: AdamW, EMA, bf16 autocast, gradient clipping,
optional gradient checkpointing) on random latents and caption embeddings of the released shapes
(SDXL latents, 300 T5-XXL tokens of 4096 channels), and prints peak GPU memory and seconds per step
for each setting. The T5 and the VAE are not loaded: the trainer caches their outputs first and keeps
the T5 off the GPU while the DiT trains, so these peaks are the DiT stages' whole need.

    python benchmarks/gpu_train_memory.py [--settings 512:16:ckpt,1024:8:ckpt,1024:2:nockpt] [--steps 3]
    python benchmarks/gpu_train_memory.py --preset Tiny --settings 64:2:ckpt --device cpu   # dry run

Each setting is SIZE:BATCH:ckpt|nockpt. Prints one JSON line per setting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

GiB = 1024**3


def parse_settings(text: str) -> list[tuple[int, int, bool]]:
    out = []
    for part in text.split(","):
        size, batch, ckpt = part.split(":")
        if ckpt not in ("ckpt", "nockpt"):
            raise ValueError(f"{part!r}: the third field must be ckpt or nockpt")
        out.append((int(size), int(batch), ckpt == "ckpt"))
    return out


def measure(preset: str, size: int, batch: int, ckpt: bool, steps: int, device: torch.device) -> dict:
    """Build the DiT, run `steps` training steps (after one warm-up), return peak memory and s/step."""
    from model import configs
    from model.build import build_transformer, sigma_scheduler
    from model.training.config import StageConfig
    from model.training.stages.dit import DiTTrainer

    cfg = getattr(configs, preset)() if preset != "SigmaXL2" else configs.SigmaXL2(1024 if size > 512 else 512)
    with torch.device(device):  # random init straight on the GPU (0.6B on the CPU takes seconds)
        transformer = build_transformer(cfg)
    params = sum(p.numel() for p in transformer.parameters())
    caption = cfg.transformer["caption_channels"]
    text_encoder = torch.nn.Linear(1, 1)  # never called: embeddings come from the batch, as when cached
    pipe = SimpleNamespace(transformer=transformer, text_encoder=text_encoder, scheduler=sigma_scheduler())
    stage = StageConfig(name="bench", kind="base", batch_size=batch, lr=2e-5, ema_decay=0.9999)
    amp = torch.bfloat16 if device.type == "cuda" else None
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    trainer = DiTTrainer(pipe, stage, device, amp, seed=0, gradient_checkpointing=ckpt)
    g = torch.Generator(device=device).manual_seed(0)
    tokens = configs.T5_TOKENS if preset == "SigmaXL2" else 16
    batch_data = {
        "latents": torch.randn(batch, 4, size // 8, size // 8, generator=g, device=device),
        "emb": torch.randn(batch, tokens, caption, generator=g, device=device),
        "mask": torch.ones(batch, tokens, dtype=torch.long, device=device),
    }
    trainer.train_step(batch_data, stage.lr)  # warm-up (kernels, allocator, optimizer state)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        loss = trainer.train_step(batch_data, stage.lr)
    float(loss)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = (time.perf_counter() - start) / steps
    result = {
        "preset": preset,
        "size": size,
        "batch": batch,
        "checkpointing": ckpt,
        "params_m": round(params / 1e6, 1),
        "s_per_step": round(seconds, 3),
        "images_per_s": round(batch / seconds, 1),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    }
    if device.type == "cuda":
        result["peak_gib"] = round(torch.cuda.max_memory_allocated(device) / GiB, 2)
        result["reserved_gib"] = round(torch.cuda.max_memory_reserved(device) / GiB, 2)
    del trainer, transformer, pipe, batch_data
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="SigmaXL2", help="model/configs.py preset (SigmaXL2, Demo, Tiny)")
    parser.add_argument("--settings", default="512:16:ckpt,1024:8:ckpt,1024:2:nockpt")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=None, help="also append the JSON lines here")
    args = parser.parse_args(argv)
    try:
        settings = parse_settings(args.settings)
    except ValueError as exc:
        parser.error(f"--settings: {exc}")
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    for size, batch, ckpt in settings:
        try:
            result = measure(args.preset, size, batch, ckpt, args.steps, device)
        except torch.OutOfMemoryError:
            result = {"size": size, "batch": batch, "checkpointing": ckpt, "error": "out of memory"}
            torch.cuda.empty_cache()
        line = json.dumps(result)
        print(line, flush=True)
        if args.out:
            with args.out.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
