"""The DiT stages ``base`` and ``resolution``: epsilon-prediction MSE on the first 4 output channels, noise
from a DDPMScheduler with the pipeline's training betas, classifier-free caption dropout, EMA. A
``resolution`` stage first sets ``sample_size`` / ``interpolation_scale`` in the transformer config.

May import: model.inference.kv_compress, model.training.*, torch, diffusers. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ...inference.kv_compress import attach
from ..cache import BucketSampler, build_cache, make_batch
from ..checkpoint import resume_stage, rng_state, save_checkpoint
from ..config import StageConfig
from ..data import encode_text
from ..loop import RunContext, autocast, lr_at, optimizer_step, run_steps
from ..pipelines import set_transformer_resolution, stage_samples
from .base import Stage


class DiTTrainer:
    """Epsilon-prediction training of a PixArtTransformer2DModel (+ optionally its T5) with EMA."""

    def __init__(
        self,
        pipe,
        stage: StageConfig,
        device: torch.device,
        amp,
        seed: int,
        gradient_checkpointing: bool = False,
        kv: dict | None = None,
    ) -> None:
        """Optimizer, EMA, noise schedule and generator for the pipeline's transformer (and T5)."""
        from diffusers import DDPMScheduler
        from diffusers.training_utils import EMAModel

        self.pipe = pipe
        self.stage = stage
        self.device = device
        self.amp = amp
        self.kv = kv
        self.transformer = pipe.transformer.to(device).train()
        self.train_te = stage.train_text_encoder
        self.text_encoder = pipe.text_encoder.to(device) if self.train_te else pipe.text_encoder
        self.text_encoder.train(self.train_te)
        self.text_encoder.requires_grad_(self.train_te)
        if gradient_checkpointing:
            self.transformer.enable_gradient_checkpointing()
            if self.train_te:
                self.text_encoder.gradient_checkpointing_enable()
        # DDPM noise with the betas of the pipeline's DPM-Solver (linear 1e-4..0.02, 1000 steps)
        self.noise = DDPMScheduler.from_config(pipe.scheduler.config)
        self.noise.alphas_cumprod = self.noise.alphas_cumprod.to(device)
        self.num_timesteps = self.noise.config.num_train_timesteps

        if kv is not None and stage.kv_train == "kv":  # only the compressors learn
            self.transformer.requires_grad_(False)
            for block in self.transformer.transformer_blocks:
                if hasattr(block.attn1, "kv_compress"):
                    block.attn1.kv_compress.requires_grad_(True)
        else:
            self.transformer.requires_grad_(True)
        groups = [{"params": [p for p in self.transformer.parameters() if p.requires_grad], "lr": stage.lr}]
        if self.train_te:
            groups.append(
                {"params": list(self.text_encoder.parameters()), "lr": stage.text_encoder_lr or stage.lr}
            )
        self.lr_scale = [g["lr"] / stage.lr for g in groups]
        fused = device.type == "cuda"
        self.opt = torch.optim.AdamW(groups, lr=stage.lr, weight_decay=stage.weight_decay, fused=fused)
        self.ema = EMAModel(
            self.ema_parameters(), decay=stage.ema_decay, use_ema_warmup=True, power=2 / 3, foreach=True
        )
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.coin = torch.Generator().manual_seed(seed + 1)  # kv stage: compressed or not (host side)
        self.step = 0

    def ema_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters the EMA tracks: transformer (+ compressors) and, when trained, the T5."""
        params = list(self.transformer.parameters())
        if self.train_te:
            params += list(self.text_encoder.parameters())
        return params

    def set_compression(self, on: bool) -> None:
        """KV stage: switch compression on (conv compressors) or off for the next forward."""
        if self.kv is None:
            return
        if on:
            attach(self.transformer, self.kv["factor"], self.kv["blocks"], mode="conv")
        else:
            attach(self.transformer, 1)

    def embeddings(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, C) caption embeddings and (B, L) mask: cached, or from the T5 being trained."""
        if "emb" in batch:
            return batch["emb"], batch["mask"]
        with autocast(self.device, self.amp):
            emb = encode_text(self.text_encoder, batch["ids"], batch["mask"])
        return emb, batch["mask"]

    def loss(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """MSE between the predicted (first 4 channels) and the true noise on a batch."""
        g = generator or self.generator
        x0 = batch["latents"].float()  # (B, 4, h, w)
        b = x0.shape[0]
        noise = torch.randn(x0.shape, generator=g, device=g.device).to(x0.device)  # (B, 4, h, w)
        if self.stage.offset_noise:
            # offset noise: a per-image, per-channel constant, so the model learns to move global colour
            offset = torch.randn((b, x0.shape[1], 1, 1), generator=g, device=g.device).to(x0.device)
            noise = noise + self.stage.offset_noise * offset
        t = torch.randint(0, self.num_timesteps, (b,), generator=g, device=g.device)  # (B,)
        if self.stage.high_t_fraction:
            # part of the batch from the noisier half, where the caption alone decides colour and layout
            high = torch.randint(
                self.num_timesteps // 2, self.num_timesteps, (b,), generator=g, device=g.device
            )
            pick = torch.rand(b, generator=g, device=g.device) < self.stage.high_t_fraction
            t = torch.where(pick, high, t)
        t = t.to(x0.device)
        xt = self.noise.add_noise(x0, noise, t)  # (B, 4, h, w)
        emb, mask = self.embeddings(batch)
        with autocast(self.device, self.amp):
            out = self.transformer(
                xt,
                encoder_hidden_states=emb,
                encoder_attention_mask=mask,
                timestep=t,
                added_cond_kwargs={"resolution": None, "aspect_ratio": None},
            ).sample  # (B, 8, h, w): epsilon + (unused) variance
        eps = out[:, : x0.shape[1]].float()
        return F.mse_loss(eps, noise)

    def train_step(self, batch: dict, lr: float) -> torch.Tensor:
        """One optimizer + EMA step on a batch; returns the (detached, on-device) loss."""
        if self.kv is not None:
            self.set_compression(float(torch.rand((), generator=self.coin)) >= self.kv["off"])
        loss = self.loss(batch)
        optimizer_step(self.opt, loss, self.stage.grad_clip, lr, self.lr_scale)
        self.ema.step(self.ema_parameters())
        self.step += 1
        return loss.detach()

    def use_ema(self) -> None:
        """Swap the EMA weights in (restore() swaps the training weights back)."""
        self.ema.store(self.ema_parameters())
        self.ema.copy_to(self.ema_parameters())

    def restore(self) -> None:
        """Undo use_ema()."""
        self.ema.restore(self.ema_parameters())

    def state_dict(self) -> dict:
        """Model, EMA, optimizer, step and generator: everything an exact resume needs."""
        state = {
            "step": self.step,
            "transformer": self.transformer.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "generator": self.generator.get_state(),
            "coin": self.coin.get_state(),
        }
        if self.train_te:
            state["text_encoder"] = self.text_encoder.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict()."""
        self.step = state["step"]
        self.transformer.load_state_dict(state["transformer"])
        if self.train_te:
            self.text_encoder.load_state_dict(state["text_encoder"])
        self.ema.load_state_dict(state["ema"])
        self.ema.shadow_params = [p.to(self.device) for p in self.ema.shadow_params]
        self.opt.load_state_dict(state["opt"])
        self.generator.set_state(state["generator"].cpu())
        self.coin.set_state(state["coin"].cpu())


class DiTStage(Stage):
    """``base`` / ``resolution``: train the DiT; leaves the EMA weights in the pipeline."""

    def __init__(self, kind: str) -> None:
        """A DiT stage registered under `kind`."""
        self.kind = kind

    def compression(self, pipe, stage: StageConfig) -> dict | None:
        """KV compression trained in this stage ({"factor", "blocks", "off"}), None: none."""
        return None

    def run(self, ctx: RunContext, stage: StageConfig, pipe, deadline: float, resume: bool) -> dict:
        """Train the DiT; leaves the EMA weights in `pipe`; returns the stage log."""
        t0 = time.monotonic()
        changed = set_transformer_resolution(pipe, stage.sample_size, stage.interpolation_scale)
        kv = self.compression(pipe, stage)
        pipe.to(ctx.device)
        cache, cache_info = self._cache(ctx, stage, pipe, t0 + (deadline - t0) * stage.data_share)
        data_s = time.monotonic() - t0
        trainer = DiTTrainer(
            pipe, stage, ctx.device, ctx.amp, ctx.cfg.seed + 21, ctx.cfg.gradient_checkpointing, kv
        )
        step_time, curve = self._train(ctx, stage, pipe, deadline, resume, trainer, cache)
        trainer.use_ema()  # the saved model is the EMA
        trainer.ema = None
        pipe.transformer.requires_grad_(False).eval()
        pipe.text_encoder.requires_grad_(False).eval()
        if ctx.cfg.gradient_checkpointing:
            pipe.transformer.disable_gradient_checkpointing()
        if kv is not None:
            trainer.set_compression(False)  # weights stay; processors back to default
        return {
            "resolution_changed": changed,
            "sample_size": pipe.transformer.config.sample_size,
            "interpolation_scale": pipe.transformer.config.interpolation_scale,
            "cache": cache_info,
            "data_seconds": round(data_s, 1),
            "steps": trainer.step,
            "step_seconds": step_time,
            "kv": kv,
            "loss_curve": curve,
        }

    @staticmethod
    def _cache(ctx: RunContext, stage: StageConfig, pipe, data_deadline: float):
        """The stage's latent cache on the training device (T5 moved off the GPU when frozen)."""
        cache, cache_info = build_cache(ctx, stage, pipe, data_deadline, with_emb=not stage.train_text_encoder)
        cache = cache.to(ctx.device) if ctx.device.type == "cuda" else cache
        if not stage.train_text_encoder and ctx.device.type == "cuda":
            pipe.text_encoder.to("cpu")  # embeddings are cached: free the GPU (T5-XXL is 9.5 GB in bf16)
            torch.cuda.empty_cache()
        return cache, cache_info

    @staticmethod
    def _train(
        ctx: RunContext, stage: StageConfig, pipe, deadline: float, resume: bool, trainer, cache
    ) -> tuple[float, list]:
        """The step loop with checkpoints and EMA sample grids; returns (seconds per step, loss curve)."""
        sampler = BucketSampler([len(b.latents) for b in cache.buckets], stage.batch_size, ctx.cfg.seed + 22)
        ckpt = ctx.checkpoint(stage.name)
        curve = resume_stage(ctx, ckpt, trainer, sampler) if resume else []

        def step_fn(step: int, progress: float) -> torch.Tensor:
            bucket, idx = sampler.next()
            batch = make_batch(cache, bucket, idx, trainer.generator, stage.caption_dropout, ctx.device)
            return trainer.train_step(batch, lr_at(stage, progress, step))

        def save_fn() -> None:
            state = {"trainer": trainer.state_dict(), "sampler": sampler.state_dict(), "curve": curve}
            save_checkpoint(ckpt, {**state, "rng": rng_state(ctx.device)})

        def sample_fn(step: int) -> None:
            trainer.use_ema()
            try:
                stage_samples(ctx, stage, pipe, f"{stage.name}_{step:06d}")
            finally:
                trainer.restore()
                trainer.transformer.train()
                trainer.text_encoder.train(trainer.train_te)
                if not trainer.train_te and ctx.device.type == "cuda":
                    pipe.text_encoder.to("cpu")  # back off the GPU while the DiT trains

        return run_steps(ctx, stage, deadline, trainer.step, step_fn, save_fn, curve, sample_fn), curve

