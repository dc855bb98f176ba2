"""The high-resolution path: compose at the model's trained resolution, then refine up to the target.

A model composes well only near the size it was trained at (256 px for the demo model, 512/1024/2048
for the released 512-MS/1024-MS/2K-MS). For a larger target the engine:

1. composes at the trained area with the target's aspect ratio (full denoise, stage 1);
2. upscales the latents to the next stage size (`latent`: bicubic on the latents; `pixel`: decode,
   Lanczos, encode; see `upscale`);
3. re-noises them to `strength` (the forward process at the timestep where the last
   `strength x steps` steps of the schedule start) and denoises those steps at that size with the
   same prompt, guidance and seed; stages grow geometrically (at most MAX_STAGE_SCALE linear per
   stage), e.g. 256 -> 620x349 -> 1920x1080.

This module plans stages and does the tensor work; model/inference/engine.py runs each stage with
KV compression, the memory plan and out-of-memory step-down, and decodes the last one.

May import: model.errors, model.resolution, model.loading.defaults,
model.inference.seamless (tileable resizes), torch, numpy, PIL. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..resolution import GRID, MIN_SIDE

DEFAULT_STRENGTH = 0.45
MAX_STAGE_SCALE = 3.2  # linear growth per refine stage when the stage count is automatic
AUTO_AREA_FACTOR = 2.0  # auto refines when the target has more than this many times the trained pixels
ANCHOR_EDGE_PX = 4  # the composition's outer pixels left out of anchor_colours (half a latent pixel)
# a tileable image's anchor is taken at a quarter of the composition's size: at full size it carried the
# composition's own latent-pixel steps into the final image, the one at the wrap too (benchmarks/seamless,
# 512^2 tileable: mean seam score x/y 0.83/0.92 with the full-size anchor, 0.74/0.74 with this)
TILEABLE_ANCHOR_SHRINK = 4
MIN_COMPOSE_SIDE = 128  # px: the composing stage's short side never goes below this


@dataclass(frozen=True)
class Stage:
    """One stage: the size it runs at and how much of the schedule it denoises (1.0 = all of it)."""

    width: int
    height: int
    strength: float
    label: str  # "composing 1/2", "refining 2/2"


def chooses_refine(mode: str, made: tuple[int, int], trained: int) -> bool:
    """Direct or refine for a made size: `auto` refines when the target has more than AUTO_AREA_FACTOR
    times the trained pixels and the model was trained at an app size (at least MIN_SIDE px)."""
    if mode == "direct":
        return False
    if mode == "refine":
        return True
    return trained >= MIN_SIDE and made[0] * made[1] > AUTO_AREA_FACTOR * trained * trained


def compose_size(made: tuple[int, int], trained: int) -> tuple[int, int]:
    """The target's aspect ratio at the trained area, on the 16 px grid, never larger than the target."""
    width, height = made
    scale = min(1.0, math.sqrt(trained * trained / (width * height)))
    short = MIN_COMPOSE_SIDE / min(width, height)
    scale = min(1.0, max(scale, short))

    def snap(side: float, limit: int) -> int:
        return min(limit, max(GRID, int(round(side / GRID)) * GRID))

    return snap(width * scale, width), snap(height * scale, height)


def plan_stages(
    made: tuple[int, int], trained: int, refine: bool, strength: float | None = None, stages: int | None = None
) -> list[Stage]:
    """The stages for one image: [direct] or [compose, refine..., refine at `made`]."""
    if not refine:
        return [Stage(made[0], made[1], 1.0, "")]
    first = compose_size(made, trained)
    scale = made[0] / first[0]
    count = int(stages) if stages else max(1, math.ceil(math.log(max(scale, 1.0001)) / math.log(MAX_STAGE_SCALE)))
    total = count + 1
    strength = DEFAULT_STRENGTH if strength is None else float(strength)
    plan = [Stage(first[0], first[1], 1.0, f"composing 1/{total}")]
    for k in range(1, count + 1):
        if k == count:
            size = made
        else:
            f = scale ** (k / count)
            size = (_grid(first[0] * f), _grid(first[1] * f))
        plan.append(Stage(size[0], size[1], strength, f"refining {k + 1}/{total}"))
    return plan


def _grid(side: float) -> int:
    return max(GRID, int(round(side / GRID)) * GRID)


def stage_timesteps(scheduler, steps: int, strength: float) -> list[int]:
    """The tail of the `steps`-step schedule a stage of `strength` denoises (at least one step)."""
    scheduler.set_timesteps(steps)
    all_steps = [int(t) for t in scheduler.timesteps]
    keep = max(1, min(steps, round(steps * strength)))
    return all_steps[-keep:]


def renoise(latents: torch.Tensor, scheduler, timestep: int, seed: int) -> torch.Tensor:
    """The forward process q(x_t | x_0) at `timestep`, noise from a CPU generator seeded with `seed`."""
    alpha_bar = scheduler.alphas_cumprod[int(timestep)].to(torch.float32)
    generator = torch.Generator("cpu").manual_seed(int(seed))
    noise = torch.randn(latents.shape, generator=generator, dtype=torch.float32)
    x0 = latents.detach().to("cpu", torch.float32)
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise


def upscale_latents(latents: torch.Tensor, size_hw: tuple[int, int], tileable: str = "off") -> torch.Tensor:
    """Clean latents resized to (h, w) latent pixels (bicubic; float32 on the way; across the wrap when tileable)."""
    if tileable != "off":
        from .seamless import wrapping_interpolate

        return wrapping_interpolate(latents.float(), size_hw, "bicubic", tileable).to(latents.dtype)
    out = F.interpolate(latents.float(), size=size_hw, mode="bicubic", align_corners=False)
    return out.to(latents.dtype)


def keep_composition(refined: torch.Tensor, start: torch.Tensor, previous_hw: tuple[int, int],
                     tileable: str = "off") -> torch.Tensor:
    """The refined latents' detail on the upscaled start's low frequencies: both are brought down to the
    previous stage's latent size and back, and the refined low band is swapped for the start's. The
    demo model drifts colours at large token counts (teal -> green at 1024^2 even from strength 0.3);
    a refine stage is there to add detail, so the composition's colours and layout are kept.
    Tileable images take the low band back up across the wrap (seamless.wrapping_interpolate)."""
    size = refined.shape[-2:]

    def low(x: torch.Tensor, edges: bool = True) -> torch.Tensor:
        small = F.interpolate(x.float(), size=previous_hw, mode="area")
        if not edges:
            small = inner_edges(small, 1)
        if tileable != "off":
            from .seamless import wrapping_interpolate

            return wrapping_interpolate(small, tuple(size), "bilinear", tileable)
        return F.interpolate(small, size=size, mode="bilinear", align_corners=False)

    out = refined.float() - low(refined) + low(start.to(refined.device), edges=tileable != "off")
    return out.to(refined.dtype)


def inner_edges(x: torch.Tensor, ring: int) -> torch.Tensor:
    """`x` (.., H, W) with its outer `ring` columns and rows replaced by the next ones in. A model's
    last latent column is the VAE encoder's edge (zero padding): at the composing size it decodes to a
    clean edge, but a low band carried up to a larger stage stretches it into a dark band several
    pixels wide along the right edge (the demo model's 256 px composition: -4 against 1 in the centre in
    one channel). The low bands are taken from the interior instead; the refined stage draws its own
    edges."""
    if ring <= 0 or min(x.shape[-2:]) <= 2 * ring + 1:
        return x
    x = x.clone()
    x[..., :, :ring] = x[..., :, ring:ring + 1]
    x[..., :, -ring:] = x[..., :, -ring - 1:-ring]
    x[..., :ring, :] = x[..., ring:ring + 1, :]
    x[..., -ring:, :] = x[..., -ring - 1:-ring, :]
    return x


def anchor_colours(image, anchor, tileable: str = "off"):
    """The final image's detail on the composition's colours, in pixel space: both images are brought
    down to the composition's size (area) and back up (bilinear, across the wrap on tileable axes), and
    the final's low band is swapped for the composition's. `keep_composition` does this on the latents
    at every stage, but the VAE turns the detail the refine stages add into a colour shift that the
    latent low band cannot see (the demo model's teal came out green at 1920x1080); the composition,
    made at the trained size, is where the colours are right. The same idea as the colour correction of
    img2img tools, done per region at the composition's resolution rather than as one histogram.
    Tileable images take the low band at a quarter of that size (TILEABLE_ANCHOR_SHRINK)."""
    import numpy as np
    from PIL import Image

    from .seamless import wrapping_interpolate

    def tensor(im) -> torch.Tensor:
        return torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32).copy()).permute(2, 0, 1)[None]

    x, a = tensor(image), tensor(anchor)
    if tileable == "off":
        a = inner_edges(a, ANCHOR_EDGE_PX)  # its decoded edge (see inner_edges) is not a colour to keep
        small = tuple(a.shape[-2:])
    else:
        small = tuple(max(1, side // TILEABLE_ANCHOR_SHRINK) for side in a.shape[-2:])

    def low(t: torch.Tensor) -> torch.Tensor:
        if tuple(t.shape[-2:]) != small:
            t = F.interpolate(t, size=small, mode="area")
        return wrapping_interpolate(t, tuple(x.shape[-2:]), "bilinear", tileable)

    out = (x - low(x) + low(a)).clamp(0, 255).round().to(torch.uint8)
    return Image.fromarray(out[0].permute(1, 2, 0).numpy())


def stage_cost(stage: Stage, steps: int) -> float:
    """A relative cost for the ETA over all stages: steps x tokens x (1 + tokens / 4096) (attention)."""
    tokens = (stage.width // GRID) * (stage.height // GRID)
    run = max(1, round(steps * stage.strength)) if stage.strength < 1.0 else steps
    return run * tokens * (1.0 + tokens / 4096)


def trained_resolution(pipe, resolved) -> int:
    """The side (px) of the square a model was trained at: `trained_resolution` in its
    sigma_studio.json, else the transformer's sample_size x the VAE factor (512/1024/2048 for the
    released 512-MS/1024-MS/2K-MS)."""
    from ..loading.defaults import MODEL_DEFAULTS_FILE, read_json

    path = Path(resolved.location) / MODEL_DEFAULTS_FILE if resolved.kind in ("pipeline_folder", "demo") else None
    if path is not None and path.is_file():
        value = read_json(path).get("trained_resolution")
        if isinstance(value, int) and not isinstance(value, bool) and 64 <= value <= 8192:
            return value
    return int(pipe.transformer.config.sample_size) * int(pipe.vae_scale_factor)


def hires_params(request, stages) -> dict:
    """What the high-resolution path did, for the metadata (Contract 2 `hires`): enough to make it again."""
    if len(stages) == 1:
        return {"mode": request.hires, "path": "direct"}
    return {
        "mode": request.hires,
        "path": "refine",
        "strength": stages[-1].strength,
        "stages": len(stages) - 1,
        "upscaler": request.upscaler,
        "keep_composition": bool(request.keep_composition),
        "sizes": [f"{st.width}x{st.height}" for st in stages],
    }
