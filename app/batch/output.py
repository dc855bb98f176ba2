"""The output folder of a batch: images named by their job's key, and manifest.jsonl, one line per image.

Exactly once: an image is written to a temp name and renamed (app.atomic), then its manifest line is
appended and flushed to disk; a job whose key is in the manifest (and whose file is there) is done.
Opening the folder cleans what an interrupted run left: temp files are removed, an image renamed
into place whose manifest line was never written is recorded (its metadata names its key), and a
torn last manifest line is dropped. While a batch writes, the manifest is locked, so a second
batch on the same folder stops with a message. When the batch ends the folder holds only the
images and the manifest.

May import: app.atomic, app.metadata, app.batch.jobs; no Qt, no torch.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes
from ..metadata import MetadataError, read_params
from .jobs import BatchJob

MANIFEST = "manifest.jsonl"
TEMP_PATTERN = ".*.tmp*"  # app.atomic's temp names: .STEM.HEX.tmp.SUFFIX

try:
    import fcntl
except ImportError:  # Windows: no advisory lock; one batch per folder is then up to the user
    fcntl = None


class OutputError(Exception):
    """The output folder cannot be used (not a folder, locked by another batch, unwritable)."""


def manifest_entry(job: BatchJob, info: dict[str, Any]) -> dict[str, Any]:
    """One manifest line: the file, the job's key and line, its settings and how it was made."""
    return {
        "file": job.filename, "key": job.key, "line": job.line, "prompt": job.prompt,
        "negative": job.negative, "width": job.width, "height": job.height, "seed": job.seed,
        "steps": job.steps, "guidance": info.get("guidance", job.guidance), "model": info.get("model", job.model),
        "seconds": round(float(info.get("seconds", 0.0)), 3), "worker": info.get("worker", worker_name()),
        "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def worker_name() -> str:
    """host:pid of this process (the manifest says which worker made each image)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def read_manifest(folder: Path) -> list[dict[str, Any]]:
    """The manifest's entries (a torn or unreadable line is skipped)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return []
    entries = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("key"), str):
            entries.append(entry)
    return entries


class BatchOutput:
    """An open output folder: which keys are done, and `commit` for each finished image."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser()
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError(f"--out {folder}: is a file; give a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._manifest = open(self.folder / MANIFEST, "ab+")
        except OSError as error:
            raise OutputError(f"--out {folder}: cannot write there ({error.strerror or error})") from None
        self._lock()
        self.clean_temp_files()
        self._repair_torn_line()
        self.done: dict[str, str] = {}
        for entry in read_manifest(self.folder):
            if (self.folder / entry["file"]).is_file():
                self.done[entry["key"]] = entry["file"]

    def _lock(self) -> None:
        if fcntl is None:
            return
        try:
            fcntl.flock(self._manifest.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._manifest.close()
            raise OutputError(f"--out {self.folder}: another batch is writing to this folder") from None

    def _repair_torn_line(self) -> None:
        """End the manifest with a newline, so the next line starts clean after a crash mid-write."""
        self._manifest.seek(0, os.SEEK_END)
        if self._manifest.tell():
            self._manifest.seek(self._manifest.tell() - 1)
            if self._manifest.read(1) != b"\n":
                self._manifest.write(b"\n")
                self._manifest.flush()

    def clean_temp_files(self) -> int:
        """Remove temp files an interrupted write left; returns how many."""
        removed = 0
        for temp in self.folder.glob(TEMP_PATTERN):
            if temp.is_file():
                temp.unlink(missing_ok=True)
                removed += 1
        return removed

    def recover(self, jobs: list[BatchJob]) -> int:
        """Record images of these jobs that were renamed into place but never made the manifest."""
        recovered = 0
        for job in jobs:
            path = self.folder / job.filename
            if job.key in self.done or not path.is_file():
                continue
            try:
                params = read_params(path) or {}
            except MetadataError:
                params = {}
            if (params.get("batch") or {}).get("key") == job.key:
                self._append(manifest_entry(job, {"guidance": params.get("guidance"),
                                                  "model": params.get("model"), "worker": "recovered"}))
                self.done[job.key] = job.filename
                recovered += 1
            else:  # a file by that name we did not finish: make it again
                path.unlink(missing_ok=True)
        return recovered

    def path_for(self, job: BatchJob) -> Path:
        return self.folder / job.filename

    def is_done(self, job: BatchJob) -> bool:
        return job.key in self.done

    def commit(self, job: BatchJob, info: dict[str, Any], data: bytes | None = None) -> bool:
        """Record a finished image (first writing `data` to its file when given); False if it was done already."""
        if job.key in self.done:
            return False
        if data is not None:
            atomic_write_bytes(self.path_for(job), data)
        self._append(manifest_entry(job, info))
        self.done[job.key] = job.filename
        return True

    def _append(self, entry: dict[str, Any]) -> None:
        self._manifest.write((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
        self._manifest.flush()
        os.fsync(self._manifest.fileno())

    def close(self) -> None:
        """Clean temp files and release the folder."""
        self.clean_temp_files()
        if not self._manifest.closed:
            self._manifest.close()

    def __enter__(self) -> BatchOutput:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()
