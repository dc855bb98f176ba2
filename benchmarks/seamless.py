"""Seam score of tileable against normal images on the demo model, and the time tileable costs.

    python -m benchmarks.seamless [--sizes 512,1024] [--prompts 10] [--steps 20] [--axes both]

For each size and prompt, one normal and one tileable image with the same seed; prints the seam
score (model/inference/seamless.py: wrap difference / inner neighbour difference, x and y) and the
seconds of each. Goal for tileable: <= 1.15. Pass --save DIR to keep the images.

May import: model.*, torch (through the engine). Never Qt, app/ or ui/.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

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


def run(sizes: list[int], prompts: list[str], steps: int, axes: str, save: Path | None) -> list[dict]:
    from model.inference.engine import Engine
    from model.inference.seamless import seam_score
    from model.request import GenerationRequest

    engine = Engine(device="cpu")
    engine.load(None)
    rows = []
    for size in sizes:
        for number, prompt in enumerate(prompts):
            row = {"size": size, "prompt": prompt}
            for mode in ("off", axes):
                request = GenerationRequest(prompt, width=size, height=size, steps=steps, seed=100 + number,
                                            guidance=2.0, tileable=mode, kv_compress="auto")
                started = time.perf_counter()
                image = engine.generate(request).images[0].image
                row[f"{mode}_s"] = time.perf_counter() - started
                row[f"{mode}_x"], row[f"{mode}_y"] = seam_score(image, "x"), seam_score(image, "y")
                if save:
                    save.mkdir(parents=True, exist_ok=True)
                    image.save(save / f"{size}_{number}_{mode}.png")
            rows.append(row)
            print(f"{size:5d}  {prompt[:32]:32s}  normal x {row['off_x']:6.2f} y {row['off_y']:6.2f}"
                  f"  tileable x {row[axes + '_x']:5.2f} y {row[axes + '_y']:5.2f}"
                  f"  {row['off_s']:6.1f}s -> {row[axes + '_s']:6.1f}s", flush=True)
    return rows


def summary(rows: list[dict], axes: str) -> None:
    print("\nsize  normal(mean x/y)  tileable(mean x/y)  tileable(max)  time cost")
    for size in sorted({r["size"] for r in rows}):
        part = [r for r in rows if r["size"] == size]

        def mean(key: str, part: list = part) -> float:
            return statistics.mean(r[key] for r in part)

        worst = max(max(r[axes + "_x"], r[axes + "_y"]) for r in part)
        cost = mean(axes + "_s") / mean("off_s") - 1
        print(f"{size:4d}  {mean('off_x'):6.2f}/{mean('off_y'):6.2f}     {mean(axes + '_x'):5.2f}/{mean(axes + '_y'):5.2f}"
              f"          {worst:5.2f}          {cost * 100:+.0f}%  (n={len(part)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--axes", default="both", choices=["x", "y", "both"])
    parser.add_argument("--save", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"demo model, CPU, {args.steps} steps, guidance 2, tileable {args.axes}")
    rows = run(sizes, PROMPTS[: args.prompts], args.steps, args.axes, args.save)
    summary(rows, args.axes)


if __name__ == "__main__":
    main()
