"""A quick look at a single-file checkpoint before anything else is resolved or downloaded: is it
whole, and is it the kind of file its name says? Reads the header only (no torch, no tensors), so
a truncated or foreign file is reported before its base (T5, VAE: 19 GB from the hub) is fetched.

May import: model.errors and the standard library. Never torch.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from ..errors import SourceError

MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on the JSON header
PICKLE_PROTOCOL_2 = b"\x80\x02"  # legacy (non-zip) torch.save files start with a pickle


def _safetensors(path: Path, size: int) -> None:
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ValueError("the file is shorter than a safetensors header")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise ValueError(f"its header claims {length:,} bytes, more than the file holds")
        header = json.loads(handle.read(length).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise ValueError(f"tensor {name!r} has no valid data_offsets")
        end = max(end, offsets[1])
    if 8 + length + end > size:
        raise ValueError(f"its tensors need {8 + length + end:,} bytes but the file has {size:,} (truncated)")


def _pth(path: Path) -> None:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK"):
        with zipfile.ZipFile(path) as archive:  # reads the central directory at the end: truncation fails here
            if not any(name.endswith("data.pkl") for name in archive.namelist()):
                raise ValueError("it is a zip archive but not a PyTorch checkpoint (no data.pkl)")
    elif not magic.startswith(PICKLE_PROTOCOL_2):
        raise ValueError("it is neither a PyTorch zip checkpoint nor a legacy pickle")


def check_checkpoint_file(path: Path) -> None:
    """SourceError when a .safetensors/.pth file is truncated, empty or not a checkpoint at all."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            raise ValueError("the file is empty")
        if path.suffix.lower() == ".safetensors":
            _safetensors(path, size)
        else:
            _pth(path)
    except (OSError, ValueError, zipfile.BadZipFile, struct.error, RecursionError) as exc:
        raise SourceError(
            f"{path} cannot be read as a checkpoint ({exc}): it may be truncated or not a PixArt-Σ "
            "transformer; download it again"
        ) from None
