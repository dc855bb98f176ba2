"""The ``text`` stage (demo data only): the pipeline's T5 learns the caption grammar by predicting each
caption's labels (main colour, accent colour, pattern, layout) through attention-pooling probes and a
per-token colour tagger; the probes are dropped afterwards.

May import: model.demo.data, model.training.*, torch. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ...demo.data import COLOURS, LAYOUTS, PATTERNS, captions_for, colour_word_tags, sample_labels
from ..checkpoint import save_checkpoint
from ..config import StageConfig
from ..data import encode_text, tokenize, trim_tokens
from ..loop import RunContext, autocast, lr_at, optimizer_step, run_steps
from .base import Stage


class CaptionProbe(torch.nn.Module):
    """Read-outs of T5 token states used only to train the encoder (text stage), then dropped.

    One attention-pooling probe per caption label (a learned query over the tokens, then a
    classifier), and a per-token tagger (role: other/main/accent colour; colour family), so the
    token states the DiT cross-attends to say which colour word is the main one.
    """

    TAGS = (3, 13)  # roles, families (+ none)

    def __init__(self, d_model: int, classes: dict[str, int]) -> None:
        super().__init__()
        self.names = list(classes)
        self.queries = torch.nn.Parameter(torch.randn(len(classes), d_model) * d_model**-0.5)
        self.heads = torch.nn.ModuleList(torch.nn.Linear(d_model, n) for n in classes.values())
        self.tagger = torch.nn.Linear(d_model, sum(self.TAGS))

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """(B, L, C) states, (B, L) mask -> logits per label [(B, n_k)]."""
        scores = torch.einsum("qc,blc->bql", self.queries, states) * states.shape[-1] ** -0.5  # (B, Q, L)
        scores = scores.masked_fill(mask[:, None, :] == 0, float("-inf"))
        pooled = torch.einsum("bql,blc->bqc", scores.softmax(-1), states)  # (B, Q, C)
        return [head(pooled[:, k]) for k, head in enumerate(self.heads)]

    def tag_loss(self, states: torch.Tensor, mask: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the per-token tags (B, L, 2) on the unmasked tokens."""
        logits = self.tagger(states)[mask.bool()]  # (T, 3 + 13)
        tags = tags[mask.bool()]  # (T, 2)
        roles, fams = logits.split(self.TAGS, dim=-1)
        return F.cross_entropy(roles, tags[:, 0]) + F.cross_entropy(fams, tags[:, 1])


def caption_label_table(
    seed: int, samples: int, per_image: int, split: str, max_tokens: int = 300
) -> tuple[list[str], torch.Tensor, dict, torch.Tensor]:
    """Demo captions with labels as class indices (N, 4) and per-character tags (N, max_tokens, 2)."""
    values = {
        "main_colour": list(COLOURS),
        "accent_colour": ["none", *COLOURS],
        "pattern": list(PATTERNS),
        "layout": list(LAYOUTS),
    }
    captions, rows, tags = [], [], []
    for i in range(samples):
        labels, _ = sample_labels(seed, i, split)
        row = [values[k].index(labels.get(k) or "none") for k in values]
        for caption in captions_for(seed, i, per_image, split):
            captions.append(caption)
            rows.append(row)
            tag = torch.zeros(max_tokens, 2, dtype=torch.long)
            role, fam = colour_word_tags(caption, labels)  # byte-level tokens: one per ASCII character
            n = min(len(role), max_tokens)
            tag[:n, 0], tag[:n, 1] = torch.tensor(role[:n]), torch.tensor(fam[:n])
            tags.append(tag)
    return captions, torch.tensor(rows), {k: len(v) for k, v in values.items()}, torch.stack(tags)


class TextTrainer:
    """The T5 encoder and its caption probe, with optimizer and batch generator (text stage)."""

    def __init__(self, ctx: RunContext, stage: StageConfig, pipe, classes: dict[str, int]) -> None:
        """Train `pipe.text_encoder` in fp32 on the run's device."""
        self.ctx, self.stage = ctx, stage
        self.encoder = pipe.text_encoder.to(ctx.device).float().train().requires_grad_(True)
        self.probe = CaptionProbe(self.encoder.config.d_model, classes).to(ctx.device)
        self.params = [*self.encoder.parameters(), *self.probe.parameters()]
        self.opt = torch.optim.AdamW(self.params, lr=stage.lr, weight_decay=stage.weight_decay)
        self.generator = torch.Generator().manual_seed(ctx.cfg.seed + 31)
        self.step = 0

    def loss_of(
        self, i: torch.Tensor, m: torch.Tensor, y: torch.Tensor, tag: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Probe (and tagger) cross-entropy of captions `i`/`m` with labels `y`; also the logits."""
        device = self.ctx.device
        i, m = trim_tokens(i, m)
        m = m.to(device)
        with autocast(device, self.ctx.amp):
            states = encode_text(self.encoder, i.to(device), m).float()  # (B, L, C)
        logits = self.probe(states, m)
        y = y.to(device)
        loss = sum(F.cross_entropy(z, y[:, k]) for k, z in enumerate(logits))
        if tag is not None:
            loss = loss + self.probe.tag_loss(states, m, tag[:, : i.shape[1]].to(device))
        return loss, logits

    def train_step(self, batch: tuple, lr: float) -> torch.Tensor:
        """One optimizer step on (ids, mask, labels, tags) rows; returns the detached loss."""
        loss, _ = self.loss_of(*batch)
        optimizer_step(self.opt, loss, self.stage.grad_clip, lr)
        self.step += 1
        return loss.detach()

    def state_dict(self, curve: list) -> dict:
        """Everything a resume needs (the checkpoint's format)."""
        return {
            "encoder": self.encoder.state_dict(),
            "probe": self.probe.state_dict(),
            "opt": self.opt.state_dict(),
            "generator": self.generator.get_state(),
            "step": self.step,
            "curve": curve,
        }

    def load_state_dict(self, saved: dict) -> list:
        """Restore state_dict(); returns the loss curve so far."""
        self.encoder.load_state_dict(saved["encoder"])
        self.probe.load_state_dict(saved["probe"])
        self.opt.load_state_dict(saved["opt"])
        self.generator.set_state(saved["generator"])
        self.step = saved["step"]
        return saved["curve"]


class TextStage(Stage):
    """``text``: train the pipeline's T5 encoder to expose the caption's labels (demo data only)."""

    kind = "text"

    def makes_images(self, stage: StageConfig) -> bool:
        """The DiT has not learned the new encoder's states yet: no sample grid."""
        return False

    def run(self, ctx: RunContext, stage: StageConfig, pipe, deadline: float, resume: bool) -> dict:
        """Train the T5 with the probes; returns the stage log (held-out probe accuracy included)."""
        if ctx.cfg.data.get("kind", "demo") != "demo":
            raise ValueError(
                f"stage {stage.name!r}: a text stage needs labelled demo data; "
                "with your own images start from a pretrained T5 instead"
            )
        t0 = time.monotonic()
        seed, tokens = int(ctx.cfg.data.get("seed", 0)), ctx.cfg.max_tokens
        captions, labels, classes, tags = caption_label_table(
            seed, stage.samples, stage.captions_per_image, "train", tokens
        )
        held_caps, held_labels, _, _ = caption_label_table(seed + 1, 256, 1, "heldout", tokens)
        ids, mask = trim_tokens(*tokenize(pipe.tokenizer, captions, tokens))
        tags = tags[:, : ids.shape[1]]
        held_ids, held_mask = trim_tokens(*tokenize(pipe.tokenizer, held_caps, tokens))
        data_s = time.monotonic() - t0

        trainer = TextTrainer(ctx, stage, pipe, classes)
        ckpt = ctx.checkpoint(stage.name)
        curve: list = []
        if resume and ckpt.exists():
            curve = trainer.load_state_dict(torch.load(ckpt, map_location=ctx.device, weights_only=False))

        def step_fn(step: int, progress: float) -> torch.Tensor:
            pick = torch.randint(len(ids), (stage.batch_size,), generator=trainer.generator)
            batch = (ids[pick], mask[pick], labels[pick], tags[pick])
            return trainer.train_step(batch, lr_at(stage, progress, step))

        step_time = run_steps(
            ctx, stage, deadline, trainer.step, step_fn, lambda: save_checkpoint(ckpt, trainer.state_dict(curve)), curve
        )
        trainer.encoder.eval().requires_grad_(False)
        with torch.no_grad():
            _, logits = trainer.loss_of(held_ids, held_mask, held_labels)
        accuracy = {
            name: round(float((z.argmax(-1).cpu() == held_labels[:, k]).float().mean()), 4)
            for k, (name, z) in enumerate(zip(classes, logits))
        }
        return {
            "captions": len(captions),
            "tokens": int(ids.shape[1]),
            "data_seconds": round(data_s, 1),
            "steps": trainer.step,
            "step_seconds": step_time,
            "heldout_caption_accuracy": accuracy,
            "loss_curve": curve,
        }
