"""Live previews show the scheduler's predicted clean latents (x0), not the noisy x_t.

Real run of the shipped demo model (resources/demo_model, DPM-Solver++) on the CPU: the engine's
per-step previews are compared with the final decoded image, against previews of the raw latents.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from model.inference.engine import Engine, GenerationRequest
from model.inference.preview import latents_to_preview, predicted_clean
from model.loading.catalog import DEMO_DIR

STEPS = 10


def small(image) -> np.ndarray:
    return np.asarray(image.convert("RGB").resize((32, 32), 2), dtype=np.float32)  # 2 = BILINEAR


def distance(a, b) -> float:
    """Mean absolute pixel difference (0-255) at 32x32."""
    return float(np.abs(small(a) - small(b)).mean())


@pytest.mark.parametrize("prompt", ["a red sunset over blue mountains", "green circles on a white background"])
def test_middle_step_preview_is_much_closer_to_the_final_image(tmp_path, monkeypatch, prompt):
    engine = Engine(device="cpu", cache_dir=tmp_path / "cache")
    engine.load(str(DEMO_DIR))
    engine.words = None  # the prompts as typed (the figures below were measured before the demo's word tables)
    scheduler = engine.pipe.scheduler
    assert isinstance(scheduler, DPMSolverMultistepScheduler) and scheduler.config.algorithm_type == "dpmsolver++"

    # Record the real x_t after every step (the scheduler still does the work).
    raw: list[torch.Tensor] = []
    step = scheduler.step

    def recording_step(*args, **kwargs):
        out = step(*args, **kwargs)
        raw.append((out[0] if isinstance(out, tuple) else out.prev_sample).clone())
        return out

    monkeypatch.setattr(scheduler, "step", recording_step)
    infos = []
    request = GenerationRequest(prompt=prompt, width=256, height=256, steps=STEPS, seed=7, guidance=1.5)
    final = engine.generate(request, on_step=infos.append).images[0].image

    denoise = [i for i in infos if i.phase == "denoise"]
    assert [i.step for i in denoise] == list(range(1, STEPS + 1)) and len(raw) == STEPS
    middle = STEPS // 2 - 1  # step 5 of 10
    x0_preview = denoise[middle].preview
    xt_preview = latents_to_preview(raw[middle], engine._preview_matrix)
    d_x0, d_xt = distance(x0_preview, final), distance(xt_preview, final)
    # measured (demo model, seed 7, step 5/10): sunset x0 29.8 vs x_t 50.8; circles x0 21.0 vs x_t 97.1
    assert d_x0 < 0.7 * d_xt, (d_x0, d_xt)
    # the x0 estimate sharpens as denoising goes on: the middle preview beats the first one
    assert d_x0 < distance(denoise[0].preview, final)


def test_predicted_clean_is_the_dpmsolver_pp_data_prediction():
    scheduler = DPMSolverMultistepScheduler(algorithm_type="dpmsolver++")
    scheduler.set_timesteps(10)
    torch.manual_seed(0)
    sample, eps = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    # fresh scheduler: nothing predicted yet -> the latents themselves
    assert predicted_clean(scheduler, sample) is sample
    alpha, sigma = scheduler._sigma_to_alpha_sigma_t(scheduler.sigmas[0])
    latents = scheduler.step(eps, scheduler.timesteps[0], sample).prev_sample
    x0 = predicted_clean(scheduler, latents)
    torch.testing.assert_close(x0, (sample - sigma * eps) / alpha)
    # a mismatched shape (e.g. a stale batch) is not used
    other = torch.randn(2, 4, 8, 8)
    assert predicted_clean(scheduler, other) is other


@pytest.mark.filterwarnings("ignore::FutureWarning")  # diffusers deprecates plain "dpmsolver"
@pytest.mark.parametrize(
    "make",
    [
        DDIMScheduler,
        # model_outputs hold noise predictions here, not x0
        lambda: DPMSolverMultistepScheduler(algorithm_type="dpmsolver", final_sigmas_type="sigma_min"),
        object,
    ],
    ids=["ddim", "dpmsolver-noise", "plain-object"],
)
def test_other_schedulers_fall_back_to_the_latents(make):
    scheduler = make()
    latents = torch.randn(1, 4, 8, 8)
    if hasattr(scheduler, "set_timesteps"):
        scheduler.set_timesteps(10)
        scheduler.step(torch.randn_like(latents), scheduler.timesteps[0], latents)
    assert predicted_clean(scheduler, latents) is latents
