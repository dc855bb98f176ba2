"""`batch` locally and on a local Ray cluster, on the same jobs, in one run: images per minute and what
Ray's start-up costs (docs/FARM.md, "Figures").

    python benchmarks/batch_farm.py [--jobs 24] [--steps 10] [--size 256x256] [--workers 2] [--cpus 2]

Builds the tiny random-weight model (tests' Tiny config), writes JOBS jobs, then:
1. a plain local run: `main.py batch JOBS --out DIR` (one engine, all cores), and the same with
   OMP_NUM_THREADS=1 (the thread count Ray gives a 1-CPU worker);
2. `ray start --head --num-cpus CPUS` on 127.0.0.1 (timed), the same jobs with `--ray` and WORKERS
   workers of CPUS/WORKERS cores each, then `ray stop --force`.
Each run is a fresh process into a fresh folder, timed from outside (wall) and from inside
(`--timing-json`: model or workers ready, images made). Prints one JSON object, then a line per figure.
The tiny model makes an image in a fraction of a second, so these figures show the fixed costs; with
the real model an image takes seconds to minutes and the fixed costs shrink in proportion.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def tiny_model(folder: Path) -> Path:
    from model.build import build_pipeline
    from model.configs import Tiny

    path = folder / "tiny-pipeline"
    build_pipeline(Tiny(), seed=0).save_pretrained(path)
    return path


def write_jobs(path: Path, count: int, steps: int, size: str) -> Path:
    lines = [{"prompt": f"wallpaper {k}", "size": size, "steps": steps, "seed": k} for k in range(count)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def run_batch(jobs: Path, out: Path, model: Path, *extra: str, env: dict | None = None) -> dict:
    """One `batch` process; its --timing-json summary plus the wall time seen from outside."""
    command = [sys.executable, "-m", "main", "batch", str(jobs), "--out", str(out), "--model", str(model),
               "--timing-json", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, **(env or {})})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"batch failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    render_s = summary["seconds"] - summary["workers_ready_s"]
    return {**summary, "wall_s": round(wall, 2), "render_s": round(render_s, 2),
            "images_per_min_wall": round(60 * summary["made"] / wall, 1),
            "images_per_min_rendering": round(60 * summary["made"] / render_s, 1) if render_s > 0 else None}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ray_run(jobs: Path, out: Path, model: Path, workers: int, cpus: int) -> dict:
    ray_cli = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    port = free_port()
    started = time.perf_counter()
    subprocess.run([ray_cli, "start", "--head", "--num-cpus", str(cpus), "--node-ip-address", "127.0.0.1",
                    "--port", str(port), "--include-dashboard=false", "--disable-usage-stats"],
                   check=True, capture_output=True, timeout=300)
    start_s = time.perf_counter() - started
    try:
        result = run_batch(jobs, out, model, "--ray", f"127.0.0.1:{port}", "--workers", str(workers),
                           "--cpus-per-worker", str(max(1, cpus // workers)))
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=300)
    return {**result, "ray_start_s": round(start_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=2)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="batch-farm-") as folder:
        folder = Path(folder)
        os.environ.setdefault("SIGMA_STUDIO_HOME", str(folder / "home"))
        model = tiny_model(folder)
        jobs = write_jobs(folder / "jobs.jsonl", options.jobs, options.steps, options.size)
        local = run_batch(jobs, folder / "local", model)
        # Ray gives each worker OMP_NUM_THREADS = its CPUs; the same thread count locally, for a fair split
        local_1 = run_batch(jobs, folder / "local-1-thread", model, env={"OMP_NUM_THREADS": "1"})
        ray = ray_run(jobs, folder / "ray", model, options.workers, options.cpus)
    # workers_ready_s counts from the batch's start, so it holds the connect time too
    overhead = ray["ray_start_s"] + ray["workers_ready_s"] - local["workers_ready_s"]
    figures = {"jobs": options.jobs, "steps": options.steps, "size": options.size, "cores": os.cpu_count(),
               "local": local, "local_1_thread": local_1, "ray": ray, "ray_overhead_s": round(overhead, 2)}
    print(json.dumps(figures))
    for name, run in (("local", local), ("local, 1 thread", local_1), ("ray", ray)):
        print(f"{name:>15}: {run['made']} images, wall {run['wall_s']} s = {run['images_per_min_wall']} images/min; "
              f"engine(s) ready after {run['workers_ready_s']} s, then {run['images_per_min_rendering']} images/min")
    print(f"            ray: `ray start` {ray['ray_start_s']} s, connect {ray['connect_s']} s, workers ready "
          f"{ray['workers_ready_s']} s after the batch started; start-up overhead over the local run "
          f"{figures['ray_overhead_s']} s")


if __name__ == "__main__":
    main()
