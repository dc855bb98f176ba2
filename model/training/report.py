"""Publishing a run: the output folder (pipeline, train_log.json, samples, model defaults) and its
model card (README.md) with every run of the model's lineage.

May import: model.loading.defaults, model.training.config / .loop / .pipelines, torch. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path

import torch

from ..loading.defaults import MODEL_DEFAULTS_FILE
from .loop import RunContext
from .pipelines import local_pretrained, save_pipeline


def describe_hardware(device: torch.device) -> str:
    """One line naming the machine."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA), {os.cpu_count()} CPU cores"
    return (
        f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"({torch.get_num_threads()} torch threads), torch {torch.__version__}"
    )


def publish(ctx: RunContext, pipe, eval_result: dict | None = None) -> None:
    """Write the output folder: the pipeline (EMA weights), train_log.json, samples, README.md, and the
    starting model's generation defaults (sigma_studio.json) when the output has none of its own."""
    save_pipeline(pipe, ctx.out, ctx.cfg.save_half)
    parent = local_pretrained(ctx.cfg.model)
    if parent and (parent / MODEL_DEFAULTS_FILE).is_file() and not (ctx.out / MODEL_DEFAULTS_FILE).exists():
        shutil.copy2(parent / MODEL_DEFAULTS_FILE, ctx.out / MODEL_DEFAULTS_FILE)
    samples = ctx.work / "samples"
    if samples.exists():
        dest = ctx.out / "samples"
        dest.mkdir(exist_ok=True)
        latest: dict[str, Path] = {}
        for png in sorted(samples.glob("*.png")):
            stage = png.stem.rsplit("_", 1)[0]
            latest[stage] = png  # the last grid of each stage (names sort by step)
        for stage, png in latest.items():
            shutil.copy2(png, dest / f"{stage}.png")
    (ctx.out / "train_log.json").write_text(json.dumps(ctx.log, indent=2, default=str), encoding="utf-8")
    (ctx.out / "README.md").write_text(readme_text(ctx.log, eval_result), encoding="utf-8")


def readme_text(log: dict, eval_result: dict | None) -> str:
    """The model card: how it was trained (every run back to the first: command, hardware, minutes)
    and its eval scores. `log` is a run's train_log.json; a continued model's log holds its starting
    model's log under "parent"."""
    runs = []
    while log:
        runs.append(log)
        log = (log.get("parent") or {}).get("log")
    runs.reverse()  # oldest first
    first = runs[0]
    origin = "trained from scratch" if "parent" not in first else "fine-tuned"
    lines = [
        "# Sigma Studio demo model",
        "",
        "A small PixArt-Sigma pipeline (PixArtTransformer2DModel + T5EncoderModel + AutoencoderKL, diffusers",
        f"layout) {origin} on the procedural wallpapers of `model/demo/data.py` by `model/training/`.",
        "It is trained on simple prompts (colours, stripes, bands, circles, dots, waves, mountains, grids,",
        "checkerboards, gradients, sunsets, placement) and knows nothing else; how well it follows them is",
        "measured below.",
        "",
        "## How it was trained",
        "",
    ]
    if len(runs) > 1:
        lines += [
            f"In {len(runs)} runs, each starting from the model the one before made "
            "(config `\"model\": {\"pretrained\": FOLDER}`):",
            "",
        ]
    for number, run in enumerate(runs, 1):
        if len(runs) > 1:
            lines += [f"### Run {number}", ""]
        lines += _run_lines(run)
        lines.append("")
    if len(runs) > 1:
        total = sum(s.get("seconds", 0) for run in runs for s in run.get("stages", {}).values()) / 60
        lines += [f"Training time over all runs: {total:.1f} minutes.", ""]
    lines += ["## Evaluation (held-out colour x pattern x layout prompts, benchmarks/demo_eval.py)", ""]
    if eval_result:
        lines.append(
            "- by the trainer on the training machine, at the end of the last run: colour of the main area: "
            f"{eval_result['colour_acc']:.1%} "
            f"(exact shade {eval_result['shade_acc']:.1%}), pattern: {eval_result['pattern_acc']:.1%}, "
            f"n={eval_result['n']} at {eval_result.get('size')}x{eval_result.get('size')}, "
            f"{eval_result.get('steps')} steps, guidance {eval_result.get('guidance')}"
        )
    else:
        lines.append("- not run by the trainer: see `benchmarks/demo_eval.py` and its Measured section below, if present")
    lines += ["", "Training log: `train_log.json`; sample grids: `samples/`.", ""]
    return "\n".join(lines)


def _run_lines(log: dict) -> list[str]:
    """One run of a model card: its command(s), hardware, minutes and per-stage table."""
    lines = []
    stages = log.get("stages", {})
    by_command: dict[str, list[str]] = {}
    for name, s in stages.items():
        by_command.setdefault(s.get("command", log.get("command", "?")), []).append(name)
    for command, names in by_command.items():
        what = "" if len(by_command) == 1 else f" (stages {', '.join(names)})"
        lines.append(f"- command{what}: `{command}`")
    hardware = {s.get("hardware", log.get("hardware")) for s in stages.values()} or {log.get("hardware")}
    minutes = sum(s.get("seconds", 0) for s in stages.values()) / 60
    lines += [
        f"- hardware: {'; '.join(sorted(str(h) for h in hardware))}",
        f"- training time: {minutes:.1f} minutes over all stages (time box of the last command: "
        f"{log.get('max_minutes')} min)",
        "",
        "| stage | steps | s/step | data s | minutes | last loss |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in stages.items():
        last = s.get("loss_curve", [[0, None]])[-1][1] if s.get("loss_curve") else None
        lines.append(
            f"| {name} | {s.get('steps')} | {s.get('step_seconds')} | {s.get('data_seconds')} | "
            f"{s.get('seconds', 0) / 60:.1f} | {last} |"
        )
    for name, s in stages.items():
        if s.get("heldout_caption_accuracy"):
            acc = ", ".join(f"{k.replace('_', ' ')} {v:.1%}" for k, v in s["heldout_caption_accuracy"].items())
            lines += ["", f"Text stage `{name}`: the T5's read-outs on held-out captions: {acc}."]
    return lines


def parent_log(model: dict) -> dict | None:
    """The training log of a local pretrained starting model (its train_log.json), for the lineage."""
    folder = local_pretrained(model)
    file = folder / "train_log.json" if folder else None
    if file is None or not file.is_file():
        return None
    source = model["pretrained"]
    try:
        log = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for stage in log.get("stages", {}).values():
        if stage.get("loss_curve"):
            stage["loss_curve"] = stage["loss_curve"][-1:]  # kept short: the card shows the last loss
    log.pop("config", None)
    return {"model": str(source), "log": log}
