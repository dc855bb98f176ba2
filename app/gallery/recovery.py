"""Gallery recovery: tell a damaged database from a read-only one, set a damaged one aside, and
rebuild the index from the image files' own Contract-2 metadata; crash leftovers (partial `*.tmp.*`
files, images without a record).

Gallery (store.py) calls these when it opens; the studio runs `sweep_temp_files` and `orphans`
at start-up on a pool thread (ui.main_window) and offers to re-add the orphans with `readd`.

May import: sqlite3, Pillow, app.metadata; no Qt. Works on a Gallery object it is given.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image

from .. import metadata
from . import schema

SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN = 3, 8, 14
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
TEMP_MARK = ".tmp"  # app.atomic names its temp files `.NAME.XXXXXXXX.tmp.SUFFIX`
TEMP_MIN_AGE_S = 3600.0  # a temp file younger than this may still be written by another studio window
READD_CHUNK = 500


class DamagedDatabase(sqlite3.DatabaseError):
    """The database opens but its integrity check fails."""


def is_damaged(exc: BaseException) -> bool:
    """Whether an SQLite error says the file is not a (sound) database."""
    if isinstance(exc, DamagedDatabase):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and code is not None and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)


def is_read_only(exc: BaseException, db_path: Path) -> bool:
    """Whether an SQLite error comes from a file or folder we may not write."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (SQLITE_READONLY, SQLITE_PERM):
        return True
    if code is not None and code & 0xFF == SQLITE_CANTOPEN:
        target = db_path if db_path.exists() else db_path.parent
        return not os.access(target, os.W_OK)
    return False


def check(conn: sqlite3.Connection) -> None:
    """Raise DamagedDatabase when a quick integrity check finds a problem."""
    result = conn.execute("PRAGMA quick_check(1)").fetchone()
    if not result or result[0] != "ok":
        raise DamagedDatabase(f"integrity check: {result[0] if result else 'no answer'}")


def set_aside(db_path: Path) -> Path:
    """Rename a damaged database (and its -wal/-shm files) to a dated backup name; returns the new name."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    number = 1
    while backup.exists():
        number += 1
        backup = db_path.with_name(f"{db_path.name}.damaged-{stamp}-{number}")
    os.replace(db_path, backup)
    for extra in ("-wal", "-shm"):
        side = db_path.with_name(db_path.name + extra)
        if side.exists():
            os.replace(side, backup.with_name(backup.name + extra))
    return backup


def _is_temp(path: Path) -> bool:
    """Whether a file is an app.atomic temp file (`.NAME.XXXXXXXX.tmp.SUFFIX`, or `….tmp` without suffix)."""
    name = path.name
    return name.startswith(".") and (TEMP_MARK + "." in name or name.endswith(TEMP_MARK))


def image_files(gallery: Any) -> list[Path]:
    """Every image file under the gallery's images folder (no temp files), oldest first."""
    if not gallery.images_dir.is_dir():
        return []
    found = [p for p in gallery.images_dir.rglob("*")
             if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not _is_temp(p)]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def orphans(gallery: Any) -> list[Path]:
    """Image files under images/ that no record (visible or in the trash) points to."""
    known = {gallery.root / Path(rel) for rel in gallery.all_paths()}
    return [path for path in image_files(gallery) if path not in known]


def _entry(path: Path) -> tuple[Path, dict] | None:
    """(path, settings) for add_bulk from an image's own metadata; None when it is not a readable image."""
    try:
        params = dict(metadata.read_params(path) or {})
        with Image.open(path) as image:
            size = image.size
    except Exception:  # noqa: BLE001 - any unreadable file is skipped and counted, never fatal
        return None
    params.setdefault("prompt", "")
    params.setdefault("created", datetime.fromtimestamp(path.stat().st_mtime).astimezone().isoformat(timespec="seconds"))
    params.setdefault("width", size[0])
    params.setdefault("height", size[1])
    return path, params


def readd(gallery: Any, files: list[Path]) -> tuple[int, int]:
    """Index image files already under images/ from their metadata; returns (added, unreadable)."""
    added = skipped = 0
    for start in range(0, len(files), READD_CHUNK):
        entries = []
        for path in files[start : start + READD_CHUNK]:
            entry = _entry(Path(path))
            if entry is None:
                skipped += 1
            else:
                entries.append(entry)
        added += len(gallery.add_bulk(entries)) if entries else 0
    return added, skipped


def sweep_temp_files(gallery: Any, min_age_s: float = TEMP_MIN_AGE_S) -> int:
    """Delete partial `*.tmp.*` files a crash left under the gallery and thumbnail folders; returns how many."""
    now = time.time()
    removed = 0
    for folder in (gallery.images_dir, gallery.thumbs_dir, gallery.root):
        if not folder.is_dir():
            continue
        candidates = folder.glob("*") if folder == gallery.root else folder.rglob("*")
        for path in candidates:
            try:
                if _is_temp(path) and path.is_file() and now - path.stat().st_mtime >= min_age_s:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
    return removed


def open_or_recover(gallery: Any) -> None:
    """Open and migrate the database; a damaged one is set aside and rebuilt from the images'
    metadata, a read-only one is opened for reading. Either way `notice` says what happened."""
    try:
        gallery._prepare()
        return
    except sqlite3.Error as exc:
        error = exc
    if is_read_only(error, gallery.db_path):
        gallery.read_only = True
        gallery.notice = (f"The gallery {gallery.db_path} is read-only ({error}): you can browse it, but new "
                          "images are not saved. Check the folder's permissions or free some disk space.")
        try:
            gallery._prepare()
            return
        except sqlite3.Error as exc:
            raise schema.GalleryError(f"Cannot read the gallery {gallery.db_path}: {exc}.") from exc
    if not is_damaged(error):
        raise schema.GalleryError(f"Cannot open the gallery database {gallery.db_path}: {error}.") from error
    try:
        backup = set_aside(gallery.db_path)
        gallery._prepare()
    except (OSError, sqlite3.Error) as exc:
        raise schema.GalleryError(
            f"The gallery database {gallery.db_path} is damaged ({error}) and could not be replaced: {exc}."
        ) from exc
    added, skipped = readd(gallery, image_files(gallery))
    unreadable = f" ({skipped} unreadable file(s) skipped)" if skipped else ""
    gallery.notice = (f"The gallery database was damaged ({error}). It was kept as {backup.name} and a new "
                      f"gallery was made from the {added} image(s)' own settings{unreadable}.")

