"""Checkpoints: resumable stage state written atomically, and the global RNG states it carries.

May import: model.training.loop (RunContext), numpy, torch. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch


def rng_state(device: torch.device) -> dict:
    """Global RNG states (python, numpy, torch, cuda)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Restore rng_state()."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())  # a checkpoint loaded with map_location=cuda moved it
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save atomically (a crash never leaves a half-written checkpoint)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def resume_stage(ctx, ckpt, trainer, sampler) -> list:
    """Restore a stage's trainer, sampler and RNG from its checkpoint; returns the loss curve so far."""
    if not ckpt.exists():
        return []
    state = torch.load(ckpt, map_location=ctx.device, weights_only=False)
    trainer.load_state_dict(state["trainer"])
    sampler.load_state_dict(state["sampler"])
    set_rng_state(state["rng"], ctx.device)
    return state["curve"]
