"""The prompt-embedding cache's files on disk: how much they take, least-recently-used eviction to a
size cap, and clearing. Torch-free, so the settings dialog can show and clear the cache (through
app.model_service) without loading the engine.

A cache entry is one `KEY.safetensors` file; its modification time is its last use (PromptCache
touches a file when it reads it).

May import: the standard library only. Never torch, Qt, app/ or ui/.
"""

from __future__ import annotations

import os
from pathlib import Path

DISK_CAP_BYTES = 1_000_000_000  # ~100 prompts with the real T5 (10 MB each), ~3,000 with the demo model
SUFFIX = ".safetensors"


def _entries(folder: Path | None) -> list[tuple[float, int, Path]]:
    """(last use, size, path) of every cache file."""
    if folder is None or not Path(folder).is_dir():
        return []
    found = []
    for path in Path(folder).iterdir():
        if path.suffix == SUFFIX:
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((stat.st_mtime, stat.st_size, path))
    return found


def usage(folder: Path | None) -> tuple[int, int]:
    """(files, bytes) the cache holds on disk."""
    entries = _entries(folder)
    return len(entries), sum(size for _, size, _ in entries)


def touch(path: Path) -> None:
    """Mark a cache file as just used."""
    try:
        os.utime(path)
    except OSError:
        pass


def evict(folder: Path | None, cap_bytes: int = DISK_CAP_BYTES) -> int:
    """Delete the least recently used files until the cache fits in cap_bytes; returns how many went."""
    entries = sorted(_entries(folder), key=lambda entry: (entry[0], entry[2].name))
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, path in entries:
        if total <= cap_bytes:
            break
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            continue
        total -= size
        removed += 1
    return removed


def clear(folder: Path | None) -> int:
    """Delete every cache file (and leftover temp files); returns how many files went."""
    removed = 0
    if folder is None or not Path(folder).is_dir():
        return removed
    for path in Path(folder).iterdir():
        if path.suffix in (SUFFIX, ".tmp") and path.is_file():
            try:
                path.unlink()
                removed += 1
            except OSError:
                continue
    return removed
