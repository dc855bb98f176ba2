"""Training data: the demo renders or a folder of captioned images (cover-cropped to aspect buckets),
rendered/loaded in worker processes, and caption tokenization.

May import: model.training.config, model.demo.data, numpy, Pillow, torch. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ..demo.data import captions_for, render_sample
from .config import StageConfig

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def closest_size(width: int, height: int, sizes: list) -> tuple[int, int]:
    """The bucket size whose aspect ratio is closest (in log) to width x height."""
    ratio = math.log(height / width)
    w, h = min(sizes, key=lambda s: abs(math.log(s[1] / s[0]) - ratio))
    return int(w), int(h)


def fit_to(image: Image.Image, width: int, height: int) -> Image.Image:
    """Resize to cover width x height and center-crop (keeps the aspect of the content)."""
    return ImageOps.fit(image.convert("RGB"), (width, height), Image.BICUBIC, centering=(0.5, 0.5))


class DemoSource:
    """The procedural wallpapers of model/demo/data.py (training split only)."""

    def __init__(self, seed: int, captions_per_image: int, two_tone: float = 0.0) -> None:
        """Dataset `seed`; each image gets `captions_per_image` phrasings; `two_tone`: see draw_labels."""
        self.seed = seed
        self.k = captions_per_image
        self.two_tone = two_tone

    def size_of(self, index: int, sizes: list) -> tuple[int, int]:
        """Bucket of sample `index`: sizes taken in turn (deterministic)."""
        w, h = sizes[index % len(sizes)]
        return int(w), int(h)

    def item(self, index: int, size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
        """(H, W, 3) uint8 image and its captions."""
        sample = render_sample(self.seed, index, size[0], size[1], two_tone=self.two_tone)
        return np.asarray(sample.image), captions_for(self.seed, index, self.k, two_tone=self.two_tone)


class FolderSource:
    """A folder of images with captions: `name.txt` next to `name.png`, or a metadata.jsonl
    with {"file_name": ..., "text": ...} lines."""

    def __init__(self, path: str | os.PathLike) -> None:
        """Index the images of `path` (sorted, deterministic)."""
        self.path = Path(path)
        self.items: list[tuple[Path, str]] = []
        meta = self.path / "metadata.jsonl"
        captions: dict[str, str] = {}
        if meta.exists():
            for line in meta.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    captions[row["file_name"]] = row["text"]
        for file in sorted(p for p in self.path.rglob("*") if p.suffix.lower() in IMAGE_EXTS):
            rel = file.relative_to(self.path).as_posix()
            text = captions.get(rel)
            if text is None and file.with_suffix(".txt").exists():
                text = file.with_suffix(".txt").read_text(encoding="utf-8").strip()
            if text is not None:
                self.items.append((file, text))
        if not self.items:
            raise ValueError(f"{self.path}: no images with captions (.txt next to them or metadata.jsonl)")
        self._sizes: dict[int, tuple[int, int]] = {}

    def __len__(self) -> int:
        """Number of captioned images."""
        return len(self.items)

    def size_of(self, index: int, sizes: list) -> tuple[int, int]:
        """Bucket by the image's aspect ratio."""
        file = self.items[index % len(self.items)][0]
        if index not in self._sizes:
            with Image.open(file) as im:
                self._sizes[index] = im.size
        return closest_size(*self._sizes[index], sizes)

    def item(self, index: int, size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
        """(H, W, 3) uint8 image (cover + center crop) and its caption."""
        file, text = self.items[index % len(self.items)]
        with Image.open(file) as im:
            return np.asarray(fit_to(im, *size)), [text]


def make_source(data: dict, stage: StageConfig) -> DemoSource | FolderSource:
    """The data source named by the config's `data` section."""
    kind = data.get("kind", "demo")
    if kind == "demo":
        two_tone = float(data.get("two_tone", 0.0))
        if not 0.0 <= two_tone <= 1.0:
            raise ValueError(f"data two_tone {two_tone} is not a share between 0 and 1")
        return DemoSource(int(data.get("seed", 0)), stage.captions_per_image, two_tone)
    if kind == "folder":
        return FolderSource(data["path"])
    raise ValueError(f"data kind {kind!r} is not demo or folder")


_SOURCES: dict[str, DemoSource | FolderSource] = {}


def _render_chunk(args: tuple) -> list[tuple[int, np.ndarray, list[str]]]:
    """Worker: render/load a chunk of (index, size) items (top level so processes can run it)."""
    data, stage_dict, chunk = args
    key = json.dumps([data, stage_dict["captions_per_image"]], sort_keys=True)
    if key not in _SOURCES:  # one folder scan per process, not per chunk
        _SOURCES[key] = make_source(data, StageConfig(**stage_dict))
    source = _SOURCES[key]
    return [(i, *source.item(i, size)) for i, size in chunk]


def iter_items(
    data: dict, stage: StageConfig, plan: list[tuple[int, tuple[int, int]]], workers: int, chunk: int = 64
) -> Iterator[list[tuple[int, np.ndarray, list[str]]]]:
    """Yield rendered/loaded items chunk by chunk, in plan order (worker processes when workers > 1).

    At most 2 x workers chunks are in flight, and closing the generator early cancels the rest.
    """
    jobs = [(data, asdict(stage), plan[i : i + chunk]) for i in range(0, len(plan), chunk)]
    if workers <= 1:
        for job in jobs:
            yield _render_chunk(job)
        return
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
    try:
        pending: deque = deque()
        todo = iter(jobs)
        for job in todo:
            pending.append(pool.submit(_render_chunk, job))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            job = next(todo, None)
            if job is not None:
                pending.append(pool.submit(_render_chunk, job))
            yield result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def resolve_workers(setting: int | str) -> int:
    """'auto' -> one process per spare core (max 16); 1 renders in-process."""
    if setting == "auto":
        return max(1, min(16, (os.cpu_count() or 1) - 1)) if (os.cpu_count() or 1) > 4 else 1
    return max(1, int(setting))


def tokenize(tokenizer, captions: list[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Captions -> (ids (N, L) long, mask (N, L) long), padded to max_tokens as the pipeline does."""
    out = tokenizer(
        captions,
        padding="max_length",
        max_length=max_tokens,
        truncation=True,
        add_special_tokens=True,
        return_tensors="pt",
    )
    return out.input_ids, out.attention_mask


def encode_text(text_encoder, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, L) ids + mask -> (N, L, C) embeddings."""
    return text_encoder(ids, attention_mask=mask)[0]


def trim_tokens(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop trailing all-padding columns: the masked tokens change nothing (T5 and cross-attention mask them)."""
    keep = max(1, int(mask.sum(1).max()))
    return ids[:, :keep].contiguous(), mask[:, :keep].contiguous()
