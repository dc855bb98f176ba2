"""Does the demo model follow prompts? Generate held-out prompts, score colour and pattern; time 1024^2 and 4K.

The prompts come from colour x pattern x layout combinations that never appear in training
(model/demo/data.py `is_held_out`). Scores use simple image statistics (model/demo/scoring.py):
- colour: the palette family covering most pixels (the main area) vs the requested main colour
  (also the exact shade, e.g. "light blue", as `shade_acc`);
- pattern: nearest ground-truth renders in a space of orientation/profile/blob statistics.

    python benchmarks/demo_eval.py [--model resources/demo_model] [--n 48] [--size 256,512] [--speed] [--speed-4k]

Through the app's engine (issue 12: direct against compose-and-refine, with the prompt tables, the
edge band and the time per image), on everyday phrasings (benchmarks/demo_everyday_prompts.json,
held out from the tables) or the training grammar's held-out combinations:

    python benchmarks/demo_eval.py --n 4 --engine-sizes 1024x1024,1920x1080 --hires direct,refine [--prompts everyday]

Prints one JSON object, then a readable line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load(model: Path):
    """PixArtSigmaPipeline from a diffusers folder, progress bar off."""
    from diffusers import PixArtSigmaPipeline

    pipe = PixArtSigmaPipeline.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def time_call(pipe, width: int, height: int, steps: int, guidance: float) -> float:
    """Seconds for one plain pipeline call (text encoding, denoising, VAE decode, to PIL)."""
    start = time.perf_counter()
    with torch.no_grad():
        pipe(
            "a blue wallpaper with red stripes",
            width=width,
            height=height,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=torch.Generator().manual_seed(0),
            use_resolution_binning=False,
            clean_caption=False,
        )
    return time.perf_counter() - start


def enable_kv(pipe, model: Path) -> dict:
    """KV compression for 4K: the learned sidecar if the model has one, else average pooling x2."""
    from model.inference.kv_compress import attach, kv_settings, load_kv_compression

    settings = load_kv_compression(pipe.transformer, model / "transformer")
    if settings is None:
        attach(pipe.transformer, 2, mode="avg")
    return kv_settings(pipe.transformer)


def main(argv: list[str] | None = None) -> int:
    """Run the eval (and timings when asked); print JSON + a readable line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "resources" / "demo_model")
    parser.add_argument("--n", type=int, default=48, help="held-out prompts (0: skip the eval)")
    parser.add_argument("--size", default="512", help="image size(s), comma-separated: one eval per size")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--guidance", type=float, default=None, help="default: the model's sigma_studio.json, else 4.5"
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (eval and timings run there)")
    parser.add_argument("--save", type=Path, default=None, help="write the images and per-prompt scores here")
    parser.add_argument("--speed", action="store_true", help="time 1024x1024, 20 steps (plain pipeline call)")
    parser.add_argument("--speed-4k", action="store_true", help="run 3840x2160 with KV compression")
    parser.add_argument("--steps-4k", type=int, default=2, help="denoising steps for the 4K check")
    parser.add_argument(
        "--write-readme", action="store_true", help="put the results in MODEL/README.md (section 'Measured')"
    )
    parser.add_argument("--engine-sizes", default="", help="WxH list: run through the engine at these sizes")
    parser.add_argument("--hires", default="direct,refine", help="paths to compare with --engine-sizes")
    parser.add_argument("--prompts", default="everyday", choices=["everyday", "heldout"])
    parser.add_argument("--upscaler", default="latent", choices=["latent", "pixel"], help="for refine")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--read", action="store_true", help="only: how the model's prompt tables read --prompts")
    args = parser.parse_args(argv)
    if args.read:
        return read_eval(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.engine_sizes:
        return engine_eval(args, parser)

    try:
        sizes = [int(v) for v in str(args.size).split(",")]
    except ValueError:
        parser.error(f"--size must be numbers separated by commas, got {args.size!r}")
    from model.demo.scoring import evaluate_pipeline

    if args.guidance is None:
        from model.loading.defaults import read_model_defaults

        args.guidance = read_model_defaults(args.model).get("guidance", 4.5)
    from model.training.config import pick_device

    device = pick_device(args.device)
    pipe = load(args.model).to(device)
    result: dict = {"model": str(args.model), "threads": torch.get_num_threads(), "device": str(device)}
    if args.n:
        result["eval"] = []
        for size in sizes:
            start = time.perf_counter()
            ev = evaluate_pipeline(
                pipe,
                device=device,
                n=args.n,
                size=size,
                steps=args.steps,
                guidance=args.guidance,
                batch=args.batch,
            )
            items = ev.pop("items")
            ev["seconds"] = round(time.perf_counter() - start, 1)
            result["eval"].append(ev)
            if args.save:
                folder = args.save / str(size)
                folder.mkdir(parents=True, exist_ok=True)
                rows = []
                for i, item in enumerate(items):
                    item["image"].save(folder / f"{i:03d}.png")
                    rows.append({k: v for k, v in item.items() if k != "image"})
                (folder / "scores.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    if args.speed:
        time_call(pipe, 256, 256, 1, args.guidance)  # warm-up
        result["speed_1024"] = {
            "seconds": round(time_call(pipe, 1024, 1024, 20, args.guidance), 2),
            "steps": 20,
            "guidance": args.guidance,
        }
    if args.speed_4k:
        settings = enable_kv(pipe, args.model)
        seconds = time_call(pipe, 3840, 2160, args.steps_4k, args.guidance)
        result["speed_4k"] = {"seconds": round(seconds, 1), "steps": args.steps_4k, "kv": settings}
    print(json.dumps(result))
    parts = []
    for ev in result.get("eval", []):
        parts.append(
            f"held-out prompts n={ev['n']} at {ev['size']}px: colour {ev['colour_acc']:.0%} "
            f"(shade {ev['shade_acc']:.0%}), pattern {ev['pattern_acc']:.0%}"
        )
    if "speed_1024" in result:
        parts.append(f"1024x1024 20 steps: {result['speed_1024']['seconds']:.1f} s")
    if "speed_4k" in result:
        s4 = result["speed_4k"]
        parts.append(f"3840x2160 {s4['steps']} steps with KV x{s4['kv']['factor']}: {s4['seconds']:.0f} s")
    line = "; ".join(parts) or "nothing measured"
    print(line)
    if args.write_readme:
        write_readme(args.model / "README.md", result, line)
    return 0


def eval_prompts(kind: str, n: int) -> list[tuple[str, str, str, str]]:
    """n (prompt, main family, pattern, layout): everyday phrasings or the training grammar's held-out ones."""
    if kind == "everyday":
        rows = json.loads((ROOT / "benchmarks" / "demo_everyday_prompts.json").read_text(encoding="utf-8"))
        return [(r["prompt"], r["main"], r["pattern"], r["layout"]) for r in rows["prompts"][:n]]
    from model.demo.data import heldout_prompts

    return [(c, lab["main_family"], lab["pattern"], lab["layout"]) for c, lab in heldout_prompts(n)]


def read_eval(args) -> int:
    """How the model folder's prompt tables read the prompts: main colour family, pattern, layout found."""
    from model.inference.prompt_words import PromptWords

    words = PromptWords.load(args.model)
    if words is None:
        print(f"{args.model} has no prompt tables")
        return 1
    prompts = eval_prompts(args.prompts, args.n)
    hits = {"main": 0, "pattern": 0, "layout": 0}
    for prompt, main, pattern, layout in prompts:
        reading = words.read(prompt)
        hits["main"] += (reading.main or "").split(" ")[-1] == main
        hits["pattern"] += reading.pattern == pattern
        hits["layout"] += reading.layout == layout
    n = len(prompts)
    print(json.dumps({"n": n, **{k: v / n for k, v in hits.items()}}))
    print(f"prompt tables on {n} {args.prompts} prompts: main colour {hits['main']}/{n}, "
          f"pattern {hits['pattern']}/{n}, layout {hits['layout']}/{n}")
    return 0


def engine_eval(args, parser) -> int:
    """Generate the prompts through model.inference.engine at each size and path; score and time them."""
    from model.demo.scoring import score_engine_image
    from model.inference.engine import Engine
    from model.request import GenerationRequest

    try:
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.engine_sizes.split(",")]
    except ValueError:
        parser.error(f"--engine-sizes must be WxH values separated by commas, got {args.engine_sizes!r}")
    engine = Engine(device=args.device)
    info = engine.load(None if args.model == ROOT / "resources" / "demo_model" else str(args.model))
    guidance = args.guidance if args.guidance is not None else (info.defaults or {}).get("guidance", 4.5)
    prompts = eval_prompts(args.prompts, args.n)
    rows = []
    for width, height in sizes:
        for path in args.hires.split(","):
            scores, seconds = [], []
            for k, (prompt, main, pattern, layout) in enumerate(prompts):
                request = GenerationRequest(prompt, width=width, height=height, steps=args.steps,
                                            guidance=guidance, seed=k, hires=path, upscaler=args.upscaler)
                start = time.perf_counter()
                result = engine.generate(request)
                seconds.append(time.perf_counter() - start)
                image = result.images[0]
                scores.append({"prompt": prompt, **score_engine_image(image.image, main, pattern, layout)})
                if args.save:
                    folder = args.save / f"{width}x{height}_{path}_{args.upscaler}"
                    folder.mkdir(parents=True, exist_ok=True)
                    image.image.save(folder / f"{k:03d}.png")
            n = len(scores)
            rows.append({
                "size": f"{width}x{height}", "hires": path, "n": n, "made_by": image.params["hires"].get("path"),
                "colour_acc": sum(s["colour_ok"] for s in scores) / n,
                "pattern_acc": sum(s["pattern_ok"] for s in scores) / n,
                "layout_acc": sum(s["layout_ok"] for s in scores) / n,
                "edge_band_max": max(s["edge_band"] for s in scores),
                "seconds_per_image": round(sum(seconds) / n, 1), "items": scores,
            })
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "items"}), flush=True)
    print(json.dumps({"model": info.name, "threads": torch.get_num_threads(), "prompts": args.prompts,
                      "steps": args.steps, "guidance": guidance, "engine": rows}))
    print("| size | path | n | colour | pattern | layout | edge band (max) | s/image |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['hires']} ({r['made_by']}) | {r['n']} | {r['colour_acc']:.0%} | "
              f"{r['pattern_acc']:.0%} | {r['layout_acc']:.0%} | {r['edge_band_max']:.1f} | {r['seconds_per_image']} |")
    return 0


def write_readme(path: Path, result: dict, line: str) -> None:
    """Replace (or add) the '## Measured' section of a model card with these results."""
    import platform

    text = path.read_text(encoding="utf-8") if path.exists() else "# Model\n"
    head = text.split("\n## Measured")[0].rstrip("\n")
    machine = f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    if torch.cuda.is_available():
        machine = torch.cuda.get_device_name(0)
    section = [
        "",
        "## Measured (benchmarks/demo_eval.py)",
        "",
        f"- {line}",
        f"- machine: {machine}; {time.strftime('%Y-%m-%d %H:%M')}",
        f"- command: `python benchmarks/demo_eval.py {' '.join(sys.argv[1:])}`",
        "",
    ]
    path.write_text(head + "\n" + "\n".join(section), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
