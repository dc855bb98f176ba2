"""The ``vae`` stage: a fresh AutoencoderKL (L1 + L2 + small KL), or a fine-tune of the pipeline VAE's
decoder (``vae_train: decoder``, latent space kept); scaling factor = 1 / std of the latents.

May import: model.demo, model.training.*, numpy, torch, diffusers, Pillow. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..cache import BucketSampler
from ..checkpoint import resume_stage, rng_state, save_checkpoint
from ..config import StageConfig
from ..data import FolderSource, iter_items, make_source
from ..loop import RunContext, autocast, lr_at, optimizer_step, run_steps
from .base import Stage


class VAETrainer:
    """Trains a fresh AutoencoderKL: L1 + L2 reconstruction of sampled latents + kl_weight * KL."""

    def __init__(self, vae, stage: StageConfig, device: torch.device, amp, seed: int) -> None:
        """Optimizer and generator for `vae` on `device`."""
        self.vae = vae.to(device).train().requires_grad_(True)
        self.stage = stage
        self.device = device
        self.amp = amp
        self.decoder_only = stage.vae_train == "decoder"
        if self.decoder_only:  # the encoder (hence the latent space the DiT learned) stays as it is
            for part in (vae.encoder, vae.quant_conv):
                if part is not None:
                    part.requires_grad_(False).eval()
        self.params = [p for p in vae.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=stage.lr, weight_decay=stage.weight_decay)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.step = 0

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """x (B, 3, H, W) in -1..1 -> total loss and its parts."""
        with autocast(self.device, self.amp):
            with torch.set_grad_enabled(not self.decoder_only and torch.is_grad_enabled()):
                post = self.vae.encode(x).latent_dist
            z = post.sample(generator=self.generator)  # (B, 4, H/8, W/8)
            rec = self.vae.decode(z).sample  # (B, 3, H, W)
        rec = rec.float()
        l1 = (rec - x).abs().mean()
        l2 = F.mse_loss(rec, x)
        kl = post.kl().mean() / x[0].numel()
        total = l1 + l2 + self.stage.kl_weight * x[0].numel() * kl
        return total, {"l1": l1.item(), "l2": l2.item(), "kl": kl.item()}

    def train_step(self, x: torch.Tensor, lr: float) -> torch.Tensor:
        """One optimizer step on a batch; returns the (detached, on-device) loss."""
        loss, _ = self.loss(x)
        optimizer_step(self.opt, loss, self.stage.grad_clip, lr)
        self.step += 1
        return loss.detach()

    def state_dict(self) -> dict:
        """Everything a resume needs."""
        return {
            "step": self.step,
            "vae": self.vae.state_dict(),
            "opt": self.opt.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict()."""
        self.step = state["step"]
        self.vae.load_state_dict(state["vae"])
        self.opt.load_state_dict(state["opt"])
        self.generator.set_state(state["generator"].cpu())


def _uint8_batch(images: torch.Tensor, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, 3, H, W) rows -> float (B, 3, H, W) in -1..1 on device."""
    return images[idx.to(images.device)].to(device).float() / 127.5 - 1.0


@torch.no_grad()
def set_latent_scale(vae, images: torch.Tensor, device: torch.device) -> float:
    """scaling_factor = 1 / std of the latent means (so the DiT sees unit-variance latents)."""
    vae.eval()
    x = _uint8_batch(images, torch.arange(min(len(images), 64)), device)
    z = torch.cat([vae.encode(x[i : i + 32]).latent_dist.mean for i in range(0, len(x), 32)])
    scale = float(1.0 / z.float().std().clamp_min(1e-4))
    vae.register_to_config(scaling_factor=scale)
    return scale


class VAEStage(Stage):
    """``vae``: a fresh VAE trained on the source images, or the pipeline VAE's decoder fine-tuned."""

    kind = "vae"
    joint_text_encoder = False

    def makes_images(self, stage: StageConfig) -> bool:
        """A fresh VAE has no DiT trained for its latents yet; a decoder fine-tune keeps them."""
        return stage.vae_train == "decoder"

    def run(self, ctx: RunContext, stage: StageConfig, pipe, deadline: float, resume: bool) -> dict:
        """Train the VAE and put it into `pipe`; returns the stage log."""
        t0 = time.monotonic()
        images = _load_images(ctx, stage, t0 + (deadline - t0) * stage.data_share)
        data_s = time.monotonic() - t0
        demo = ctx.cfg.data.get("kind", "demo") == "demo"
        vae, psnr_before, colour_before = _starting_vae(ctx, stage, pipe, images, demo)
        trainer = VAETrainer(vae, stage, ctx.device, ctx.amp, ctx.cfg.seed + 11)
        sampler = BucketSampler([len(images)], stage.batch_size, ctx.cfg.seed + 12)
        ckpt = ctx.checkpoint(stage.name)
        curve = resume_stage(ctx, ckpt, trainer, sampler) if resume else []

        def step_fn(step: int, progress: float) -> torch.Tensor:
            x = _uint8_batch(images, sampler.next()[1], ctx.device)
            return trainer.train_step(x, lr_at(stage, progress, step))

        def save_fn() -> None:
            state = {"trainer": trainer.state_dict(), "sampler": sampler.state_dict(), "curve": curve}
            save_checkpoint(ckpt, {**state, "rng": rng_state(ctx.device)})

        step_time = run_steps(ctx, stage, deadline, trainer.step, step_fn, save_fn, curve)
        vae.eval().requires_grad_(False)
        psnr = _psnr(vae, images, ctx.device)
        x = _uint8_batch(images, torch.arange(min(len(images), 8)), ctx.device)
        rec = _round_trip(vae, x)
        # a decoder fine-tune keeps the latent space, so the scaling factor the DiT learned with stays
        decoder = stage.vae_train == "decoder"
        scale = vae.config.scaling_factor if decoder else set_latent_scale(vae, images, ctx.device)
        pipe.vae = vae.to(ctx.device)
        pipe.register_modules(vae=pipe.vae)
        _save_recon(ctx, stage, x[:8], rec[:8])
        return {
            "images": len(images),
            "size": [int(v) for v in stage.sizes[0]],
            "data_seconds": round(data_s, 1),
            "steps": trainer.step,
            "step_seconds": step_time,
            "psnr_db": round(psnr, 2),
            "psnr_db_before": None if psnr_before is None else round(psnr_before, 2),
            # the eval's colour score on held-out 256 px renders through the VAE: a ceiling for the DiT
            "recon_colour_acc": _recon_colour(vae, ctx.device) if demo else None,
            "recon_colour_acc_before": colour_before,
            "scaling_factor": scale,
            "loss_curve": curve,
        }


def _load_images(ctx: RunContext, stage: StageConfig, data_deadline: float) -> torch.Tensor:
    """Rendered/loaded images at the stage's first size, uint8 (N, 3, H, W) (on the GPU when there is one)."""
    source = make_source(ctx.cfg.data, stage)
    n = stage.samples if not isinstance(source, FolderSource) else min(stage.samples, len(source))
    size = tuple(int(v) for v in stage.sizes[0])
    plan = [(i, size) for i in range(n)]
    arrays = []
    items = iter_items(ctx.cfg.data, stage, plan, ctx.workers)
    for chunk in items:
        arrays.extend(im for _, im, _ in chunk)
        if time.monotonic() > data_deadline and len(arrays) >= stage.batch_size:
            break
    items.close()
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W) uint8
    return images.to(ctx.device) if ctx.device.type == "cuda" else images


def _starting_vae(ctx: RunContext, stage: StageConfig, pipe, images: torch.Tensor, demo: bool):
    """(vae to train, PSNR before or None, colour accuracy before or None)."""
    from diffusers import AutoencoderKL

    if stage.vae_train == "decoder":
        vae = copy.deepcopy(pipe.vae).float().to(ctx.device)
        return vae, _psnr(vae, images, ctx.device), _recon_colour(vae, ctx.device) if demo else None
    vae = AutoencoderKL(**{k: v for k, v in pipe.vae.config.items() if not k.startswith("_")})
    return vae, None, None


@torch.no_grad()
def _round_trip(vae, x: torch.Tensor) -> torch.Tensor:
    """x (B, 3, H, W) in -1..1 through the VAE's latent means, in eval mode (its mode is restored)."""
    was_training = vae.training
    vae.eval()
    rec = vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
    vae.train(was_training)
    return rec


def _psnr(vae, images: torch.Tensor, device: torch.device, n: int = 64) -> float:
    """Reconstruction PSNR (dB) of the first n images through the latent means."""
    x = _uint8_batch(images, torch.arange(min(len(images), n)), device)
    rec = torch.cat([_round_trip(vae, x[i : i + 16]) for i in range(0, len(x), 16)])
    return float(10 * torch.log10(4.0 / F.mse_loss(rec.float(), x)))


@torch.no_grad()
def _recon_colour(vae, device: torch.device, size: int = 256, n: int = 32) -> float:
    """Share of held-out demo renders whose VAE reconstruction keeps its main colour (demo_eval's score)."""
    from ...demo.data import render_sample
    from ...demo.scoring import score_image, summarize

    scores = []
    for i in range(n):
        sample = render_sample(7, i, size, size, "heldout")
        x = torch.from_numpy(np.array(sample.image)).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1
        rec = _round_trip(vae, x)[0]  # (3, H, W)
        arr = ((rec.float().permute(1, 2, 0) + 1) * 127.5).round().byte().cpu().numpy()
        scores.append(score_image(Image.fromarray(arr), sample.labels))
    return round(summarize(scores)["colour_acc"], 4)


def _save_recon(ctx: RunContext, stage: StageConfig, x: torch.Tensor, rec: torch.Tensor) -> None:
    """Originals (top) and reconstructions (bottom) as a PNG in work/samples."""
    row = torch.cat([torch.cat(list(x), 2), torch.cat(list(rec), 2)], 1)  # (3, 2H, B*W)
    arr = ((row.float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    (ctx.work / "samples").mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(ctx.work / "samples" / f"{stage.name}_recon.png")
