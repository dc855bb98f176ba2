"""File ▸ Import batch folder…: the images a batch's manifest lists, copied into the gallery once each.

Each batch image carries its job's key in its metadata (`batch.key`); images whose key the gallery
already holds are skipped, so importing the same folder again (or a folder a later run added to)
adds only what is new. The copy and the indexing are the gallery's own (`Gallery.import_images`).

May import: app.gallery, app.batch.output; no Qt, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .output import MANIFEST, read_manifest

BATCH_KEY_PATH = "$.batch.key"


class NotABatchFolder(ValueError):
    """A folder without a readable manifest.jsonl."""


@dataclass
class BatchImport:
    """What an import did: the new records, how many were in the gallery already, what failed."""

    records: list[Any]
    already: int
    errors: list[str] = field(default_factory=list)


def import_batch_folder(gallery: Any, folder: str | Path) -> BatchImport:
    """Import the manifest's images that the gallery does not hold yet (see the module docstring)."""
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise NotABatchFolder(f"{folder} holds no {MANIFEST}: choose the --out folder of a batch")
    have = gallery.settings_values(BATCH_KEY_PATH)
    files: list[Path] = []
    errors: list[str] = []
    already = 0
    for entry in read_manifest(folder):
        if entry["key"] in have:
            already += 1
            continue
        path = folder / Path(entry["file"]).name  # a manifest names files inside its own folder only
        if not path.is_file():
            errors.append(f"{path.name}: listed in the manifest but missing")
            continue
        have.add(entry["key"])
        files.append(path)
    records, failed = gallery.import_images(files)
    return BatchImport(records, already, errors + failed)
