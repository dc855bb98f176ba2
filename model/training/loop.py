"""The step loop and what it runs in: RunContext (config, folders, device, precision, budget, log),
the time Budget, the learning-rate schedule, autocast, and `run_steps` (progress bar, time box,
periodic checkpoints and samples).

May import: model.training.config, torch, tqdm. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import StageConfig, TrainConfig


def autocast(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast when a dtype is set, else a no-op context."""
    if dtype is None:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=dtype)


def sync(device: torch.device) -> None:
    """Wait for the device (honest timings)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Budget:
    """Wall-clock time box of a run, split between stages by their share."""

    def __init__(self, minutes: float | None) -> None:
        """`minutes` None: no limit."""
        self.start = time.monotonic()
        self.deadline = None if minutes is None else self.start + 60.0 * minutes

    def left(self) -> float:
        """Seconds left (inf without a limit)."""
        return math.inf if self.deadline is None else self.deadline - time.monotonic()

    def stage_deadline(self, share: float, shares_left: float, reserve: float) -> float:
        """Deadline (monotonic seconds) of a stage taking `share` of what remains after `reserve`."""
        if self.deadline is None:
            return math.inf
        avail = max(0.0, self.left() - reserve)
        return time.monotonic() + avail * share / max(shares_left, 1e-9)


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, grad_clip: float,
                   lr: float, lr_scale: list[float] | None = None) -> None:
    """Set the learning rate (times each group's scale), back-propagate, clip and step: every stage's step."""
    scales = lr_scale or [1.0] * len(opt.param_groups)
    for group, k in zip(opt.param_groups, scales):
        group["lr"] = lr * k
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], grad_clip)
    opt.step()


def lr_at(stage: StageConfig, progress: float, step: int) -> float:
    """Learning rate at `step` with `progress` in 0..1 of the stage (warmup, then cosine or constant)."""
    warm = min(1.0, (step + 1) / max(1, stage.warmup_steps))
    if stage.lr_schedule == "constant":
        return stage.lr * warm
    p = min(max(progress, 0.0), 1.0)
    floor = stage.min_lr_ratio
    return stage.lr * warm * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


@dataclass
class RunContext:
    """What every stage needs: config, folders, device, precision, budget, log."""

    cfg: TrainConfig
    out: Path
    work: Path
    device: torch.device
    amp: torch.dtype | None
    budget: Budget
    workers: int = 1
    progress: bool = True
    log: dict = field(default_factory=dict)
    command: str = ""

    def stage_dir(self, name: str) -> Path:
        """Saved pipeline of a finished stage."""
        return self.work / "stages" / name

    def checkpoint(self, name: str) -> Path:
        """Resumable training state of a stage."""
        return self.work / "checkpoints" / f"{name}.pt"

    def write_log(self) -> None:
        """train_log.json in the work folder (and in out when published)."""
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "train_log.json").write_text(
            json.dumps(self.log, indent=2, default=str), encoding="utf-8"
        )


class _LossLog:
    """Losses of the step loop: kept on the device, read in groups, smoothed on the bar, averaged into the curve."""

    def __init__(self, name: str, bar, curve: list, t_start: float) -> None:
        """Append [step, mean loss, seconds] rows to `curve`; show the smoothed loss on `bar`."""
        self.name, self.bar, self.curve, self.t_start = name, bar, curve, t_start
        self.pending: list[torch.Tensor] = []
        self.acc: list[float] = []
        self.smooth: float | None = None

    def flush(self, step: int) -> None:
        """Read the pending losses (one device sync); a non-finite loss stops the run."""
        if not self.pending:
            return
        values = torch.stack(self.pending).float().cpu().tolist()
        self.pending.clear()
        for v in values:
            if not math.isfinite(v):
                raise FloatingPointError(f"{self.name}: loss became {v} near step {step}")
            self.smooth = v if self.smooth is None else 0.98 * self.smooth + 0.02 * v
        self.acc.extend(values)
        self.bar.set_postfix(loss=f"{self.smooth:.4f}")

    def point(self, step: int) -> None:
        """One curve row: the mean loss since the last row."""
        if self.acc:
            self.curve.append([step, round(sum(self.acc) / len(self.acc), 5), round(time.monotonic() - self.t_start, 1)])
            self.acc.clear()


def _progress_bar(ctx: RunContext, stage: StageConfig, start: int):
    """The stage's tqdm bar (quiet when ctx.progress is off; rare updates when not on a terminal)."""
    from tqdm import tqdm

    return tqdm(
        total=stage.steps,
        initial=start,
        desc=stage.name,
        disable=not ctx.progress,
        dynamic_ncols=True,
        mininterval=1.0 if sys.stderr.isatty() else 20.0,
    )


def run_steps(
    ctx: RunContext,
    stage: StageConfig,
    deadline: float,
    start: int,
    step_fn: Callable[[int, float], torch.Tensor],
    save_fn: Callable[[], None],
    curve: list,
    sample_fn: Callable[[int], None] | None = None,
) -> float:
    """The step loop: progress bar (loss, ETA), time box, periodic checkpoints/samples; returns s/step.

    Losses stay on the device and are read every 10 steps, so a GPU never waits for the host per step.
    """
    t_start = time.monotonic()
    budget = deadline - t_start
    bar = _progress_bar(ctx, stage, start)
    losses = _LossLog(stage.name, bar, curve, t_start)
    step = start
    try:
        while step < stage.steps:
            now = time.monotonic()
            if now >= deadline:
                break
            progress = step / stage.steps
            if math.isfinite(budget) and budget > 0:
                progress = max(progress, (now - t_start) / budget)
            losses.pending.append(step_fn(step, progress))
            step += 1
            bar.update(1)
            if step % 10 == 0:
                losses.flush(step)
            if math.isfinite(deadline) and (step == start + 20 or (step - start) % 200 == 0):
                sync(ctx.device)  # the bar's total (and ETA): the steps the time box allows
                per_step = (time.monotonic() - t_start) / (step - start)
                bar.total = min(stage.steps, step + int((deadline - time.monotonic()) / max(per_step, 1e-6)))
                bar.refresh()
            if step % stage.log_every == 0:
                losses.flush(step)
                losses.point(step)
            if stage.checkpoint_every and step % stage.checkpoint_every == 0:
                save_fn()
            if sample_fn is not None and stage.sample_every and step % stage.sample_every == 0:
                sample_fn(step)
    except KeyboardInterrupt:
        save_fn()
        bar.close()
        raise
    losses.flush(step)
    losses.point(step)
    sync(ctx.device)
    bar.close()
    save_fn()
    done = step - start
    return round((time.monotonic() - t_start) / done, 4) if done else 0.0
