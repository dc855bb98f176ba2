"""Which of its palette colours can the demo model draw? Route the ones it cannot to a shade it can.

The prompt tables (`prompt_words.json`) map everyday words to the palette of model/demo/data.py, but
a word is only useful if the model draws its colour. For every palette colour this asks the model
for K pictures with that main colour (captions of the training grammar, random pattern, placement
and accent; never the everyday prompts of benchmarks/demo_everyday_prompts.json), at the sizes the
refine path composes at, and reads the main area's colour family (model/demo/scoring.py). A colour
whose family comes back in fewer than THRESHOLD of its pictures is "not drawable"; when a sibling
shade of the same family (light/normal/dark) is drawable, the best one becomes its stand-in.

    python benchmarks/demo_drawable.py [--k 8] [--sizes 192x336,336x192] [--threshold 0.5] [--write]

--write puts the stand-ins in MODEL/prompt_words.json under "drawn_as" (temp file, then rename);
the engine then draws, e.g., "coffee" (brown) as dark brown and says so in the image's notes. Prints one JSON object,
then a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def audit_labels(colour: str, k: int) -> list[dict]:
    """k label sets with `colour` as the main colour (deterministic per colour)."""
    from model.demo.data import COLOURS, _too_close, draw_labels, family

    out = []
    for j in range(k):
        rng = np.random.default_rng([5150, COLOURS.index(colour), j])
        labels = draw_labels(rng)
        labels["main_colour"], labels["main_family"] = colour, family(colour)
        if labels["accent_colour"] is not None:
            while _too_close(colour, labels["accent_colour"]):
                labels["accent_colour"] = str(rng.choice(COLOURS))
        out.append(labels)
    return out


def stand_ins(rates: dict[str, float], threshold: float) -> dict[str, str]:
    """{colour: sibling} for each colour under the threshold whose best same-family sibling is at or over it."""
    from model.demo.data import family

    out = {}
    for colour, rate in rates.items():
        if rate >= threshold:
            continue
        siblings = [c for c in rates if c != colour and family(c) == family(colour)]
        best = max(siblings, key=lambda c: rates[c], default=None)
        if best is not None and rates[best] >= threshold:
            out[colour] = best
    return out


def write_drawn_as(model: Path, drawn_as: dict[str, str], note: str) -> None:
    """Put the stand-ins in the model's prompt tables, atomically."""
    path = model / "prompt_words.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["drawn_as"] = dict(sorted(drawn_as.items()))
    data["_drawn_as_comment"] = note
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def audit(args, sizes: list[tuple[int, int]]) -> dict:
    """Each palette colour's share of pictures whose main area came out in its family."""
    from model.demo.data import COLOURS, family, make_caption
    from model.demo.scoring import dominant_colour
    from model.inference.engine import Engine
    from model.request import GenerationRequest

    engine = Engine(device="cpu")
    engine.load(args.model)
    engine.words = None  # the captions are already in the trained grammar; no stand-ins while auditing
    guidance = args.guidance if args.guidance is not None else (engine.info.defaults or {}).get("guidance", 4.5)
    rates, t0 = {}, time.time()
    for colour in COLOURS:
        got = []
        for j, labels in enumerate(audit_labels(colour, args.k)):
            caption = make_caption(labels, np.random.default_rng([5151, COLOURS.index(colour), j]))
            for w, h in sizes:
                request = GenerationRequest(caption, width=w, height=h, steps=args.steps, guidance=guidance,
                                            seed=j, hires="direct")
                got.append(dominant_colour(engine.generate(request).images[0].image)[0])
        rates[colour] = sum(fam == family(colour) for fam in got) / len(got)
        print(f"{colour:>12}: {rates[colour]:.0%}  {' '.join(got)}", file=sys.stderr, flush=True)
    engine.unload()
    return {"rates": rates, "guidance": guidance, "seconds": round(time.time() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "resources" / "demo_model"))
    parser.add_argument("--k", type=int, default=8, help="pictures per colour and size")
    parser.add_argument("--sizes", default="192x336,336x192", help="WxH list (the refine path's composing sizes)")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's own")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="write the stand-ins into the model's prompt_words.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from model import resolution

    try:
        sizes = [tuple(int(v) for v in s.lower().split("x", 1)) for s in args.sizes.split(",")]
    except ValueError:
        print(f"--sizes {args.sizes!r} is not a WxH list (for example 192x336,336x192)", file=sys.stderr)
        return 2
    tables = Path(args.model) / "prompt_words.json"
    if args.write and not tables.is_file():
        print(f"{args.model} has no prompt_words.json to write the stand-ins into", file=sys.stderr)
        return 2
    min_side = resolution.MIN_SIDE
    resolution.MIN_SIDE = min(min_side, *(min(s) for s in sizes))  # composing sizes are below the app's
    try:
        for w, h in sizes:
            resolution.check_size(w, h)
        rates = audit(args, sizes)
    finally:
        resolution.MIN_SIDE = min_side
    drawn_as = stand_ins(rates["rates"], args.threshold)
    report = {"model": args.model, "k": args.k, "sizes": args.sizes, "threshold": args.threshold,
              "guidance": rates["guidance"], "steps": args.steps, "rates": rates["rates"], "drawn_as": drawn_as,
              "seconds": rates["seconds"]}
    print(json.dumps(report))
    print("| colour | drawn (family right) | stand-in |\n|---|---|---|")
    for colour, rate in rates["rates"].items():
        print(f"| {colour} | {rate:.0%} | {drawn_as.get(colour, '')} |")
    if args.write:
        write_drawn_as(Path(args.model), drawn_as,
                       f"written by: python benchmarks/demo_drawable.py --k {args.k} --sizes {args.sizes} "
                       f"--threshold {args.threshold} --write (colours drawn in fewer than "
                       f"{args.threshold:.0%} of their pictures, routed to the best same-family shade)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
