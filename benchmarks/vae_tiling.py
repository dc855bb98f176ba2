"""Tiled VAE decoding on the full SDXL-VAE architecture (random weights, fixed seed): ours vs diffusers vs untiled.

    python benchmarks/vae_tiling.py [--sizes 1024] [--big 3840x2160,4096x4096] [--device cpu|cuda]

For each size it runs, each in a fresh subprocess: the untiled `vae.decode`, diffusers'
`enable_tiling()` (tiles of 64 latent px, as ours) and our `tiled_decode`, and reports time, peak
memory (CPU: peak RSS from getrusage minus the peak of a process that only loaded the VAE; CUDA:
torch.cuda.max_memory_allocated minus what was allocated before decoding) and the max/mean error of
each tiled method against the untiled decode. `--big` sizes only probe our tiled decode's peak memory:
one pass with per-tile statistics, cancelled once an interior tile is done (every tile has the same
size, so the peak is that of a full run; time is not reported). Prints one JSON object, then a
readable line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 0
TILE, OVERLAP = 64, 16


def parse_size(text: str) -> tuple[int, int]:
    """'1024' or '3840x2160' -> (width, height) in pixels, multiples of 8."""
    w, _, h = text.partition("x")
    width, height = int(w), int(h or w)
    if width % 8 or height % 8:
        raise SystemExit(f"size {text}: both sides must be multiples of 8")
    return width, height


def peak_rss_bytes() -> int:
    """This process's peak resident set size (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# ------------------------------------------------------------------ worker (one method, fresh process)


def worker(method: str, width: int, height: int, device: str, out: str | None, passes: int | None) -> dict:
    """Load the VAE, decode one latent with `method`, report time and peak memory; save the image."""
    import torch

    from model.build import build_vae
    from model.configs import SigmaXL2
    from model.errors import Cancelled
    from model.inference.vae_tiling import DEFAULT_PASSES, tile_layout, tiled_decode

    vae = build_vae(SigmaXL2(), seed=SEED).eval().to(device)
    g = torch.Generator().manual_seed(SEED)
    z = torch.randn(1, 4, height // 8, width // 8, generator=g).to(device)  # (1, 4, h, w)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = peak_rss_bytes()
    result = {"method": method, "width": width, "height": height, "device": device}
    if method == "load":
        result["peak_bytes"] = base
        return result
    start = time.perf_counter()
    img = None
    with torch.no_grad():
        if method == "untiled":
            img = vae.decode(z).sample
        elif method == "diffusers":
            vae.enable_tiling()
            vae.tile_sample_min_size, vae.tile_latent_min_size = TILE * 8, TILE
            img = vae.decode(z).sample
        elif method == "ours":
            single = len(tile_layout(z.shape[-2], z.shape[-1], TILE, OVERLAP)) == 1
            result["passes"] = 1 if single else passes or DEFAULT_PASSES  # one tile needs one pass
            img = tiled_decode(vae, z, tile=TILE, overlap=OVERLAP, passes=passes)
        elif method == "ours-probe":
            cols = len({t.cx0 for t in tile_layout(z.shape[-2], z.shape[-1], TILE, OVERLAP)})
            stop = min(cols + 2, len(tile_layout(z.shape[-2], z.shape[-1], TILE, OVERLAP)))
            done = []
            try:
                tiled_decode(
                    vae,
                    z,
                    tile=TILE,
                    overlap=OVERLAP,
                    passes=1,
                    on_progress=lambda d, t: done.append(d),
                    should_cancel=lambda: len(done) >= stop,
                )
            except Cancelled:
                pass
            result["tiles_run"] = len(done)
        else:
            raise SystemExit(f"unknown method {method}")
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if method != "ours-probe":
        result["seconds"] = round(seconds, 2)
    if cuda:
        result["peak_bytes"] = torch.cuda.max_memory_allocated() - base
        result["baseline_bytes"] = base
    else:
        result["peak_rss_bytes"] = peak_rss_bytes()
    if img is not None and out:
        torch.save(img.float().cpu(), out)
    return result


def run_worker(method: str, size: tuple[int, int], device: str, out: str | None, passes: int | None) -> dict:
    """Run `worker` in a fresh Python process and return its JSON line."""
    cmd = [sys.executable, __file__, "--worker", method, "--size", f"{size[0]}x{size[1]}", "--device", device]
    if out:
        cmd += ["--out", out]
    if passes:
        cmd += ["--passes", str(passes)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"method": method, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ driver


def fits_in_ram(width: int, height: int) -> bool:
    """Whether the untiled decode's estimated working memory fits in available RAM."""
    import psutil

    from model.build import build_vae
    from model.configs import SigmaXL2
    from model.inference.vae_tiling import untiled_decode_bytes

    vae = build_vae(SigmaXL2())
    return untiled_decode_bytes(vae, height // 8, width // 8) < 0.8 * psutil.virtual_memory().available


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1024", help="comma-separated sizes to compare all methods at")
    p.add_argument("--big", default="", help="comma-separated WxH sizes to probe our peak memory at")
    p.add_argument("--device", default="cpu")
    p.add_argument("--passes", type=int, default=None, help="passes of our tiled decode (default: ours)")
    p.add_argument("--methods", default="untiled,diffusers,ours")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--size", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        w, h = parse_size(args.size)
        print(json.dumps(worker(args.worker, w, h, args.device, args.out, args.passes)))
        return

    import torch

    report: dict = {
        "device": args.device,
        "tile": TILE,
        "overlap": OVERLAP,
        "seed": SEED,
        "sizes": {},
        "big": {},
    }
    cpu = not args.device.startswith("cuda")
    base = run_worker("load", (64, 64), args.device, None, None) if cpu else None
    if base:
        report["load_only_peak_rss_bytes"] = base["peak_bytes"]

    def working(r: dict) -> int | None:
        """Peak working memory of one run: RSS peak above a load-only process, or CUDA peak."""
        if "peak_rss_bytes" in r:
            return r["peak_rss_bytes"] - base["peak_bytes"]
        return r.get("peak_bytes")

    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for text in filter(None, args.sizes.split(",")):
            size = parse_size(text)
            name = f"{size[0]}x{size[1]}"
            entry: dict = {}
            methods = args.methods.split(",")
            if "untiled" in methods and cpu and not fits_in_ram(*size):
                entry["untiled"] = {"skipped": "does not fit in RAM"}
                methods.remove("untiled")
            for method in methods:
                out = str(Path(tmp) / f"{name}-{method}.pt")
                r = run_worker(method, size, args.device, out, args.passes)
                r["working_bytes"] = working(r)
                if method != "untiled" and Path(out).exists() and (Path(tmp) / f"{name}-untiled.pt").exists():
                    ref = torch.load(Path(tmp) / f"{name}-untiled.pt")
                    err = (torch.load(out) - ref).abs()
                    r["max_error"], r["mean_error"] = err.max().item(), err.mean().item()
                    r["untiled_std"] = ref.std().item()
                entry[method] = r
                lines.append(describe(name, method, r))
                print(lines[-1], file=sys.stderr, flush=True)
            report["sizes"][name] = entry
        for text in filter(None, args.big.split(",")):
            size = parse_size(text)
            name = f"{size[0]}x{size[1]}"
            r = run_worker("ours-probe", size, args.device, None, None)
            r["working_bytes"] = working(r)
            report["big"][name] = r
            lines.append(describe(name, "ours-probe", r))
            print(lines[-1], file=sys.stderr, flush=True)
    print(json.dumps(report))
    for line in lines:
        print(line)


def describe(name: str, method: str, r: dict) -> str:
    """One readable line for a measurement."""
    if "error" in r or "skipped" in r:
        return f"{name} {method}: {r.get('error') or r.get('skipped')}"
    parts = [f"{name} {method}:"]
    if "seconds" in r:
        parts.append(f"{r['seconds']:.1f} s")
    if r.get("working_bytes") is not None:
        parts.append(f"peak working memory {r['working_bytes'] / 2**30:.2f} GiB")
    if "peak_rss_bytes" in r:
        parts.append(f"(peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB)")
    if "max_error" in r:
        parts.append(f"vs untiled: max {r['max_error']:.4g}, mean {r['mean_error']:.3g}")
    if "passes" in r:
        parts.append(f"passes {r['passes']}")
    if "tiles_run" in r:
        parts.append(f"(probe: stopped after {r['tiles_run']} tiles)")
    return " ".join(parts)


if __name__ == "__main__":
    main()
