"""What to generate and what the engine reports back, as plain values (no torch): shared by the engine,
the app's job queue and the tests' fake engine, and every limit on those values in one place (app/ and
ui/ reach them through app.model_service).

May import: model.errors, model.resolution (both torch-free). Never torch, Qt, app/ or ui/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import BadRequest
from .resolution import check_size
from .tiling_axes import check_tileable  # seamless wallpapers (issue 14)

if TYPE_CHECKING:  # hints only: the results carry PIL images, made by the engine
    from PIL import Image

# What the engine accepts (validate_request); model files asking for defaults are held to the same,
# and so are the settings, presets and the generation widgets.
STEPS_LIMITS = (1, 200)
GUIDANCE_LIMITS = (0.0, 30.0)
SEED_LIMITS = (0, 2**32 - 1)  # the seeds the engine makes and reports; a preset or the UI may not go beyond
COUNT_LIMITS = (1, 64)
# The high-resolution path (model/inference/refine.py): compose at the trained size, refine at the target.
HIRES_MODES = ("auto", "direct", "refine")
UPSCALERS = ("latent", "pixel")
REFINE_STRENGTH_LIMITS = (0.05, 1.0)
REFINE_STAGE_LIMITS = (1, 4)  # refine stages after the composing one


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
    tileable: str = "off"  # "off" | "x" | "y" | "both": wraps around those axes (model/inference/seamless.py)


def _within(name: str, value: object, limits: tuple, convert: type) -> None:
    low, high = limits
    if not low <= convert(value) <= high:
        raise BadRequest(f"{name} {value} is outside {low:g}-{high:g}" if convert is float
                         else f"{name} {value} is outside {low}-{high}")


def validate_request(request: GenerationRequest) -> None:
    """Raise BadRequest for any value the engine cannot honour."""
    if not isinstance(request.prompt, str) or not request.prompt.strip():
        raise BadRequest("the prompt is empty: describe the image you want")
    if "\x00" in request.prompt or "\x00" in (request.negative or ""):
        raise BadRequest("the prompt contains a NUL character")
    check_size(int(request.width), int(request.height))
    _within("steps", request.steps, STEPS_LIMITS, int)
    _within("guidance", request.guidance, GUIDANCE_LIMITS, float)
    _within("count", request.count, COUNT_LIMITS, int)
    if request.seed is not None:
        _within("seed", request.seed, SEED_LIMITS, int)
    check_hires(request.hires, request.refine_strength, request.refine_stages, request.upscaler)
    check_tileable(request.tileable)  # seamless (model/inference/seamless.py)


def check_hires(mode: str, strength: float | None, stages: int | None, upscaler: str) -> None:
    """BadRequest for a high-resolution path setting out of range, naming it and what it accepts."""
    if mode not in HIRES_MODES:
        raise BadRequest(f"high-resolution path {mode!r} is not one of {', '.join(HIRES_MODES)}")
    if upscaler not in UPSCALERS:
        raise BadRequest(f"upscaler {upscaler!r} is not one of {', '.join(UPSCALERS)}")
    if strength is not None:
        _within("refine strength", strength, REFINE_STRENGTH_LIMITS, float)
    if stages is not None:
        _within("refine stages", stages, REFINE_STAGE_LIMITS, int)


# What the engine reports (model/inference/engine.py): plain values, so the app, the CLI and the tests'
# fake engine share one definition.


@dataclass
class StepInfo:
    """Progress of one generation, sent after every denoising step and decode tile."""

    image_index: int
    count: int
    step: int
    total: int
    preview: Image.Image | None
    elapsed_s: float
    eta_s: float
    phase: str = "denoise"  # "denoise" | "decode"
    stage: str = ""  # "" (direct) | "composing 1/2" | "refining 2/2" (model/inference/refine.py)


@dataclass
class GeneratedImage:
    """One finished image with the parameters that made it (Contract 2 keys)."""

    image: Image.Image
    seed: int
    params: dict


@dataclass
class GenerationResult:
    """All images of one request plus what the engine did to make them."""

    images: list[GeneratedImage]
    made_size: tuple[int, int]
    kv_factor: int
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ModelInfo:
    """What is loaded and how it runs."""

    name: str
    source: str
    is_demo: bool
    device: str
    dtype: str
    memory_mode: str
    plan: str
    learned_kv: dict | None = None
    defaults: dict | None = None  # the model's own generation defaults, e.g. {"guidance": 1.5}
    trained_resolution: int = 0  # px: the side of the square it was trained at (refine.py composes there)
    understands: dict | None = None  # the model's word tables in brief (prompt_words.py), for the studio
