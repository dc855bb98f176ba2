"""Seam score of tileable against normal images on the demo model, and the time tileable costs.

    python -m benchmarks.seamless [--sizes 512,1024] [--prompts 10] [--steps 20] [--axes both]
                                  [--threads 1] [--save DIR]

For each size and prompt, one normal and one tileable image with the same seed, made one after the
other (the order alternates from prompt to prompt, after an untimed warm-up), so machine load falls
on both alike. Prints the seam score (model/inference/seamless.py: wrap difference / mean inner
neighbour difference, x and y), the wrap's place among the image's own inner latent-pixel
boundaries (`interior_scores`: the share of them scoring at least as high as the wrap; a wrap like
any other boundary lands anywhere in 0..1, a visible seam near 0), and the seconds of each; then
per size the mean and worst score, how many tileable images have both axes <= 1.15 (the goal), and
the median seconds per image of each mode. --save DIR keeps the images.

May import: model.*, torch (through the engine). Never Qt, app/ or ui/.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

PROMPTS = [
    "a red flower pattern",
    "blue ocean waves",
    "a forest of green trees",
    "a sunset over mountains",
    "a city at night with lights",
    "white clouds in a blue sky",
    "autumn leaves on the ground",
    "a field of yellow sunflowers",
    "purple galaxy with stars",
    "a stone wall texture",
]
GOAL = 1.15


def _scores(image, row: dict, mode: str) -> None:
    from model.inference.seamless import interior_scores, seam_score

    for axis in ("x", "y"):
        score = seam_score(image, axis)
        inner = interior_scores(image, axis)
        row[f"{mode}_{axis}"] = score
        row[f"{mode}_{axis}_rank"] = float(np.mean(inner >= score))
        row[f"{mode}_{axis}_inner_over"] = float(np.mean(inner > GOAL))


def run(sizes: list[int], prompts: list[str], steps: int, axes: str, save: Path | None) -> list[dict]:
    from model.inference.engine import Engine
    from model.request import GenerationRequest

    engine = Engine(device="cpu")
    engine.load(None)

    def make(prompt: str, size: int, seed: int, mode: str, n_steps: int = steps):
        request = GenerationRequest(prompt, width=size, height=size, steps=n_steps, seed=seed,
                                    guidance=2.0, tileable=mode, kv_compress="auto")
        started = time.perf_counter()
        image = engine.generate(request).images[0].image
        return image, time.perf_counter() - started

    for mode in ("off", axes):  # warm-up, untimed: prompt cache, first-call allocations
        make(prompts[0], min(sizes), 1, mode, 2)
    rows = []
    for size in sizes:
        for number, prompt in enumerate(prompts):
            row = {"size": size, "prompt": prompt}
            order = ("off", axes) if number % 2 == 0 else (axes, "off")
            for mode in order:
                image, row[f"{mode}_s"] = make(prompt, size, 100 + number, mode)
                _scores(image, row, mode)
                if save:
                    save.mkdir(parents=True, exist_ok=True)
                    image.save(save / f"{size}_{number}_{mode}.png")
            rows.append(row)
            t = axes
            print(f"{size:5d}  {prompt[:28]:28s}  normal x {row['off_x']:6.2f} y {row['off_y']:6.2f}"
                  f"  tileable x {row[t + '_x']:5.2f} y {row[t + '_y']:5.2f}"
                  f" (wrap rank x {row[t + '_x_rank']:.2f} y {row[t + '_y_rank']:.2f})"
                  f"  {row['off_s']:6.1f}s / {row[t + '_s']:6.1f}s", flush=True)
    return rows


def summary(rows: list[dict], axes: str) -> None:
    t = axes
    print(f"\nsize  normal x/y (mean)  tileable x/y (mean)  worst  both <= {GOAL}  inner > {GOAL}"
          "  median s normal / tileable  cost")
    for size in sorted({r["size"] for r in rows}):
        part = [r for r in rows if r["size"] == size]

        def mean(key: str, part: list = part) -> float:
            return statistics.mean(r[key] for r in part)

        worst = max(max(r[t + "_x"], r[t + "_y"]) for r in part)
        passed = sum(max(r[t + "_x"], r[t + "_y"]) <= GOAL for r in part)
        inner_over = statistics.mean((r[t + "_x_inner_over"] + r[t + "_y_inner_over"]) / 2 for r in part)
        normal_s = statistics.median(r["off_s"] for r in part)
        tile_s = statistics.median(r[t + "_s"] for r in part)
        ratio = statistics.median(r[t + "_s"] / r["off_s"] for r in part)
        print(f"{size:4d}  {mean('off_x'):6.2f}/{mean('off_y'):6.2f}      {mean(t + '_x'):5.2f}/{mean(t + '_y'):5.2f}"
              f"          {worst:5.2f}  {passed:2d} of {len(part):2d}     {inner_over * 100:3.0f}%"
              f"        {normal_s:6.2f} / {tile_s:6.2f}         {(ratio - 1) * 100:+.1f}% (median of pairs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--axes", default="both", choices=["x", "y", "both"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--save", type=Path, default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"demo model, CPU ({args.threads} thread(s)), {args.steps} steps, guidance 2, tileable {args.axes}")
    rows = run(sizes, PROMPTS[: args.prompts], args.steps, args.axes, args.save)
    summary(rows, args.axes)


if __name__ == "__main__":
    main()
