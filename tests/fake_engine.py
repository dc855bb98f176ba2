"""A fake engine for unit tests: the interface of model.inference.engine.Engine, with its own result types (model/request.py) (load, count_tokens, generate
with on_step and should_cancel), making images with Pillow and numpy instead of a diffusion model.

It is the seam the worker offers (`engine_factory`), so app/ and ui/ run without torch. What it
does mirrors what the app relies on: a step callback per denoising step with a preview, one decode
step, cancellation between steps, a seed per image, Contract-2 parameters, SourceError for a model
that does not exist and BadRequest for a prompt the real engine refuses.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.model_service import (
    BadRequest,
    Cancelled,
    EngineError,
    GeneratedImage,
    GenerationResult,
    ModelInfo,
    SourceError,
    StepInfo,
    snap_to_grid,
)

FAKE_MODEL = "fake:tiny"  # a source the fake loads without a folder
PREVIEW_SIDE = 32


DEMO_UNDERSTANDS = {"colours": ["orange", "teal"], "shades": ["light", "dark"], "patterns": ["dots", "grid"],
                    "placements": ["center", "left"], "examples": ["teal poster with orange dots", "a grey grid"],
                    "drawn_as": {"light brown": "brown"}, "two_tone": False}


class FakeEngine:
    """Engine-shaped: `step_s` seconds per step, so tests can cancel or close mid-generation."""

    instances: list[FakeEngine] = []  # every engine made, so a test can reach the one a window uses

    def __init__(self, device: str = "auto", memory_mode: str = "auto", cache_dir: Path | None = None,
                 step_s: float = 0.004) -> None:
        self.device = "cpu" if device == "auto" else device
        self.memory_mode = memory_mode
        self.step_s = step_s
        self.info: ModelInfo | None = None
        self.requests: list[Any] = []
        FakeEngine.instances.append(self)

    def load(self, source: str | None = None, base: str | None = None, on_progress: Any = None) -> ModelInfo:
        """The demo (None), FAKE_MODEL or any existing path; SourceError otherwise, as the real engine."""
        if source not in (None, FAKE_MODEL) and not Path(str(source)).exists():
            raise SourceError(f"{source} is not a hub id, a model folder or a checkpoint file that exists")
        if on_progress is not None:
            on_progress("Loading the fake model", 1, 1)
        name = "demo" if source is None else Path(str(source)).name
        self.info = ModelInfo(name=name, source=str(source or "demo"), is_demo=source is None, device="cpu",
                              dtype="float32", memory_mode="cpu", plan="fake engine on the CPU", defaults={},
                              trained_resolution=256,
                                  understands=DEMO_UNDERSTANDS if source is None else None)
        return self.info

    def count_tokens(self, text: str) -> int:
        """Words plus the end token (the real one counts T5 tokens)."""
        return len(text.split()) + 1

    def generate(self, request: Any, on_step: Any = None, should_cancel: Any = None) -> GenerationResult:
        """request.count images of the made size, with a preview per step and one decode step."""
        if self.info is None:
            raise EngineError("no model is loaded: load one first (the demo model needs no download)")
        if "\x00" in request.prompt:
            raise BadRequest("the prompt contains a NUL character; remove it")
        self.requests.append(request)
        made = snap_to_grid(int(request.width), int(request.height))
        seed = int(request.seed) if request.seed is not None else random.randint(0, 2**31)
        started = time.perf_counter()
        images = []
        for index in range(int(request.count)):
            image_seed = seed + index
            stages = _stages(request)
            total = sum(run for _, run in stages)
            done = 0
            for label, run in stages:
                for _ in range(run):
                    if should_cancel is not None and should_cancel():
                        raise Cancelled("cancelled")
                    time.sleep(self.step_s)
                    done += 1
                    if on_step is not None:
                        preview = _picture((PREVIEW_SIDE,) * 2, image_seed)
                        eta = (total - done) * self.step_s
                        on_step(StepInfo(index, request.count, done, total, preview, time.perf_counter() - started,
                                         eta, "denoise", label))
            if on_step is not None:
                on_step(StepInfo(index, request.count, 1, 1, None, time.perf_counter() - started, 0.0, "decode"))
            params = dict(prompt=request.prompt, negative=request.negative or "", width=int(request.width),
                          height=int(request.height), steps=int(request.steps), guidance=float(request.guidance),
                          seed=image_seed, model=self.info.name, kv_compress="off", made_width=made[0],
                          made_height=made[1], device=self.device, hires=_hires(request, stages))
            images.append(GeneratedImage(_picture(made, image_seed), image_seed, params))
        return GenerationResult(images, made, kv_factor=1, seconds=time.perf_counter() - started)


def _stages(request: Any) -> list[tuple[str, int]]:
    """As the engine's refine plan, simplified: `refine` composes then refines (1 + refine_stages stages,
    0.45 of the steps each unless refine_strength says otherwise); anything else is one direct pass."""
    steps = int(request.steps)
    if getattr(request, "hires", "auto") != "refine":
        return [("", steps)]
    count = int(getattr(request, "refine_stages", None) or 1)
    strength = getattr(request, "refine_strength", None) or 0.45
    run = max(1, round(steps * strength))
    return [(f"composing 1/{count + 1}", steps)] + [(f"refining {k + 1}/{count + 1}", run) for k in range(1, count + 1)]


def _hires(request: Any, stages: list[tuple[str, int]]) -> dict:
    if len(stages) == 1:
        return {"mode": getattr(request, "hires", "auto"), "path": "direct"}
    return {"mode": "refine", "path": "refine", "strength": getattr(request, "refine_strength", None) or 0.45,
            "stages": len(stages) - 1, "upscaler": getattr(request, "upscaler", "latent")}


def _picture(size: tuple[int, int], seed: int) -> Image.Image:
    """A colour gradient that depends on the seed."""
    width, height = size
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, 3)
    xs = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    pixels = (base * (0.5 + 0.5 * xs) * (0.5 + 0.5 * ys)).astype(np.uint8)
    return Image.fromarray(np.broadcast_to(pixels, (height, width, 3)).copy(), "RGB")
