"""Cheap live previews: latents -> RGB with a linear map (no VAE call).

The map is fitted once per VAE by least squares: encode a few small colour images with the VAE's
encoder, and regress each pixel block's RGB on its latent vector. Works for any 4-channel VAE
(SDXL's or the demo's) without hand-made constants.

What is mapped is the scheduler's current estimate of the clean latents (x0) where it keeps one
(DPM-Solver++ keeps it in `model_outputs`), not the noisy x_t: x_t still holds the remaining noise,
so a preview of it looks like static until the last few steps. See `predicted_clean`.

May import: torch, Pillow. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import torch
from PIL import Image


def _calibration_images(size: int = 64) -> torch.Tensor:
    """Gradients and colour fields covering the RGB cube, in [-1, 1]."""
    ramp = torch.linspace(-1, 1, size)
    gy, gx = torch.meshgrid(ramp, ramp, indexing="ij")  # (S, S)
    images = [
        torch.stack([gx, gy, -gx]),
        torch.stack([gy, -gx, gx * gy]),
        torch.stack([-gy, gx * 0.5, gy]),
        torch.stack([gx * gy, -gy, -gx]),
    ]
    for r, g, b in [(1, -1, -1), (-1, 1, -1), (-1, -1, 1), (1, 1, 1), (-1, -1, -1), (1, 1, -1), (0, 0, 0)]:
        images.append(torch.stack([torch.full_like(gx, v) for v in (r, g, b)]))
    return torch.stack(images)  # (N, 3, S, S)


@torch.no_grad()
def fit_latent_to_rgb(vae) -> torch.Tensor:
    """A (5, 3) matrix M so that [latent * scaling, 1] @ M ~ RGB in [-1, 1] at latent resolution."""
    param = next(vae.parameters())
    images = _calibration_images().to(param.device, param.dtype)
    latents = vae.encode(images).latent_dist.mean * vae.config.scaling_factor  # (N, 4, s, s)
    factor = images.shape[-1] // latents.shape[-1]
    rgb = torch.nn.functional.avg_pool2d(images, factor)  # (N, 3, s, s)
    x = latents.float().permute(0, 2, 3, 1).reshape(-1, latents.shape[1])  # (P, 4)
    x = torch.cat([x, torch.ones(len(x), 1, device=x.device)], dim=1)  # (P, 5)
    y = rgb.float().permute(0, 2, 3, 1).reshape(-1, 3)  # (P, 3)
    return torch.linalg.lstsq(x.cpu(), y.cpu()).solution  # (5, 3)


# DPM-Solver(++) variants whose `model_outputs` hold data (x0) predictions; plain "dpmsolver" keeps noise.
_X0_ALGORITHMS = ("dpmsolver++", "sde-dpmsolver++")


def predicted_clean(scheduler, latents: torch.Tensor) -> torch.Tensor:
    """The scheduler's x0 estimate for the step just taken, else `latents` unchanged.

    Call right after `scheduler.step` (i.e. from a pipeline's per-step callback). In dpmsolver++ mode
    `DPMSolverMultistepScheduler.step` stores `convert_model_output(...)` -- the predicted clean
    latents, from the guided noise prediction the pipeline passed in -- as `model_outputs[-1]`.
    Other schedulers (or a missing / mismatched entry) fall back to the given latents. No copy, no VAE.
    """
    config = getattr(scheduler, "config", None)
    if getattr(config, "algorithm_type", None) not in _X0_ALGORITHMS:
        return latents
    outputs = getattr(scheduler, "model_outputs", None)
    x0 = outputs[-1] if outputs else None
    if not isinstance(x0, torch.Tensor) or x0.shape != latents.shape:
        return latents
    return x0


@torch.no_grad()
def latents_to_preview(latents: torch.Tensor, matrix: torch.Tensor, max_side: int = 512) -> Image.Image:
    """The first latent of a batch as an RGB preview image (latent resolution, upscaled to max_side)."""
    z = latents[0].float().cpu()  # (4, h, w)
    x = torch.cat([z, torch.ones(1, *z.shape[1:])]).permute(1, 2, 0)  # (h, w, 5)
    rgb = ((x @ matrix) / 2 + 0.5).clamp(0, 1)  # (h, w, 3)
    image = Image.fromarray((rgb * 255).round().to(torch.uint8).numpy())
    scale = max_side / max(image.size)
    if scale > 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    return image
