"""GPU check: the full-size architectures (0.6B DiT + SDXL VAE, random weights) at 1K..4K.

For each size, memory mode and KV compression setting: peak VRAM, seconds per denoising step and
seconds to decode, through the engine's real generation path (`Engine._generate_one`). The T5 is
replaced by random embeddings of the right shape (1, 300, 4096): in offload/sequential modes the
T5 lives on the CPU anyway, so those peaks are complete; gpu-mode peaks exclude the T5's ~9.5 GB.

    python benchmarks/gpu_check.py [--sizes 1024,2048,3840x2160,4096] [--steps 3] [--out FILE]
Goal: 4096x4096 within 8 GB peak VRAM.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

GiB = 1024**3


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        w, _, h = part.partition("x")
        sizes.append((int(w), int(h or w)))
    return sizes


DEVICE = "cuda"


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def peak_bytes() -> int:
    return torch.cuda.max_memory_allocated() if DEVICE == "cuda" else 0


def reset_peak() -> None:
    if DEVICE == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def build_engine(variant: int, tiny: bool = False):
    from diffusers import PixArtSigmaPipeline

    from model.build import build_transformer, build_vae, byte_tokenizer, sigma_scheduler
    from model.configs import SigmaXL2, Tiny
    from model.inference.engine import Engine, ModelInfo

    cfg = Tiny() if tiny else SigmaXL2(variant)
    dtype = torch.bfloat16 if DEVICE == "cuda" else torch.float32
    engine = Engine(device=DEVICE, memory_mode="gpu")
    transformer = build_transformer(cfg).to(dtype).eval().requires_grad_(False)
    vae = build_vae(cfg).to(dtype).eval().requires_grad_(False)
    engine.pipe = PixArtSigmaPipeline(
        tokenizer=byte_tokenizer(), text_encoder=None, vae=vae, transformer=transformer, scheduler=sigma_scheduler()
    )
    engine.pipe.set_progress_bar_config(disable=True)
    engine.loaded = SimpleNamespace(kv=None, name=f"PixArt-Sigma-XL-2-{variant} (random weights)")
    engine.info = ModelInfo(engine.loaded.name, "random", False, DEVICE, str(dtype), "gpu", "")
    engine.caption_channels = cfg.transformer["caption_channels"]
    return engine


def run_one(engine, mode: str, size: tuple[int, int], kv: str, steps: int, budget: int | None) -> dict:
    from model.inference import memory
    from model.inference.engine import GenerationRequest

    plan = memory.plan_memory(DEVICE, mode)
    engine._applied_mode = None if engine._applied_mode != "sequential" else "sequential"
    engine._apply_plan(plan)
    engine.vae_budget_bytes = budget
    width, height = size
    tokens = (width // 16) * (height // 16)
    from model.inference.kv_compress import resolve_kv_factor

    factor = resolve_kv_factor(kv, tokens)
    engine._set_kv(factor, [])
    embeds = {
        "embeds": torch.randn(1, 300, engine.caption_channels),
        "mask": torch.ones(1, 300, dtype=torch.long),
        "neg_embeds": torch.randn(1, 300, engine.caption_channels),
        "neg_mask": torch.ones(1, 300, dtype=torch.long),
    }
    marks: list[float] = []

    def on_step(info) -> None:
        if info.phase == "denoise":
            sync()
            marks.append(time.perf_counter())

    request = GenerationRequest("random", width=width, height=height, steps=steps, kv_compress=kv)
    reset_peak()
    start = time.perf_counter()
    engine._generate_one(request, embeds, 0, size, 0, on_step, None)
    sync()
    end = time.perf_counter()
    step_times = [b - a for a, b in zip(marks, marks[1:])] or [marks[0] - start]
    return dict(
        size=f"{width}x{height}",
        tokens=tokens,
        mode=mode,
        kv_factor=factor,
        vae=plan.vae_tiling if budget is None else f"auto (budget {budget / GiB:.0f} GiB)",
        peak_vram_gib=round(peak_bytes() / GiB, 2),
        s_per_step=round(statistics.median(step_times), 3),
        decode_s=round(end - marks[-1], 2),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,2048,3840x2160,4096")
    parser.add_argument("--modes", default="gpu,offload,sequential")
    parser.add_argument("--sequential-sizes", default="3840x2160,4096", help="sequential is slow: only these")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--variant", type=int, default=2048)
    parser.add_argument("--vae-budget-gb", type=float, default=4.0, help="VAE decode budget (tiled above it)")
    parser.add_argument("--max-seconds", type=float, default=240)
    parser.add_argument("--out", default=None)
    parser.add_argument("--dry-run", action="store_true", help="tiny model on the CPU: checks this script only")
    args = parser.parse_args()
    global DEVICE
    if args.dry_run:
        DEVICE = "cpu"
    elif not torch.cuda.is_available():
        print("no CUDA GPU: this check is for a GPU machine (--dry-run checks the script on a CPU)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    engine = build_engine(args.variant, tiny=args.dry_run)
    budget = int(args.vae_budget_gb * GiB)
    seq_sizes = set(parse_sizes(args.sequential_sizes))
    rows = []
    for mode in args.modes.split(","):
        if mode == "sequential":
            if DEVICE == "cpu":
                continue  # offload modes need an accelerator
            engine = build_engine(args.variant, tiny=args.dry_run)  # group-offload hooks stay: fresh one
        for size in parse_sizes(args.sizes):
            if mode == "sequential" and size not in seq_sizes:
                continue
            for kv in ("off", "2"):
                if time.perf_counter() - started > args.max_seconds:
                    print(f"time budget reached: skipping {mode} {size} kv {kv}", file=sys.stderr)
                    continue
                try:
                    row = run_one(engine, mode, size, kv, args.steps, budget)
                except torch.OutOfMemoryError as error:
                    row = dict(size=f"{size[0]}x{size[1]}", mode=mode, kv=kv, error=f"OOM: {error}"[:200])
                    torch.cuda.empty_cache()
                rows.append(row)
                print(json.dumps(row), flush=True)
                if "error" not in row:
                    print(
                        f"  {row['size']:>10} {mode:<10} kv x{row['kv_factor']}: peak {row['peak_vram_gib']:6.2f} GiB,"
                        f" {row['s_per_step']:.3f} s/step, decode {row['decode_s']:.2f} s",
                        flush=True,
                    )
    name = torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu (dry run)"
    report = dict(device=name, torch=torch.__version__, rows=rows)
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
