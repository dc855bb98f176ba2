"""Per-step time of the PixArt DiT with KV compression off / 2 / 4 at several image sizes.

One step = one classifier-free-guidance transformer call: batch 2, random caption embeddings of 300
tokens. Factors are timed side by side in the same run (round-robin after a warm-up, median of
--repeats). Prints one JSON object, then a readable line per size.

    python benchmarks/kv_compress.py                                  # mid DiT on CPU, 256..768 px
    python benchmarks/kv_compress.py --config xl --device cuda --sizes 1024,2048,4096
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.build import build_transformer
from model.configs import T5_TOKENS, PipelineConfig, SigmaXL2, transformer_config
from model.inference.kv_compress import attach, remove_kv_compression

PIXELS_PER_TOKEN = 16  # VAE 8x, patch 2


def mid_config() -> PipelineConfig:
    """A mid-size Sigma-style DiT (hidden 384, 12 blocks, 6 heads, T5-XXL caption width)."""
    return PipelineConfig(transformer=transformer_config(384, 12, 6, 4096, 64, 1), vae={})


def step_time(transformer, latent, caption, timestep, device: str) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) for one transformer forward."""
    if device == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    transformer(latent, encoder_hidden_states=caption, timestep=timestep, return_dict=False)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def set_factor(transformer, factor: int, mode: str) -> None:
    """Compression `factor` on the default blocks (second half), or off."""
    if factor == 1:
        remove_kv_compression(transformer)
    else:
        attach(transformer, factor, mode=mode)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark and print JSON plus one line per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=["mid", "xl"], default="mid")
    parser.add_argument("--sizes", default=None, help="square image sides in px (default cpu 256,512,768)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--factors", default="1,2,4")
    parser.add_argument("--mode", choices=["avg", "conv"], default="avg")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (1 is steadier on a busy machine)"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    default_sizes = "256,512,768" if args.device == "cpu" else "1024,2048,4096"
    sizes = [int(s) for s in (args.sizes or default_sizes).split(",")]
    factors = [int(f) for f in args.factors.split(",")]
    dtype = torch.float32 if args.device == "cpu" else torch.float16
    cfg = mid_config() if args.config == "mid" else SigmaXL2(1024)
    transformer = build_transformer(cfg).to(args.device).eval()
    if dtype != torch.float32:
        transformer = transformer.to(dtype)
    channels = cfg.transformer["caption_channels"]

    results = []
    for size in sizes:
        gen = torch.Generator().manual_seed(size)
        side = size // 8
        latent = torch.randn(2, 4, side, side, generator=gen).to(args.device, dtype)  # (2, 4, h, w)
        caption = torch.randn(2, T5_TOKENS, channels, generator=gen).to(args.device, dtype)  # (2, 300, C)
        timestep = torch.tensor([500, 500], device=args.device)
        times: dict[int, list[tuple[float, float]]] = {f: [] for f in factors}
        with torch.inference_mode():
            for f in factors:  # warm-up
                set_factor(transformer, f, args.mode)
                step_time(transformer, latent, caption, timestep, args.device)
            for _ in range(args.repeats):
                for f in factors:
                    set_factor(transformer, f, args.mode)
                    times[f].append(step_time(transformer, latent, caption, timestep, args.device))
        row = {"size": size, "tokens": (size // PIXELS_PER_TOKEN) ** 2}
        # wall time is what users wait for; CPU time is steadier when other processes share the cores
        for clock, k in (("ms_per_step", 0), ("cpu_ms_per_step", 1)):
            ms = {str(f): round(1000 * statistics.median(t[k] for t in ts), 1) for f, ts in times.items()}
            row[clock] = ms
            if 1 in factors:
                key = "speedup" if k == 0 else "cpu_speedup"
                row[key] = {str(f): round(ms["1"] / ms[str(f)], 3) for f in factors if f != 1}
        results.append(row)
    remove_kv_compression(transformer)

    n = len(transformer.transformer_blocks)
    report = {
        "benchmark": "kv_compress",
        "config": args.config,
        "device": torch.cuda.get_device_name()
        if args.device == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)",
        "dtype": str(dtype).removeprefix("torch."),
        "mode": args.mode,
        "blocks": f"{n // 2}..{n - 1} of {n}",
        "batch": 2,
        "repeats": args.repeats,
        "results": results,
    }
    print(json.dumps(report))
    for row in results:
        parts = [f"s={f}: {row['ms_per_step'][str(f)]:.0f} ms" for f in factors]
        speed = ", ".join(
            f"x{v:.2f} (cpu x{row['cpu_speedup'][f]:.2f}) with s={f}"
            for f, v in row.get("speedup", {}).items()
        )
        print(
            f"{row['size']}x{row['size']} ({row['tokens']} tokens): "
            + ", ".join(parts)
            + (f"; {speed}" if speed else "")
        )
    return report


if __name__ == "__main__":
    main()
