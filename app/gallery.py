"""The gallery: every generated image kept on disk with its settings, indexed in SQLite.

Layout under the gallery root::

    gallery.sqlite3          index (WAL mode, schema version in PRAGMA user_version)
    images/YYYY-MM/*.png     the images, with Contract-2 metadata
    thumbs/YYYY-MM/*.jpg     256 px thumbnails (regenerated when missing)
    trash/TOKEN/...          deleted files until `purge_trash()`, so a delete can be undone

The default gallery (no root given) lives in paths.gallery_dir() and keeps its thumbnails in the
cache, paths.thumbnail_dir(). Paths are stored relative to these folders, so they can be moved.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from . import metadata, paths
from .atomic import atomic_write

DB_NAME = "gallery.sqlite3"
IMAGES_DIR = "images"
THUMBS_DIR = "thumbs"
TRASH_DIR = "trash"
THUMB_SIZE = 256
THUMB_SUFFIX = ".jpg"
THUMB_QUALITY = 85
SCHEMA_VERSION = 1

_RECORD_COLUMNS = (
    "id, path, thumb_path, prompt, negative, width, height, seed, steps, guidance, model, "
    "kv_compress, created, favourite, params"
)


class GalleryError(Exception):
    """A gallery problem the user can act on (unreadable file, missing image, newer database)."""


@dataclass
class Record:
    """One image in the gallery with the settings that made it."""

    id: int
    path: Path
    thumb_path: Path
    prompt: str
    negative: str
    width: int
    height: int
    seed: int | None
    steps: int | None
    guidance: float | None
    model: str | None
    kv_compress: Any
    created: str
    favourite: bool
    params: dict = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """Whether the image file is still on disk (False: flagged missing, the record is kept)."""
        return self.path.is_file()


@dataclass(frozen=True)
class DeleteToken:
    """Handle for one `Gallery.delete` call, to pass to `Gallery.undo_delete`."""

    token: str
    ids: tuple[int, ...]


# ---------------------------------------------------------------------------------------------
# Schema and migrations
# ---------------------------------------------------------------------------------------------

def _fts5_available(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite build has the FTS5 full-text extension."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp._fts5_probe USING fts5(x)")
        conn.execute("DROP TABLE temp._fts5_probe")
    except sqlite3.OperationalError:
        return False
    return True


def _migrate_0_to_1(conn: sqlite3.Connection) -> None:
    """Create the first schema: images table, indexes and (when available) the FTS5 index."""
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS images (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            path        TEXT NOT NULL,
            thumb_path  TEXT NOT NULL,
            prompt      TEXT NOT NULL DEFAULT '',
            negative    TEXT NOT NULL DEFAULT '',
            width       INTEGER NOT NULL,
            height      INTEGER NOT NULL,
            seed        INTEGER,
            steps       INTEGER,
            guidance    REAL,
            model       TEXT,
            kv_compress,
            created     TEXT NOT NULL,
            favourite   INTEGER NOT NULL DEFAULT 0,
            deleted     TEXT,
            params      TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX IF NOT EXISTS images_deleted ON images(deleted);
        CREATE INDEX IF NOT EXISTS images_favourite ON images(favourite) WHERE favourite = 1;
        """
    )
    if not _fts5_available(conn):
        return
    # External-content index: text lives once, in `images`; triggers keep the index in step.
    conn.executescript(
        """
        CREATE VIRTUAL TABLE IF NOT EXISTS images_fts USING fts5(
            prompt, negative, content='images', content_rowid='id', tokenize='unicode61'
        );
        CREATE TRIGGER IF NOT EXISTS images_ai AFTER INSERT ON images BEGIN
            INSERT INTO images_fts(rowid, prompt, negative) VALUES (new.id, new.prompt, new.negative);
        END;
        CREATE TRIGGER IF NOT EXISTS images_ad AFTER DELETE ON images BEGIN
            INSERT INTO images_fts(images_fts, rowid, prompt, negative)
                VALUES ('delete', old.id, old.prompt, old.negative);
        END;
        CREATE TRIGGER IF NOT EXISTS images_au AFTER UPDATE OF prompt, negative ON images BEGIN
            INSERT INTO images_fts(images_fts, rowid, prompt, negative)
                VALUES ('delete', old.id, old.prompt, old.negative);
            INSERT INTO images_fts(rowid, prompt, negative) VALUES (new.id, new.prompt, new.negative);
        END;
        """
    )


# MIGRATIONS[n] upgrades a database at user_version n to n + 1; append one per schema change.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_0_to_1]
assert len(MIGRATIONS) == SCHEMA_VERSION


def _migrate(conn: sqlite3.Connection, db_path: Path) -> None:
    """Bring the database up to SCHEMA_VERSION, one migration per transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise GalleryError(
            f"The gallery {db_path} was written by a newer Sigma Studio (schema {version}, this "
            f"version reads up to {SCHEMA_VERSION}). Update Sigma Studio to open it."
        )
    while version < SCHEMA_VERSION:
        with conn:
            MIGRATIONS[version](conn)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")


# ---------------------------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------------------------

def _like_pattern(term: str) -> str:
    """A LIKE pattern matching `term` anywhere, with LIKE wildcards escaped."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _fts_phrase(term: str) -> str:
    """An FTS5 prefix phrase for one search term (quotes doubled, so any text is safe)."""
    return '"' + term.replace('"', '""') + '"*'


def _where(text: str, favourites_only: bool, use_fts: bool) -> tuple[str, list[Any]]:
    """SQL WHERE clause and arguments for the visible rows matching `text` (every word must match)."""
    clauses, args = ["deleted IS NULL"], []
    if favourites_only:
        clauses.append("favourite = 1")
    terms = text.split()
    fts_terms = [t for t in terms if use_fts and any(ch.isalnum() for ch in t)]
    like_terms = [t for t in terms if t not in fts_terms]
    if fts_terms:
        clauses.append("id IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)")
        args.append(" ".join(_fts_phrase(t) for t in fts_terms))
    for term in like_terms:
        clauses.append("(prompt LIKE ? ESCAPE '\\' OR negative LIKE ? ESCAPE '\\')")
        args += [_like_pattern(term)] * 2
    return " AND ".join(clauses), args


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

def _now_iso() -> str:
    """The local time now as ISO 8601 with offset, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _month_folder(created: str) -> str:
    """'2024-05' from an ISO timestamp (this month when it cannot be parsed)."""
    try:
        return datetime.fromisoformat(created).strftime("%Y-%m")
    except (TypeError, ValueError):
        return datetime.now().strftime("%Y-%m")


def _write_thumbnail(image: Image.Image, dest: Path) -> None:
    """Write a JPEG thumbnail, THUMB_SIZE px on the long side, atomically."""
    thumb = image.copy()
    if thumb.mode in ("RGBA", "LA", "PA", "P"):
        rgba = thumb.convert("RGBA")
        thumb = Image.new("RGB", rgba.size, (0, 0, 0))
        thumb.paste(rgba, mask=rgba.getchannel("A"))
    elif thumb.mode != "RGB":
        thumb = thumb.convert("RGB")
    thumb.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS, reducing_gap=2.0)
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, lambda tmp: thumb.save(tmp, "JPEG", quality=THUMB_QUALITY, optimize=True))


def _unlink_quietly(path: Path) -> None:
    """Remove a file if it is there; used to undo a half-finished add."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass


def _move(src: Path, dest: Path) -> bool:
    """Move a file if it exists, creating the destination folder; False when src is missing."""
    if not src.exists():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)  # trash/ is inside the gallery root: same file system, atomic rename
    return True


def _int_or_none(value: Any) -> int | None:
    """int(value), or None when it is missing or not a number."""
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _float_or_none(value: Any) -> float | None:
    """float(value), or None when it is missing or not a number."""
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Gallery
# ---------------------------------------------------------------------------------------------

class Gallery:
    """SQLite index of generated images plus their files and thumbnails; safe to use from two threads.

    Each thread gets its own connection (WAL lets the UI read while the worker writes); writes are
    serialised by a lock.
    """

    def __init__(self, root: Path | None = None, thumbs_dir: Path | None = None) -> None:
        self.root = Path(root) if root is not None else paths.gallery_dir()
        if thumbs_dir is None:
            thumbs_dir = self.root / THUMBS_DIR if root is not None else paths.thumbnail_dir()
        self.thumbs_dir = Path(thumbs_dir)
        self.db_path = self.root / DB_NAME
        self.images_dir = self.root / IMAGES_DIR
        self.trash_dir = self.root / TRASH_DIR
        self.thumbs_trash_dir = self.thumbs_dir / ".trash"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GalleryError(
                f"Cannot create the gallery folder {self.root}: {exc.strerror or exc}. "
                "Check the folder's permissions or choose another location."
            ) from exc
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        conn = self._conn()
        with self._write_lock:
            _migrate(conn, self.db_path)
        self.has_fts = bool(
            conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'images_fts'").fetchone()
        )

    # -- connections ------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        if self._closed:
            raise GalleryError("The gallery is closed.")
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise GalleryError(
                f"Cannot open the gallery database {self.db_path}: {exc}. If the file is damaged, "
                "move it away; Sigma Studio will start a new one (image files are kept)."
            ) from exc
        self._local.conn = conn
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection (from any thread); the gallery cannot be used afterwards."""
        with self._connections_lock:
            self._closed = True
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._connections.clear()

    # -- paths --------------------------------------------------------------------------------

    def _abs(self, rel: str) -> Path:
        """Absolute path of an image path stored in the database (relative to the root)."""
        return self.root / Path(rel)

    def _abs_thumb(self, rel: str) -> Path:
        """Absolute path of a thumbnail path stored in the database (relative to thumbs_dir)."""
        return self.thumbs_dir / Path(rel)

    def _new_image_path(self, created: str, seed: int | None, suffix: str) -> Path:
        """A fresh, unique path under images/YYYY-MM/."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        seed_part = f"_{seed}" if seed is not None else ""
        name = f"{stamp}{seed_part}_{uuid.uuid4().hex[:8]}{suffix}"
        return self.images_dir / _month_folder(created) / name

    def _thumb_for(self, image_path: Path) -> Path:
        """Where the thumbnail of an image lives (thumbs/ mirrors images/)."""
        rel = image_path.relative_to(self.images_dir) if image_path.is_relative_to(self.images_dir) \
            else Path(image_path.name)
        return (self.thumbs_dir / rel).with_suffix(THUMB_SUFFIX)

    # -- rows ---------------------------------------------------------------------------------

    def _record(self, row: sqlite3.Row | tuple) -> Record:
        """A Record from a row selected with _RECORD_COLUMNS."""
        (id_, path, thumb, prompt, negative, width, height, seed, steps, guidance, model, kv,
         created, favourite, params) = row
        try:
            params_dict = json.loads(params) if params else {}
        except json.JSONDecodeError:
            params_dict = {}
        return Record(
            id=id_, path=self._abs(path), thumb_path=self._abs_thumb(thumb), prompt=prompt,
            negative=negative, width=width, height=height, seed=seed, steps=steps, guidance=guidance,
            model=model, kv_compress=kv, created=created, favourite=bool(favourite), params=params_dict,
        )

    def _row_values(self, image_path: Path, thumb_path: Path, params: dict, size: tuple[int, int]) -> tuple:
        """Column values for an insert (everything but id, favourite and deleted)."""
        kv = params.get("kv_compress")
        if kv is not None and not isinstance(kv, (int, float, str)):
            kv = str(kv)
        return (
            image_path.relative_to(self.root).as_posix(), thumb_path.relative_to(self.thumbs_dir).as_posix(),
            str(params.get("prompt") or ""), str(params.get("negative") or ""),
            _int_or_none(params.get("width")) or size[0], _int_or_none(params.get("height")) or size[1],
            _int_or_none(params.get("seed")), _int_or_none(params.get("steps")),
            _float_or_none(params.get("guidance")),
            None if params.get("model") is None else str(params.get("model")),
            kv, str(params.get("created") or _now_iso()),
            json.dumps(params, ensure_ascii=False, default=str),
        )

    def _insert(self, values: tuple) -> int:
        """Insert one row and return its id."""
        with self._write_lock, self._conn() as conn:
            cursor = conn.execute(
                "INSERT INTO images (path, thumb_path, prompt, negative, width, height, seed, steps, "
                "guidance, model, kv_compress, created, params) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                values,
            )
            return int(cursor.lastrowid)

    # -- adding -------------------------------------------------------------------------------

    def add(self, image: Image.Image, params: dict) -> Record:
        """Save a generated image (PNG with metadata), its thumbnail and its row; all or nothing."""
        params = dict(params)
        params.setdefault("created", _now_iso())
        params.setdefault("width", image.width)
        params.setdefault("height", image.height)
        image_path = self._new_image_path(params["created"], _int_or_none(params.get("seed")), ".png")
        thumb_path = self._thumb_for(image_path)
        image_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            metadata.save_image(image, image_path, params, fmt="png")
            _write_thumbnail(image, thumb_path)
            new_id = self._insert(self._row_values(image_path, thumb_path, params, image.size))
        except BaseException:
            _unlink_quietly(image_path)
            _unlink_quietly(thumb_path)
            raise
        return self.get(new_id)

    def import_image(self, path: Path) -> Record:
        """Copy an existing image file into the gallery, reading its settings with read_params.

        Files without readable settings are imported with an empty prompt; files that are not
        images raise GalleryError.
        """
        src = Path(path)
        if not src.is_file():
            raise GalleryError(f"Cannot import {src}: the file does not exist.")
        try:
            with Image.open(src) as opened:
                opened.load()
                image = opened.copy()
                fmt = (opened.format or "").lower()
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise GalleryError(
                f"Cannot import {src}: it is not an image Sigma Studio can read "
                "(use PNG, JPEG or WebP)."
            ) from exc
        try:
            params = dict(metadata.read_params(src) or {})
        except metadata.MetadataError as exc:
            raise GalleryError(f"Cannot import {src}: {exc}") from exc
        params.setdefault("prompt", "")
        params.setdefault("created", _created_from_mtime(src))
        params["width"], params["height"] = image.width, image.height
        params.setdefault("imported_from", str(src))
        suffix = {"jpeg": ".jpg", "webp": ".webp", "png": ".png"}.get(fmt, src.suffix.lower() or ".png")
        image_path = self._new_image_path(params["created"], _int_or_none(params.get("seed")), suffix)
        thumb_path = self._thumb_for(image_path)
        image_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            atomic_write(image_path, lambda tmp: shutil.copyfile(src, tmp))
            _write_thumbnail(image, thumb_path)
            new_id = self._insert(self._row_values(image_path, thumb_path, params, image.size))
        except BaseException:
            _unlink_quietly(image_path)
            _unlink_quietly(thumb_path)
            raise
        return self.get(new_id)

    def add_bulk(self, entries: Iterable[tuple[Path, dict]]) -> list[int]:
        """Index image files already under images/ in one transaction (no files written).

        For rebuilding an index or seeding large galleries; thumbnails are made on first
        `thumbnail(id)` call. Paths outside the gallery's images folder raise GalleryError.
        """
        rows = []
        for image_path, params in entries:
            image_path = Path(image_path)
            if not image_path.is_relative_to(self.images_dir):
                raise GalleryError(
                    f"{image_path} is not inside {self.images_dir}; use import_image to copy it in."
                )
            size = (_int_or_none(params.get("width")) or 0, _int_or_none(params.get("height")) or 0)
            rows.append(self._row_values(image_path, self._thumb_for(image_path), params, size))
        with self._write_lock, self._conn() as conn:
            # AUTOINCREMENT ids only grow and writers hold the lock, so the new rows are those above
            last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM images").fetchone()[0]
            conn.executemany(
                "INSERT INTO images (path, thumb_path, prompt, negative, width, height, seed, steps, "
                "guidance, model, kv_compress, created, params) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            new_ids = conn.execute("SELECT id FROM images WHERE id > ? ORDER BY id", (last,)).fetchall()
        return [row[0] for row in new_ids]

    # -- reading ------------------------------------------------------------------------------

    def get(self, id: int) -> Record | None:
        """The record with this id, or None (also None for deleted records)."""
        row = self._conn().execute(
            f"SELECT {_RECORD_COLUMNS} FROM images WHERE id = ? AND deleted IS NULL", (id,)
        ).fetchone()
        return self._record(row) if row else None

    def _require(self, id: int) -> Record:
        """The record with this id, or GalleryError."""
        record = self.get(id)
        if record is None:
            raise GalleryError(f"Image {id} is not in the gallery (it may have been deleted).")
        return record

    def query(
        self,
        text: str = "",
        favourites_only: bool = False,
        offset: int = 0,
        limit: int = 200,
        newest_first: bool = True,
    ) -> list[Record]:
        """A page of visible records whose prompt or negative contains every word of `text`.

        Words match as prefixes of prompt words (FTS5), or as substrings when FTS5 is missing.
        "Newest" is the order images entered the gallery.
        """
        where, args = _where(text, favourites_only, self.has_fts)
        order = "DESC" if newest_first else "ASC"
        rows = self._conn().execute(
            f"SELECT {_RECORD_COLUMNS} FROM images WHERE {where} ORDER BY id {order} LIMIT ? OFFSET ?",
            (*args, max(0, int(limit)), max(0, int(offset))),
        ).fetchall()
        return [self._record(row) for row in rows]

    def count(self, text: str = "", favourites_only: bool = False) -> int:
        """How many visible records `query` would page through."""
        where, args = _where(text, favourites_only, self.has_fts)
        return self._conn().execute(f"SELECT COUNT(*) FROM images WHERE {where}", args).fetchone()[0]

    def ids(self, text: str = "", favourites_only: bool = False, newest_first: bool = True) -> list[int]:
        """Ids of all visible matching records, in `query` order (for a virtualised view)."""
        where, args = _where(text, favourites_only, self.has_fts)
        order = "DESC" if newest_first else "ASC"
        rows = self._conn().execute(f"SELECT id FROM images WHERE {where} ORDER BY id {order}", args)
        return [row[0] for row in rows]

    def missing(self) -> list[int]:
        """Ids of visible records whose image file is no longer on disk."""
        rows = self._conn().execute("SELECT id, path FROM images WHERE deleted IS NULL").fetchall()
        return [id_ for id_, rel in rows if not self._abs(rel).is_file()]

    # -- changing -----------------------------------------------------------------------------

    def set_favourite(self, id: int, on: bool) -> None:
        """Mark or unmark a record as favourite."""
        with self._write_lock, self._conn() as conn:
            cursor = conn.execute(
                "UPDATE images SET favourite = ? WHERE id = ? AND deleted IS NULL", (int(bool(on)), id)
            )
        if cursor.rowcount == 0:
            raise GalleryError(f"Image {id} is not in the gallery (it may have been deleted).")

    def thumbnail(self, id: int) -> Path:
        """Path of the record's thumbnail, regenerated from the image when it is missing."""
        record = self._require(id)
        if record.thumb_path.is_file():
            return record.thumb_path
        if not record.exists:
            raise GalleryError(
                f"Cannot make a thumbnail for image {id}: its file {record.path} is missing. "
                "Restore the file or delete the entry."
            )
        try:
            with Image.open(record.path) as opened:
                opened.draft("RGB", (THUMB_SIZE, THUMB_SIZE))
                _write_thumbnail(opened, record.thumb_path)
        except (UnidentifiedImageError, OSError) as exc:
            raise GalleryError(f"Cannot read {record.path} to make its thumbnail: {exc}") from exc
        return record.thumb_path

    def delete(self, ids: Sequence[int]) -> DeleteToken:
        """Move the images and thumbnails to the trash and hide their rows; undo with undo_delete."""
        token = datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]
        with self._write_lock:
            conn = self._conn()
            wanted = list(dict.fromkeys(int(i) for i in ids))
            rows = []
            for start in range(0, len(wanted), 500):  # stay under old SQLite's 999-parameter limit
                chunk = wanted[start : start + 500]
                rows += conn.execute(
                    "SELECT id, path, thumb_path FROM images WHERE deleted IS NULL "
                    f"AND id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            moved: list[tuple[Path, Path]] = []
            try:
                for _id, rel_image, rel_thumb in rows:
                    for live, trashed in self._trash_pairs(token, rel_image, rel_thumb):
                        if _move(live, trashed):
                            moved.append((live, trashed))
                with conn:
                    conn.executemany(
                        "UPDATE images SET deleted = ? WHERE id = ?", [(token, row[0]) for row in rows]
                    )
            except BaseException:
                for original, trashed in reversed(moved):
                    _move(trashed, original)
                raise
        return DeleteToken(token, tuple(row[0] for row in rows))

    def undo_delete(self, token: DeleteToken | str) -> list[int]:
        """Restore the files and rows of one delete; returns the restored ids."""
        token_str = token.token if isinstance(token, DeleteToken) else str(token)
        with self._write_lock:
            conn = self._conn()
            rows = conn.execute(
                "SELECT id, path, thumb_path FROM images WHERE deleted = ?", (token_str,)
            ).fetchall()
            if not rows:
                raise GalleryError(
                    "Nothing to undo: those images were already restored or the trash was emptied."
                )
            for _id, rel_image, rel_thumb in rows:
                for live, trashed in self._trash_pairs(token_str, rel_image, rel_thumb):
                    _move(trashed, live)
            with conn:
                conn.execute("UPDATE images SET deleted = NULL WHERE deleted = ?", (token_str,))
        shutil.rmtree(self.trash_dir / token_str, ignore_errors=True)
        shutil.rmtree(self.thumbs_trash_dir / token_str, ignore_errors=True)
        return [row[0] for row in rows]

    def _trash_pairs(self, token: str, rel_image: str, rel_thumb: str) -> list[tuple[Path, Path]]:
        """(live path, trash path) for a record's image and thumbnail."""
        return [
            (self._abs(rel_image), self.trash_dir / token / rel_image),
            (self._abs_thumb(rel_thumb), self.thumbs_trash_dir / token / rel_thumb),
        ]

    def purge_trash(self) -> int:
        """Delete trashed files and rows for good; returns how many records were removed."""
        with self._write_lock, self._conn() as conn:
            cursor = conn.execute("DELETE FROM images WHERE deleted IS NOT NULL")
            removed = cursor.rowcount
        shutil.rmtree(self.trash_dir, ignore_errors=True)
        shutil.rmtree(self.thumbs_trash_dir, ignore_errors=True)
        return removed


def _created_from_mtime(path: Path) -> str:
    """A file's modification time as a local ISO timestamp."""
    return datetime.fromtimestamp(path.stat().st_mtime).astimezone().isoformat(timespec="seconds")
