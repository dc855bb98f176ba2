"""The latent cache: VAE latents by aspect bucket and the caption table (tokens, optional frozen-encoder
embeddings), built once per data/VAE/text encoder and reused; bucket sampling and training batches.

May import: model.training.config, .data, .loop, numpy, torch. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from .config import StageConfig
from .data import FolderSource, encode_text, iter_items, make_source, tokenize
from .loop import RunContext, autocast


def fingerprint(module: torch.nn.Module) -> str:
    """A short hash of a module's weights (cache keys): names, shapes, sums and leading values.

    Cheap even for T5-XXL (no full copy to the host), yet any training step changes it.
    """
    h = hashlib.sha1()
    with torch.no_grad():
        for name, tensor in sorted(module.state_dict().items()):
            t = tensor.detach()
            flat = t.reshape(-1)[:64].float().cpu()
            stats = torch.stack([t.float().sum(), t.float().abs().sum()]).cpu()
            h.update(f"{name}{tuple(t.shape)}".encode())
            h.update(flat.numpy().tobytes() + stats.numpy().tobytes())
    return h.hexdigest()[:16]


def short_hash(obj: Any) -> str:
    """Stable short hash of a JSON-able object."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Bucket:
    """Cached training items of one size: latents and caption indices."""

    size: tuple[int, int]  # (width, height) in pixels
    latents: torch.Tensor  # (N, 4, h, w) scaled VAE latent means, fp16
    captions: torch.Tensor  # (N, K) indices into the caption table


@dataclass
class DataCache:
    """Latents by bucket + the caption table (token ids, masks, optional frozen-encoder embeddings)."""

    buckets: list[Bucket]
    ids: torch.Tensor  # (M, L) caption token ids
    mask: torch.Tensor  # (M, L)
    emb: torch.Tensor | None  # (M, L, C) bf16, None when the text encoder trains
    empty_ids: torch.Tensor  # (1, L) the empty prompt
    empty_mask: torch.Tensor  # (1, L)
    empty_emb: torch.Tensor | None  # (1, L, C)

    def to(self, device: torch.device, max_emb_bytes: int = 2 << 30) -> DataCache:
        """Move the tensors to `device`; caption embeddings only when smaller than max_emb_bytes."""

        def move(t: torch.Tensor | None, big_ok: bool = True) -> torch.Tensor | None:
            if t is None or (not big_ok and t.numel() * t.element_size() > max_emb_bytes):
                return t
            return t.to(device)

        buckets = [Bucket(b.size, move(b.latents), move(b.captions)) for b in self.buckets]
        return DataCache(
            buckets,
            move(self.ids),
            move(self.mask),
            move(self.emb, big_ok=False),
            move(self.empty_ids),
            move(self.empty_mask),
            move(self.empty_emb),
        )


def _encode_images(
    vae, images: list[np.ndarray], device: torch.device, dtype, batch: int = 32
) -> torch.Tensor:
    """uint8 (H, W, 3) images of one size -> (N, 4, H/8, W/8) scaled latent means (fp16, CPU)."""
    out = []
    scale = vae.config.scaling_factor
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.stack(images[i : i + batch])).to(device)  # (B, H, W, 3) uint8
        x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (B, 3, H, W) in -1..1
        with torch.no_grad(), autocast(device, dtype):
            mean = vae.encode(x).latent_dist.mean  # (B, 4, H/8, W/8)
        out.append((mean.float() * scale).half().cpu())
    return torch.cat(out)


def build_cache(
    ctx: RunContext, stage: StageConfig, pipe, deadline: float, with_emb: bool
) -> tuple[DataCache, dict]:
    """Render/load images, encode latents (and embeddings when the text encoder is frozen), once.

    Stored in work/cache/<key>/ and reused by any stage with the same data, sizes, VAE and text encoder.
    Rendering stops at `deadline` (the cache then holds fewer samples; the log says how many).
    """
    t0 = time.monotonic()
    source = make_source(ctx.cfg.data, stage)
    n = stage.samples if not isinstance(source, FolderSource) else min(stage.samples, len(source))
    key_src = {
        "data": ctx.cfg.data,
        "sizes": stage.sizes,
        "samples": n,
        "k": stage.captions_per_image,
        "tokens": ctx.cfg.max_tokens,
        "vae": fingerprint(pipe.vae),
    }
    folder = ctx.work / "cache" / short_hash(key_src)
    info: dict = {"folder": str(folder)}
    file = folder / "latents.pt"
    if file.exists():
        blob = torch.load(file, map_location="cpu", weights_only=False)
        info.update(blob["info"], reused=True)
        fields_ = blob["cache"]
        fields_["buckets"] = [Bucket(**b) for b in fields_["buckets"]]
        cache = DataCache(**fields_)
    else:
        cache = _render_and_encode(ctx, stage, pipe, source, n, deadline, info)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"cache": asdict(cache), "info": info}, folder / "latents.tmp")
        os.replace(folder / "latents.tmp", file)
        info["reused"] = False
    if with_emb:
        # frozen text encoder: embeddings once per encoder version, next to the latents
        emb_file = folder / f"emb-{fingerprint(pipe.text_encoder)}.pt"
        if emb_file.exists():
            cache.emb, cache.empty_emb = torch.load(emb_file, map_location="cpu", weights_only=False)
        else:
            cache.emb = _embed_all(pipe.text_encoder, cache.ids, cache.mask, ctx.device, ctx.amp)
            cache.empty_emb = _embed_all(
                pipe.text_encoder, cache.empty_ids, cache.empty_mask, ctx.device, ctx.amp
            )
            torch.save((cache.emb, cache.empty_emb), emb_file.with_suffix(".tmp"))
            os.replace(emb_file.with_suffix(".tmp"), emb_file)
    info["seconds"] = round(time.monotonic() - t0, 2)
    return cache, info


def _render_and_encode(
    ctx: RunContext, stage: StageConfig, pipe, source, n: int, deadline: float, info: dict
) -> DataCache:
    """Render/load up to n items (until `deadline`), encode latents by size, tokenize captions."""
    t0 = time.monotonic()
    plan = [(i, source.size_of(i, stage.sizes)) for i in range(n)]
    per_size: dict[tuple[int, int], list] = {}
    captions: list[str] = []
    cap_index: dict[str, int] = {}
    pending: dict[tuple[int, int], list] = {}
    dtype = ctx.amp
    stopped = False
    rendered = 0
    chunks = iter_items(ctx.cfg.data, stage, plan, ctx.workers)
    for chunk in chunks:
        for _index, image, caps in chunk:
            ids = _caption_ids(caps, captions, cap_index, stage.captions_per_image)
            size = (image.shape[1], image.shape[0])
            pending.setdefault(size, []).append((image, ids))
            rendered += 1
        for size, items in list(pending.items()):
            if len(items) >= 64:
                lat = _encode_images(pipe.vae, [im for im, _ in items], ctx.device, dtype)
                per_size.setdefault(size, []).append((lat, torch.tensor([ids for _, ids in items])))
                pending[size] = []
        if time.monotonic() > deadline and rendered >= stage.batch_size:
            stopped = True
            break
    chunks.close()
    for size, items in pending.items():
        if items:
            lat = _encode_images(pipe.vae, [im for im, _ in items], ctx.device, dtype)
            per_size.setdefault(size, []).append((lat, torch.tensor([ids for _, ids in items])))
    buckets = [
        Bucket(size, torch.cat([lat for lat, _ in parts]), torch.cat([c for _, c in parts]))
        for size, parts in sorted(per_size.items())
    ]

    ids, mask = tokenize(pipe.tokenizer, captions, ctx.cfg.max_tokens)
    empty_ids, empty_mask = tokenize(pipe.tokenizer, [""], ctx.cfg.max_tokens)
    keep = max(int(mask.sum(1).max()), 1)
    ids, mask = ids[:, :keep], mask[:, :keep]
    empty_ids, empty_mask = empty_ids[:, :keep], empty_mask[:, :keep]
    info.update(
        samples=rendered,
        planned=n,
        stopped_early=stopped,
        captions=len(captions),
        tokens=keep,
        buckets={f"{b.size[0]}x{b.size[1]}": len(b.latents) for b in buckets},
        render_seconds=round(time.monotonic() - t0, 2),
    )
    return DataCache(buckets, ids, mask, None, empty_ids, empty_mask, None)


def _caption_ids(caps: list[str], captions: list[str], cap_index: dict[str, int], k: int) -> list[int]:
    """Indices of an item's captions in the caption table (new ones appended), repeated up to k."""
    ids = []
    for c in caps:
        if c not in cap_index:
            cap_index[c] = len(captions)
            captions.append(c)
        ids.append(cap_index[c])
    while len(ids) < k:
        ids.append(ids[len(ids) % len(caps)])
    return ids


def _embed_all(
    text_encoder, ids: torch.Tensor, mask: torch.Tensor, device: torch.device, dtype
) -> torch.Tensor:
    """Embeddings of every caption (frozen encoder), bf16 on CPU."""
    out = []
    text_encoder.eval()
    for i in range(0, len(ids), 256):
        with torch.no_grad(), autocast(device, dtype):
            e = encode_text(text_encoder, ids[i : i + 256].to(device), mask[i : i + 256].to(device))
        out.append(e.to(torch.bfloat16).cpu())
    return torch.cat(out)


class BucketSampler:
    """Batches drawn from one bucket at a time (bucket chosen in proportion to its size)."""

    def __init__(self, counts: list[int], batch_size: int, seed: int) -> None:
        """`counts` items per bucket; reproducible from `seed`, resumable via state_dict()."""
        self.counts = list(counts)
        self.batch_size = batch_size
        self.weights = torch.tensor(self.counts, dtype=torch.float64)
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[int, torch.Tensor]:
        """(bucket, indices (B,)) sampled with replacement."""
        b = int(torch.multinomial(self.weights, 1, generator=self.generator))
        return b, torch.randint(self.counts[b], (self.batch_size,), generator=self.generator)

    def state_dict(self) -> dict:
        """Generator state."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict()."""
        self.generator.set_state(state["generator"].cpu())


def drop_captions(p: float, batch: int, generator: torch.Generator) -> torch.Tensor:
    """(B,) bool: which captions are replaced by the empty prompt (classifier-free guidance training)."""
    return torch.rand(batch, generator=generator, device=generator.device) < p


def make_batch(
    cache: DataCache, bucket: int, idx: torch.Tensor, generator: torch.Generator, p_drop: float, device
) -> dict:
    """A training batch from one bucket: latents, one caption per item, caption dropout applied."""
    b = cache.buckets[bucket]
    latents = b.latents[idx.to(b.latents.device)].to(device)  # (B, 4, h, w)
    k = b.captions.shape[1]
    pick = torch.randint(k, (len(idx),), generator=generator, device=generator.device).to(b.captions.device)
    cap = b.captions[idx.to(b.captions.device), pick]  # (B,)
    drop = drop_captions(p_drop, len(idx), generator).to(device)  # (B,)
    mask = torch.where(
        drop[:, None], cache.empty_mask.to(device), cache.mask[cap.to(cache.mask.device)].to(device)
    )
    batch = {"latents": latents, "mask": mask, "dropped": drop}
    if cache.emb is not None:
        emb = cache.emb[cap.to(cache.emb.device)].to(device).float()  # (B, L, C)
        batch["emb"] = torch.where(drop[:, None, None], cache.empty_emb.to(device).float(), emb)
    else:
        ids = cache.ids[cap.to(cache.ids.device)].to(device)
        batch["ids"] = torch.where(drop[:, None], cache.empty_ids.to(device), ids)
    return batch
