"""One large PixArt-Σ image on several GPUs with xDiT (xfuser), against our engine on one GPU
(docs/FARM.md, "One 4K image on several GPUs"). Needs a machine with 2 or more CUDA GPUs, xfuser
installed (`pip install xfuser`, its own environment is best) and the 2K model in the hub cache.

What it measures, for each size (2048x2048, 3840x2160, 4096x4096) and each parallel configuration
that fits the GPUs (docs/FARM.md's table: cfg 2; cfg 2 x ulysses 2; cfg 2 x pipefusion 2; cfg 2 x
ulysses 4; cfg 2 x pipefusion 4; cfg 2 x ulysses 2 x pipefusion 2):
- seconds per image: median of --repeat runs after one warm-up, the whole pipeline call (text
  encoding, denoising, VAE decode);
- speed-up over our engine on one GPU (`app.model_service.make_engine("cuda")`, same model, size,
  steps, guidance and seed);
- peak GPU memory per rank (torch.cuda.max_memory_allocated).

    python benchmarks/gpu_multi.py --make-folder ~/models/pixart-sigma-2k-xdit   # once: the xDiT folder
    python benchmarks/gpu_multi.py --folder ~/models/pixart-sigma-2k-xdit [--gpus 8] [--steps 20]

Prints one JSON line per measurement, then a table. The figures in docs/FARM.md stay empty until it
has run on a multi-GPU machine. Each xDiT configuration runs as `torchrun --nproc_per_node N` of this
same file with --rank-worker (the process that every GPU runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE_REPO = "PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers"
VARIANT_REPO = "PixArt-alpha/PixArt-Sigma-XL-2-2K-MS"
SIZES = [(2048, 2048), (3840, 2160), (4096, 4096)]
PROMPT = "a neon city at night in the rain, reflections on wet streets, highly detailed"
# (GPUs, label, xfuser arguments)
CONFIGS = [
    (2, "cfg 2", ["--use_cfg_parallel"]),
    (4, "cfg 2 x ulysses 2", ["--use_cfg_parallel", "--ulysses_degree", "2"]),
    (4, "cfg 2 x pipefusion 2", ["--use_cfg_parallel", "--pipefusion_parallel_degree", "2"]),
    (8, "cfg 2 x ulysses 4", ["--use_cfg_parallel", "--ulysses_degree", "4"]),
    (8, "cfg 2 x pipefusion 4", ["--use_cfg_parallel", "--pipefusion_parallel_degree", "4"]),
    (8, "cfg 2 x ulysses 2 x pipefusion 2",
     ["--use_cfg_parallel", "--ulysses_degree", "2", "--pipefusion_parallel_degree", "2"]),
]


def make_folder(dest: Path) -> Path:
    """A full diffusers folder for xDiT: the base's parts and the 2K transformer, linked from the hub cache."""
    from huggingface_hub import snapshot_download

    base = Path(snapshot_download(BASE_REPO, local_files_only=True))
    variant = Path(snapshot_download(VARIANT_REPO, local_files_only=True))
    dest.mkdir(parents=True, exist_ok=True)
    links = {part: base / part for part in ("model_index.json", "text_encoder", "tokenizer", "vae", "scheduler")}
    links["transformer"] = variant / "transformer"
    for name, target in links.items():
        link = dest / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    return dest


def baseline(folder: Path, size: tuple[int, int], steps: int, repeat: int) -> dict:
    """Our engine on one GPU: seconds per image and peak memory."""
    import torch

    from app.model_service import GenerationRequest, make_engine

    engine = make_engine("cuda", "gpu", leave_a_core=False)
    engine.load(str(folder))
    request = GenerationRequest(prompt=PROMPT, width=size[0], height=size[1], steps=steps, guidance=4.5, seed=42)
    engine.generate(request)  # warm-up
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        engine.generate(request)
        times.append(time.perf_counter() - started)
    return {"gpus": 1, "config": "our engine", "s_per_image": statistics.median(times),
            "peak_gb": torch.cuda.max_memory_allocated() / 1e9}


def rank_worker(argv: list[str]) -> None:
    """What each GPU runs under torchrun: xDiT's PixArt-Σ pipeline, timed; the last rank prints JSON."""
    import torch
    from xfuser import xFuserArgs, xFuserPixArtSigmaPipeline
    from xfuser.config import FlexibleArgumentParser
    from xfuser.core.distributed import get_runtime_state, get_world_group

    parser = xFuserArgs.add_cli_args(FlexibleArgumentParser(description="gpu_multi rank worker"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    engine_config, input_config = xFuserArgs.from_cli_args(args).create_config()
    rank = get_world_group().local_rank
    pipe = xFuserPixArtSigmaPipeline.from_pretrained(
        pretrained_model_name_or_path=engine_config.model_config.model, engine_config=engine_config,
        torch_dtype=torch.float16).to(f"cuda:{rank}")
    pipe.prepare_run(input_config)

    def once() -> float:
        started = time.perf_counter()
        pipe(height=input_config.height, width=input_config.width, prompt=input_config.prompt,
             num_inference_steps=input_config.num_inference_steps, guidance_scale=input_config.guidance_scale,
             output_type="pil", generator=torch.Generator(device="cuda").manual_seed(input_config.seed))
        torch.cuda.synchronize()
        return time.perf_counter() - started

    once()
    torch.cuda.reset_peak_memory_stats()
    times = [once() for _ in range(args.repeat)]
    world = get_world_group()
    if world.rank == world.world_size - 1:
        print("RESULT " + json.dumps({"gpus": world.world_size, "config": args.label,
                                      "s_per_image": statistics.median(times),
                                      "peak_gb": torch.cuda.max_memory_allocated() / 1e9}), flush=True)
    get_runtime_state().destroy_distributed_env()


def xdit_run(folder: Path, size: tuple[int, int], steps: int, repeat: int, gpus: int, label: str,
             flags: list[str]) -> dict | None:
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}", __file__, "--rank-worker",
               "--model", str(folder), "--height", str(size[1]), "--width", str(size[0]),
               "--num_inference_steps", str(steps), "--guidance_scale", "4.5", "--seed", "42", "--prompt", PROMPT,
               "--repeat", str(repeat), "--label", label, *flags]
    if max(size) > 2048:
        command.append("--use_parallel_vae")
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    print(f"{label} at {size[0]}x{size[1]} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
    return None


def main() -> None:
    if "--rank-worker" in sys.argv:
        rank_worker([a for a in sys.argv[1:] if a != "--rank-worker"])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--make-folder", type=Path, default=None)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--gpus", type=int, default=None, help="default: every visible GPU")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    if options.make_folder:
        print(make_folder(options.make_folder.expanduser()))
        return
    if options.folder is None:
        parser.error("give --folder (made once with --make-folder)")
    import torch

    gpus = options.gpus or torch.cuda.device_count()
    if gpus < 2:
        raise SystemExit(f"this needs 2 or more CUDA GPUs; {gpus} visible")
    rows = []
    for size in SIZES:
        one = baseline(options.folder, size, options.steps, options.repeat)
        rows.append({**one, "size": f"{size[0]}x{size[1]}", "speedup": 1.0})
        print(json.dumps(rows[-1]), flush=True)
        for need, label, flags in CONFIGS:
            if need > gpus:
                continue
            result = xdit_run(options.folder, size, options.steps, options.repeat, need, label, flags)
            if result:
                rows.append({**result, "size": f"{size[0]}x{size[1]}",
                             "speedup": one["s_per_image"] / result["s_per_image"]})
                print(json.dumps(rows[-1]), flush=True)
    print("| size | GPUs | configuration | s/image | speed-up | peak GB/GPU |\n|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['size']} | {row['gpus']} | {row['config']} | {row['s_per_image']:.2f} | "
              f"{row['speedup']:.2f}x | {row['peak_gb']:.1f} |")


if __name__ == "__main__":
    main()
