"""What to generate, as plain values (no torch): shared by the engine and the app's job queue, and
every limit on those values in one place (app/ and ui/ reach them through app.model_service).

May import: model.errors, model.resolution (both torch-free). Never torch, Qt, app/ or ui/.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BadRequest
from .resolution import check_size
from .tiling_axes import check_tileable  # seamless wallpapers (issue 14)

# What the engine accepts (validate_request); model files asking for defaults are held to the same,
# and so are the settings, presets and the generation widgets.
STEPS_LIMITS = (1, 200)
GUIDANCE_LIMITS = (0.0, 30.0)
SEED_LIMITS = (0, 2**32 - 1)  # the seeds the engine makes and reports; a preset or the UI may not go beyond
COUNT_LIMITS = (1, 64)


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
    check_tileable(request.tileable)  # seamless (issue 14)
