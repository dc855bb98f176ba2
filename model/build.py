"""Build fresh PixArt-Sigma pipelines from a PipelineConfig (random weights) for tests, training and benchmarks,
and run a pipeline on fixed seeds at an exact size (`seeded_images`: training samples, demo scoring).

May import: model.configs, torch, diffusers, transformers. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import torch

from .configs import PipelineConfig


def seeded_images(pipe, prompts: list[str], width: int, height: int, steps: int, guidance: float,
                  seeds: list[int]) -> list:
    """The pipeline's PIL images of the prompts at exactly width×height (no resolution binning), one
    CPU generator per prompt seeded with its seed, so a run is repeatable on any device."""
    generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
    return pipe(list(prompts), width=width, height=height, num_inference_steps=steps, guidance_scale=guidance,
                generator=generators, use_resolution_binning=False, clean_caption=False).images


def sigma_scheduler():
    """DPM-Solver++ multistep, as the released PixArt-Sigma pipelines ship it."""
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler(
        beta_schedule="linear",
        beta_start=0.0001,
        beta_end=0.02,
        num_train_timesteps=1000,
        prediction_type="epsilon",
        algorithm_type="dpmsolver++",
        solver_order=2,
        lower_order_final=True,
        use_karras_sigmas=False,
    )


def byte_tokenizer():
    """A byte-level T5 tokenizer: needs no vocabulary file, so small models ship without one."""
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer()


def build_transformer(cfg: PipelineConfig, seed: int = 0):
    from diffusers import PixArtTransformer2DModel

    torch.manual_seed(seed)
    return PixArtTransformer2DModel(**cfg.transformer)


def build_vae(cfg: PipelineConfig, seed: int = 0):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed + 1)
    return AutoencoderKL(**cfg.vae)


def build_text_encoder(cfg: PipelineConfig, seed: int = 0):
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed + 2)
    return T5EncoderModel(T5Config(**cfg.text_encoder))


def build_pipeline(cfg: PipelineConfig, seed: int = 0):
    """A complete PixArtSigmaPipeline with random weights (deterministic in `seed`)."""
    from diffusers import PixArtSigmaPipeline

    pipe = PixArtSigmaPipeline(
        tokenizer=byte_tokenizer(),
        text_encoder=build_text_encoder(cfg, seed).eval(),
        vae=build_vae(cfg, seed).eval(),
        transformer=build_transformer(cfg, seed).eval(),
        scheduler=sigma_scheduler(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
