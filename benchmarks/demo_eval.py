"""Does the demo model follow prompts? Generate held-out prompts, score colour and pattern; time 1024^2 and 4K.

The prompts come from colour x pattern x layout combinations that never appear in training
(model/demo/data.py `is_held_out`). Scores use simple image statistics (model/demo/scoring.py):
- colour: the palette family covering most pixels (the main area) vs the requested main colour
  (also the exact shade, e.g. "light blue", as `shade_acc`);
- pattern: nearest ground-truth renders in a space of orientation/profile/blob statistics.

    python benchmarks/demo_eval.py [--model resources/demo_model] [--n 48] [--size 256,512] [--speed] [--speed-4k]

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
    args = parser.parse_args(argv)

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
