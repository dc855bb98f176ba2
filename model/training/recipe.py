"""Recipes: several training runs in a row, each continuing the model the one before made.

A weak-to-strong model is often made in runs on different machines (a long CPU run, a short GPU run,
a CPU run again). A recipe file names them, so one command reproduces the whole model:

    python -m model.training recipe --config configs/demo_recipe.json --out resources/demo_model

    {"format": "sigma-studio-recipe", "version": 1,
     "runs": [{"config": "configs/train_demo_cpu.json", "device": "cpu", "threads": 2, "max_minutes": 100},
              {"config": "configs/train_demo_finetune.json", "device": "cuda", "max_minutes": 5.3},
              ...]}

Run k (k >= 2) starts from run k-1's output: its config's `model` becomes {"pretrained": that folder}.
Intermediate outputs go to WORK/run<k>-<config name>; the last run writes `--out`. `--from-run K`
starts at run K, reusing the earlier runs' outputs (say, after a GPU run was done elsewhere).
`"defaults": {"guidance": 1.5}` is written to each output as its sigma_studio.json (the generation
defaults the app and CLI use for the model).

May import: model.errors, model.loading.defaults, model.training.config / .run (recipe imports run,
never the reverse), torch. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import SourceError
from ..loading.defaults import check_model_defaults, write_model_defaults
from .config import ROOT, load_config, pick_device
from .run import run_training

RECIPE_FORMAT = "sigma-studio-recipe"
_RUN_KEYS = {"config", "device", "threads", "max_minutes", "eval", "_comment"}
_RECIPE_KEYS = {"format", "version", "runs", "defaults", "_comment"}


@dataclass
class Run:
    """One run of a recipe."""

    config: Path
    device: str = "auto"
    threads: int | None = None
    max_minutes: float | None = None
    eval: bool = True


def load_recipe(path: str | os.PathLike) -> tuple[list[Run], dict]:
    """The runs and the model defaults to write; ValueError saying what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read recipe {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != RECIPE_FORMAT:
        raise ValueError(f"{path} is not a recipe (format {RECIPE_FORMAT!r} expected)")
    unknown = set(data) - _RECIPE_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)} (known: {sorted(_RECIPE_KEYS)})")
    raw = data.get("runs")
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path}: 'runs' must be a non-empty list")

    def resolve(name: str) -> Path:
        p = Path(name)
        return p if p.is_absolute() else (ROOT / p if (ROOT / p).exists() else path.parent / p)

    runs = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict) or "config" not in item:
            raise ValueError(f"{path}: run {i} must be an object with a 'config'")
        unknown = set(item) - _RUN_KEYS
        if unknown:
            raise ValueError(f"{path}: run {i} has unknown keys {sorted(unknown)} (known: {sorted(_RUN_KEYS)})")
        config = resolve(item["config"])
        if not config.is_file():
            raise ValueError(f"{path}: run {i}: config {item['config']} not found")
        runs.append(
            Run(
                config,
                str(item.get("device", "auto")),
                item.get("threads"),
                item.get("max_minutes"),
                bool(item.get("eval", True)),
            )
        )
    try:
        defaults = check_model_defaults(data.get("defaults", {}), f"{path}: defaults")
    except SourceError as exc:
        raise ValueError(str(exc)) from exc
    return runs, defaults


def run_recipe(
    recipe: str | os.PathLike,
    out: str | os.PathLike,
    work: str | os.PathLike | None = None,
    from_run: int = 1,
    device: str | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run the recipe's runs from `from_run` on; returns their logs. `device` overrides every run's."""
    runs, defaults = load_recipe(recipe)
    if not 1 <= from_run <= len(runs):
        raise ValueError(f"--from-run must be 1..{len(runs)}, got {from_run}")
    out = Path(out)
    work = Path(work) if work else ROOT / "build" / "train" / f"recipe-{out.name}"
    outputs = [out if k == len(runs) else work / f"run{k}-{r.config.stem}" for k, r in enumerate(runs, 1)]
    if from_run > 1 and not (outputs[from_run - 2] / "model_index.json").is_file():
        raise ValueError(f"run {from_run} starts from {outputs[from_run - 2]}, which holds no model yet")
    for k in range(from_run, len(runs) + 1):
        dev = device or runs[k - 1].device
        pick_device(dev)  # a missing GPU is an error now, not after the runs before it
    logs = []
    for k in range(from_run, len(runs) + 1):
        run = runs[k - 1]
        cfg = load_config(run.config)
        if k > 1:
            cfg.model = {"pretrained": str(outputs[k - 2])}
        if run.threads:
            torch.set_num_threads(run.threads)
        dev = device or run.device
        command = (
            f"python -m model.training recipe --config {recipe} --out {out} (run {k}/{len(runs)}: "
            f"{run.config.name}, --device {dev}, --max-minutes {run.max_minutes})"
        )
        log = run_training(
            cfg,
            outputs[k - 1],
            work / f"run{k}-work",
            dev,
            run.max_minutes,
            progress=progress,
            command=command,
            run_eval=run.eval,
        )
        if defaults:
            write_model_defaults(outputs[k - 1], defaults)
        logs.append(log)
    return logs
