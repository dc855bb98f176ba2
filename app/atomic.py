"""Atomic file writes: write a temp file next to the target, then rename it over the target.

May import: the standard library only.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def _create_temp(path: Path) -> Path:
    """A new empty temp file in path's folder, named after path (same suffix, so writers that pick a
    format from the name still work) and created with the umask's permissions, unlike mkstemp's 0600."""
    while True:
        temp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return temp


def _fsync(path: Path) -> None:
    """Flush path's data to disk so a crash after the rename never leaves an empty file."""
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call write(temp_path), then replace path with the temp file; on any error the old file stays."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _create_temp(path)
    try:
        write(temp)
        _fsync(temp)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write data to path atomically."""
    return atomic_write(path, lambda temp: temp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write text to path atomically (newlines written as given, never translated)."""
    return atomic_write(path, lambda temp: temp.write_bytes(text.encode(encoding)))
