"""What to generate, as plain values (no torch): shared by the engine and the app's job queue.

May import: nothing (the standard library). Never torch, Qt, app/ or ui/.
"""

from __future__ import annotations

from dataclasses import dataclass

# What the engine accepts (validate_request); model files asking for defaults are held to the same.
STEPS_LIMITS = (1, 200)
GUIDANCE_LIMITS = (0.0, 30.0)


@dataclass
class GenerationRequest:
    """What to make: prompt and settings (sizes are the exact output size, 256..4096 px)."""

    prompt: str
    negative: str = ""
    width: int = 1024
    height: int = 1024
    steps: int = 20
    guidance: float = 4.5
    seed: int | None = None  # None: a random seed, reported in the result
    count: int = 1
    kv_compress: str = "auto"  # "auto" | "off" | "2" | "4"
    memory: str | None = None  # None: the engine's mode
    # high-resolution path (model/inference/refine.py): compose at the trained size, refine at the target
    hires: str = "auto"  # "auto" | "direct" | "refine"
    refine_strength: float | None = None  # None: refine.DEFAULT_STRENGTH
    refine_stages: int | None = None  # refine stages after composing; None: from the size jump
    upscaler: str = "latent"  # "latent" | "pixel"
    keep_composition: bool = True  # refine stages keep the composition's low frequencies (refine.py)
