"""Prompt cache: T5 embeddings by (model, prompt, negative), in memory (LRU) and on disk (safetensors,
least recently used files evicted past a size cap; model.inference.cache_files).

May import: model.configs, model.inference.cache_files, torch, safetensors. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path

import torch

from ..configs import T5_TOKENS
from . import cache_files


class PromptCache:
    """Prompt embeddings by (model, prompt, negative): in memory (LRU) and on disk (safetensors)."""

    def __init__(self, folder: Path | None, capacity: int = 32, disk_cap_bytes: int = cache_files.DISK_CAP_BYTES):
        self.folder = Path(folder) if folder else None
        self.capacity = capacity
        self.disk_cap_bytes = disk_cap_bytes
        self.memory: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(model_key: str, prompt: str, negative: str) -> str:
        blob = json.dumps([model_key, prompt, negative, T5_TOKENS], ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        if key in self.memory:
            self.memory.move_to_end(key)
            self.hits += 1
            return self.memory[key]
        path = self._path(key)
        if path and path.exists():
            from safetensors.torch import load_file

            try:
                tensors = load_file(str(path))
            except Exception:  # a damaged cache file is just a miss
                path.unlink(missing_ok=True)
            else:
                cache_files.touch(path)  # its last use, for eviction
                self._remember(key, tensors)
                self.hits += 1
                return tensors
        self.misses += 1
        return None

    def put(self, key: str, tensors: dict[str, torch.Tensor]) -> None:
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        self._remember(key, tensors)
        path = self._path(key)
        if path is None:
            return
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        try:
            save_file(tensors, str(tmp))
            tmp.replace(path)
        except OSError:
            tmp.unlink(missing_ok=True)  # caching is best effort: a full disk must not fail a generation
            return
        cache_files.evict(self.folder, self.disk_cap_bytes)

    def _remember(self, key: str, tensors: dict[str, torch.Tensor]) -> None:
        self.memory[key] = tensors
        self.memory.move_to_end(key)
        while len(self.memory) > self.capacity:
            self.memory.popitem(last=False)

    def _path(self, key: str) -> Path | None:
        return self.folder / f"{key}.safetensors" if self.folder else None
