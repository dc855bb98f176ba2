"""Running a training config: stages in order (each restartable), time-boxed by their share, then the
held-out eval and the published output folder. See docs/TRAINING.md; the command line is
model/training/__main__.py.

May import: model.demo.scoring, model.training.* (never .recipe or .__main__), torch, diffusers,
transformers, huggingface_hub. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..demo.scoring import evaluate_pipeline
from .config import ROOT, TrainConfig, autocast_dtype, pick_device
from .data import resolve_workers
from .loop import Budget, RunContext
from .pipelines import initial_pipeline, load_pipeline, prepare_for_inference, save_pipeline, stage_samples
from .report import describe_hardware, parent_log, publish
from .stages import STAGES, stage_for


def _stage_input(ctx: RunContext, index: int):
    """The pipeline a stage starts from: the previous stage's output, else the initial model."""
    for prev in reversed(ctx.cfg.stages[:index]):
        folder = ctx.stage_dir(prev.name)
        if (folder / "model_index.json").exists():
            return load_pipeline(folder), prev.name
        raise FileNotFoundError(
            f"stage {ctx.cfg.stages[index].name!r} needs the output of stage {prev.name!r} "
            f"({folder}); run that stage first"
        )
    return initial_pipeline(ctx.cfg, ctx.cfg.seed), "initial"


def _quiet_libraries() -> None:
    """No per-save progress bars or dtype notices from diffusers/transformers during a run."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()


def run_training(
    cfg: TrainConfig,
    out: str | os.PathLike,
    work: str | os.PathLike | None = None,
    device: str = "auto",
    max_minutes: float | None = None,
    only: list[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    command: str = "",
    run_eval: bool = True,
) -> dict:
    """Run the config's stages (or `only` those) into `out`; returns the log (also train_log.json)."""
    _quiet_libraries()
    ctx = _context(cfg, out, work, device, max_minutes, progress, command)
    ctx.log = _starting_log(ctx, resume or bool(only), max_minutes)
    todo = _stages_to_run(ctx, only, resume)
    reserve = ctx.budget.left() * cfg.final_share if ctx.budget.deadline else 0.0
    pipe = _run_stages(ctx, todo, resume, reserve)
    if pipe is not None:
        eval_result = _final_eval(ctx, pipe, run_eval, reserve)
        ctx.log["total_minutes"] = round((time.monotonic() - ctx.budget.start) / 60, 2)
        ctx.write_log()
        publish(ctx, pipe, eval_result)
    return ctx.log


def _context(cfg: TrainConfig, out, work, device: str, max_minutes, progress: bool, command: str) -> RunContext:
    """The run's context: device (TF32 on CUDA), folders, precision, time budget, workers, command."""
    dev = pick_device(device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(out)
    work = Path(work) if work else ROOT / "build" / "train" / out.name
    torch.manual_seed(cfg.seed)
    ctx = RunContext(
        cfg, out, work, dev, autocast_dtype(cfg, dev), Budget(max_minutes), resolve_workers(cfg.workers), progress
    )
    ctx.command = command or "python -m model.training " + " ".join(sys.argv[1:])
    return ctx


def _starting_log(ctx: RunContext, continuing: bool, max_minutes: float | None) -> dict:
    """The run log: the work folder's earlier log when continuing, updated with this run's facts."""
    old_log = ctx.work / "train_log.json"
    log = json.loads(old_log.read_text()) if continuing and old_log.exists() else {}
    log.update(
        command=ctx.command,
        hardware=describe_hardware(ctx.device),
        device=str(ctx.device),
        autocast=str(ctx.amp),
        max_minutes=max_minutes,
        config=asdict(ctx.cfg),
    )
    log.setdefault("stages", {})
    parent = parent_log(ctx.cfg.model)
    if parent:
        log["parent"] = parent  # the model card shows every run back to the first
    return log


def _stages_to_run(ctx: RunContext, only: list[str] | None, resume: bool) -> list[int]:
    """Indices of the stages to run: `only` those (names or kinds), finished ones skipped on resume."""
    cfg = ctx.cfg
    names = [s.name for s in cfg.stages]
    for name in only or []:
        if name not in names and name not in STAGES:
            raise ValueError(f"no stage {name!r} in the config (stages: {names})")
    todo = [i for i, s in enumerate(cfg.stages) if not only or s.name in only or s.kind in only]
    if resume and not only:
        todo = [i for i in todo if not ctx.log["stages"].get(cfg.stages[i].name, {}).get("done")]
    return todo


def _run_stages(ctx: RunContext, todo: list[int], resume: bool, reserve: float):
    """Run the stages in `todo`, saving and publishing after each; returns the last pipeline (or None)."""
    cfg = ctx.cfg
    pipe = None
    prev_name = None
    for pos, i in enumerate(todo):
        stage = cfg.stages[i]
        if pipe is None or prev_name != (cfg.stages[i - 1].name if i else "initial"):
            pipe, prev_name = _stage_input(ctx, i)
        shares_left = sum(cfg.stages[j].share for j in todo[pos:])
        deadline = ctx.budget.stage_deadline(stage.share, shares_left, reserve)
        t0 = time.monotonic()
        kind = stage_for(stage.kind)
        stage_resume = resume and ctx.checkpoint(stage.name).exists()
        info = kind.run(ctx, stage, pipe, deadline, stage_resume)
        prepare_for_inference(pipe, ctx.device)
        if kind.makes_images(stage) and ctx.budget.left() > 0.5 * reserve:  # grids never overrun the time box
            stage_samples(ctx, stage, pipe, f"{stage.name}_final")
        info.update(
            seconds=round(time.monotonic() - t0, 1),
            done=True,
            resumed=stage_resume,
            command=ctx.command,
            hardware=ctx.log["hardware"],
        )
        ctx.log["stages"][stage.name] = info
        save_pipeline(pipe, ctx.stage_dir(stage.name))
        ctx.log["total_minutes"] = round((time.monotonic() - ctx.budget.start) / 60, 2)
        ctx.write_log()
        publish(ctx, pipe)
        prev_name = stage.name
    return pipe


def _final_eval(ctx: RunContext, pipe, run_eval: bool, reserve: float) -> dict | None:
    """The held-out eval of demo-data runs (config `eval`), skipped when out of time; also in the log."""
    cfg = ctx.cfg
    if not (run_eval and cfg.eval and cfg.data.get("kind", "demo") == "demo"):
        return None
    if ctx.budget.left() < 0.25 * reserve:
        ctx.log["eval"] = {"skipped": "out of time: run benchmarks/demo_eval.py"}
        return None
    t0 = time.monotonic()
    prepare_for_inference(pipe, ctx.device)
    deadline = ctx.budget.deadline or math.inf
    eval_result = evaluate_pipeline(pipe, device=ctx.device, deadline=deadline - 2.0, **cfg.eval)
    eval_result["seconds"] = round(time.monotonic() - t0, 1)
    eval_result.pop("items", None)
    ctx.log["eval"] = eval_result
    return eval_result
