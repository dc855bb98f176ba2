"""Weak-to-strong training and fine-tuning of PixArt-Sigma pipelines (`python -m model.training`).

`python -m model.training demo|train|recipe --config C --out DIR [--stage S] [--resume] [--device D]
[--max-minutes M] ...`: demo trains the embedded demo model, train runs any config, recipe runs
several configs in a row (model/training/recipe.py). See docs/TRAINING.md.

May import: model.training.config / .run / .recipe / .stages, torch. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from .config import ROOT, load_config
from .recipe import run_recipe
from .run import run_training
from .stages import stage_for

PROG = "python -m model.training"


def main(argv: list[str] | None = None) -> int:
    """`python -m model.training demo|train|recipe ...`; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "recipe":
        return _main_recipe(parser, args)
    args.device = args.device or "auto"
    config = args.config or (str(ROOT / "configs" / "train_demo.json") if args.command == "demo" else None)
    out = args.out or (str(ROOT / "resources" / "demo_model") if args.command == "demo" else None)
    if config is None or out is None:
        parser.error("train needs --config and --out")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        cfg = load_config(config)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.vae_stage:
        args.stage = [*(args.stage or []), "vae"]
    if args.train_text_encoder:
        for stage in cfg.stages:
            stage.train_text_encoder = stage_for(stage.kind).joint_text_encoder
    if args.gradient_checkpointing:
        cfg.gradient_checkpointing = True
    if args.mixed_precision:
        cfg.mixed_precision = args.mixed_precision
    try:
        log = run_training(
            cfg,
            out,
            args.work,
            args.device,
            args.max_minutes,
            args.stage,
            args.resume,
            progress=not args.no_progress,
            command=f"{PROG} " + " ".join(argv if argv is not None else sys.argv[1:]),
            run_eval=not args.no_eval,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_summary(out, log)
    return 0


def _parser() -> argparse.ArgumentParser:
    """The command line's subcommands and flags."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        choices=["demo", "train", "recipe"],
        help="demo: the embedded demo model; train: any config; recipe: runs in a row (model/training/recipe.py)",
    )
    parser.add_argument("--config", default=None, help="JSON config (demo: configs/train_demo.json)")
    parser.add_argument("--out", default=None, help="output pipeline folder (demo: resources/demo_model)")
    parser.add_argument("--work", default=None, help="cache/checkpoints/samples folder (default: build/train/OUTNAME)")
    parser.add_argument(
        "--stage", action="append", default=None, help="run only this stage (name or kind); repeatable"
    )
    parser.add_argument("--resume", action="store_true", help="continue from checkpoints, skip finished stages")
    parser.add_argument("--vae-stage", action="store_true", help="only the VAE stage (= --stage vae)")
    parser.add_argument("--train-text-encoder", action="store_true", help="train the T5 jointly in every DiT stage")
    parser.add_argument("--gradient-checkpointing", action="store_true", help="diffusers gradient checkpointing")
    parser.add_argument("--mixed-precision", choices=["auto", "bf16", "fp32"], default=None)
    parser.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (recipe: every run's)")
    parser.add_argument("--from-run", type=int, default=1, help="recipe: start at run K (earlier outputs kept)")
    parser.add_argument("--max-minutes", type=float, default=None, help="time box for all stages together")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (1 is best on a busy CPU)")
    parser.add_argument("--no-eval", action="store_true", help="skip the final held-out eval")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _print_summary(out, log: dict) -> None:
    """One JSON line: output folder, minutes, steps and seconds per stage, eval."""
    summary = {k: {"steps": v.get("steps"), "seconds": v.get("seconds")} for k, v in log["stages"].items()}
    print(
        json.dumps(
            {"out": str(out), "minutes": log.get("total_minutes"), "stages": summary, "eval": log.get("eval")}
        )
    )


def _main_recipe(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """`python -m model.training recipe --config RECIPE --out DIR [--from-run K] [--device D]`."""
    if not args.config or not args.out:
        parser.error("recipe needs --config RECIPE.json and --out DIR")
    try:
        logs = run_recipe(
            args.config, args.out, args.work, args.from_run, args.device, progress=not args.no_progress
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_summary(args.out, logs[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
