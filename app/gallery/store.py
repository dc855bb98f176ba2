"""The gallery store: every generated image kept on disk with its settings, indexed in SQLite.

Layout under the gallery root::

    gallery.sqlite3          index (WAL mode, schema version in PRAGMA user_version)
    images/YYYY-MM/*.png     the images, with Contract-2 metadata
    thumbs/YYYY-MM/*.jpg     256 px thumbnails (regenerated when missing)
    trash/TOKEN/...          deleted files until `purge_trash()`, so a delete can be undone

The default gallery (no root given) lives in paths.gallery_dir() and keeps its thumbnails in the
cache, paths.thumbnail_dir(). Paths are stored relative to these folders, so they can be moved.
The worker writes a record with `Gallery.add` (app.worker.Worker._store); the UI reads, stars and
deletes through the same object from the UI thread.

A damaged database is set aside and rebuilt from the images' metadata, a read-only one is opened
for reading (app.gallery.recovery); `notice` says which. Connections come from a small pool.

May import: sqlite3, Pillow, app.metadata, app.paths, app.atomic, app.gallery.schema, .recovery; no Qt.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image

from .. import metadata, paths
from ..atomic import atomic_write
from . import recovery, schema
from .schema import _RECORD_COLUMNS, DB_NAME, INSERT_SQL, DeleteToken, GalleryError, Record

IMAGES_DIR = "images"
THUMBS_DIR = "thumbs"
TRASH_DIR = "trash"
THUMB_SIZE = 256
THUMB_SUFFIX = ".jpg"
THUMB_QUALITY = 85
UNDO_WINDOW = timedelta(seconds=15)  # how long the gallery panel offers to undo a delete
POOL_SIZE = 4  # idle SQLite connections kept for reuse (UI, engine, two thumbnail threads)
TOKEN_TIME_FORMAT = "%Y%m%d-%H%M%S"  # a delete token starts with its time, so old trash can be told apart


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
        self._idle: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        self.read_only = False
        self.notice: str | None = None  # what the window should say about how the gallery opened
        self.has_fts = False
        recovery.open_or_recover(self)

    def _prepare(self) -> None:
        """Migrate, check and inspect the database (raw sqlite3 errors, for recovery.open_or_recover)."""
        conn = self._open()
        try:
            recovery.check(conn)  # before any write: a damaged file is kept as it was found
            if not self.read_only:
                with self._write_lock:
                    schema.migrate(conn, self.db_path)
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    conn.execute(f"PRAGMA user_version = {int(version)}")  # fails at once when read-only
            self.has_fts = bool(
                conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'images_fts'").fetchone()
            )
        except BaseException:
            conn.close()
            raise
        with self._pool_lock:
            self._idle.append(conn)

    # -- connections ------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        """A new connection to the database (WAL, foreign keys on); raw sqlite3 errors."""
        if self.read_only:
            return sqlite3.connect(f"{self.db_path.as_uri()}?mode=ro&immutable=1", uri=True, timeout=30,
                                   check_same_thread=False)
        conn = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """Borrow a connection from the pool for one call, and give it back afterwards.

        Connections are not tied to threads: a PySide6 QThread or QThreadPool thread may look like a
        new Python thread on every slot call, so a thread-local cache leaked one connection (and its
        file descriptors) per call. At most POOL_SIZE idle connections are kept; close() closes them.
        """
        with self._pool_lock:
            if self._closed:
                raise GalleryError("The gallery is closed.")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            try:
                conn = self._open()
            except sqlite3.Error as exc:
                raise GalleryError(f"Cannot open the gallery database {self.db_path}: {exc}.") from exc
        try:
            yield conn
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.rollback()
            raise GalleryError(f"The gallery database {self.db_path} cannot be used: {exc}.") from exc
        finally:
            with self._pool_lock:
                keep = not self._closed and len(self._idle) < POOL_SIZE
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A pooled connection inside the write lock and one transaction (commit, or roll back)."""
        if self.read_only:
            raise GalleryError(self.notice or f"The gallery {self.db_path} is read-only.")
        with self._write_lock, self._db() as conn, conn:
            yield conn

    def close(self) -> None:
        """Close every idle connection (from any thread); the gallery cannot be used afterwards.

        A connection still in use is closed when its call gives it back."""
        with self._pool_lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

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
        except (ValueError, RecursionError):
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
            schema.int_or_none(params.get("width")) or size[0], schema.int_or_none(params.get("height")) or size[1],
            schema.int_or_none(params.get("seed")), schema.int_or_none(params.get("steps")),
            schema.float_or_none(params.get("guidance")),
            None if params.get("model") is None else str(params.get("model")),
            kv, str(params.get("created") or _now_iso()),
            json.dumps(params, ensure_ascii=False, default=str),
        )

    def _insert(self, values: tuple) -> int:
        """Insert one row and return its id."""
        with self._write() as conn:
            cursor = conn.execute(INSERT_SQL, values)
            return int(cursor.lastrowid)

    # -- adding -------------------------------------------------------------------------------

    def add(self, image: Image.Image, params: dict) -> Record:
        """Save a generated image (PNG with metadata), its thumbnail and its row; all or nothing."""
        params = dict(params)
        params.setdefault("created", _now_iso())
        params.setdefault("width", image.width)
        params.setdefault("height", image.height)
        image_path = self._new_image_path(params["created"], schema.int_or_none(params.get("seed")), ".png")
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

    def import_images(self, files: Iterable[Path]) -> tuple[list[Record], list[str]]:
        """Copy image files into the gallery with the settings they carry (File ▸ Import images…).

        The files are copied and thumbnailed one by one, then indexed in one transaction
        (add_bulk). Returns the new records and one message per file that could not be imported.
        """
        entries: list[tuple[Path, dict]] = []
        errors: list[str] = []
        for file in files:
            try:
                entries.append(self._copy_in(Path(file)))
            except GalleryError as exc:
                errors.append(str(exc))
        try:
            ids = self.add_bulk(entries)
        except BaseException:
            for image_path, _params in entries:
                _unlink_quietly(image_path)
                _unlink_quietly(self._thumb_for(image_path))
            raise
        return [record for record in map(self.get, ids) if record is not None], errors

    def import_image(self, path: Path) -> Record:
        """Copy one image file into the gallery (see import_images); GalleryError when it cannot."""
        records, errors = self.import_images([path])
        if errors:
            raise GalleryError(errors[0])
        return records[0]

    def _copy_in(self, src: Path) -> tuple[Path, dict]:
        """Copy a file under images/ with its thumbnail; returns (copy, settings read from it)."""
        if not src.is_file():
            raise GalleryError(f"Cannot import {src}: the file does not exist.")
        try:
            with Image.open(src) as opened:
                opened.load()
                image = opened.copy()
                fmt = (opened.format or "").lower()
        except Image.DecompressionBombError as exc:
            raise GalleryError(f"Cannot import {src}: the image is too large to open safely.") from exc
        except Exception as exc:  # noqa: BLE001 - any file Pillow cannot read is refused by name
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
        image_path = self._new_image_path(params["created"], schema.int_or_none(params.get("seed")), suffix)
        thumb_path = self._thumb_for(image_path)
        image_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            atomic_write(image_path, lambda tmp: shutil.copyfile(src, tmp))
            _write_thumbnail(image, thumb_path)
        except BaseException:
            _unlink_quietly(image_path)
            _unlink_quietly(thumb_path)
            raise
        return image_path, params

    def add_bulk(self, entries: Iterable[tuple[Path, dict]]) -> list[int]:
        """Index image files already under images/ in one transaction (no files written).

        import_images uses it after copying the files in; thumbnails missing then are made on the
        first `thumbnail(id)` call. Paths outside the gallery's images folder raise GalleryError.
        """
        rows = []
        for image_path, params in entries:
            image_path = Path(image_path)
            if not image_path.is_relative_to(self.images_dir):
                raise GalleryError(
                    f"{image_path} is not inside {self.images_dir}; use import_image to copy it in."
                )
            size = (schema.int_or_none(params.get("width")) or 0, schema.int_or_none(params.get("height")) or 0)
            rows.append(self._row_values(image_path, self._thumb_for(image_path), params, size))
        with self._write() as conn:
            # AUTOINCREMENT ids only grow and writers hold the lock, so the new rows are those above
            last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM images").fetchone()[0]
            conn.executemany(INSERT_SQL, rows)
            new_ids = conn.execute("SELECT id FROM images WHERE id > ? ORDER BY id", (last,)).fetchall()
        return [row[0] for row in new_ids]

    # -- reading ------------------------------------------------------------------------------

    def get(self, id: int) -> Record | None:
        """The record with this id, or None (also None for deleted records)."""
        with self._db() as conn:
            row = conn.execute(
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
        where, args = schema.where(text, favourites_only, self.has_fts)
        order = "DESC" if newest_first else "ASC"
        with self._db() as conn:
            rows = conn.execute(
                f"SELECT {_RECORD_COLUMNS} FROM images WHERE {where} ORDER BY id {order} LIMIT ? OFFSET ?",
                (*args, max(0, int(limit)), max(0, int(offset))),
            ).fetchall()
        return [self._record(row) for row in rows]

    def count(self, text: str = "", favourites_only: bool = False) -> int:
        """How many visible records `query` would page through."""
        where, args = schema.where(text, favourites_only, self.has_fts)
        with self._db() as conn:
            return conn.execute(f"SELECT COUNT(*) FROM images WHERE {where}", args).fetchone()[0]

    def ids(self, text: str = "", favourites_only: bool = False, newest_first: bool = True) -> list[int]:
        """Ids of all visible matching records, in `query` order (for a virtualised view)."""
        where, args = schema.where(text, favourites_only, self.has_fts)
        order = "DESC" if newest_first else "ASC"
        with self._db() as conn:
            rows = conn.execute(f"SELECT id FROM images WHERE {where} ORDER BY id {order}", args).fetchall()
        return [row[0] for row in rows]

    def all_paths(self) -> list[str]:
        """The stored (relative) image path of every record, deleted ones too."""
        with self._db() as conn:
            return [row[0] for row in conn.execute("SELECT path FROM images").fetchall()]

    def settings_values(self, json_path: str) -> set[object]:
        """Every value at one JSON path of the visible records' settings, e.g. '$.batch.key'."""
        sql = "SELECT DISTINCT json_extract(params, ?) FROM images WHERE deleted IS NULL"
        with self._db() as conn:
            return {row[0] for row in conn.execute(sql, (json_path,)).fetchall() if row[0] is not None}

    def missing(self) -> list[int]:
        """Ids of visible records whose image file is no longer on disk."""
        with self._db() as conn:
            rows = conn.execute("SELECT id, path FROM images WHERE deleted IS NULL").fetchall()
        return [id_ for id_, rel in rows if not self._abs(rel).is_file()]

    # -- changing -----------------------------------------------------------------------------

    def set_favourite(self, id: int, on: bool) -> None:
        """Mark or unmark a record as favourite."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE images SET favourite = ? WHERE id = ? AND deleted IS NULL", (int(bool(on)), id)
            )
        if cursor.rowcount == 0:
            raise GalleryError(f"Image {id} is not in the gallery (it may have been deleted).")

    def set_poster(self, id: int, poster: dict | None) -> Record:
        """Keep a poster (app.poster.model.Poster.to_dict) with a record, or remove it (None): in the
        record's params and in its PNG's Contract-2 metadata (pixels untouched); returns the record."""
        record = self._require(id)
        params = {key: value for key, value in record.params.items() if key != "poster"}
        if poster:
            params["poster"] = poster
        if record.path.suffix.lower() == ".png" and record.path.is_file():
            with Image.open(record.path) as opened:
                opened.load()
                image = opened.copy()
            metadata.save_image(image, record.path, params, fmt="png", dpi=params.get("dpi"))
        with self._write() as conn:
            conn.execute("UPDATE images SET params = ? WHERE id = ?", (json.dumps(params, default=str), id))
        return self._require(id)

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
        except Exception as exc:  # noqa: BLE001 - unreadable, damaged or too large: the grid shows why
            raise GalleryError(f"Cannot read {record.path} to make its thumbnail: {exc}") from exc
        return record.thumb_path

    def delete(self, ids: Sequence[int]) -> DeleteToken:
        """Move the images and thumbnails to the trash and hide their rows; undo with undo_delete."""
        token = datetime.now().strftime(TOKEN_TIME_FORMAT) + "-" + uuid.uuid4().hex[:8]
        with self._write_lock, self._db() as conn:
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
        with self._write_lock, self._db() as conn:
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

    def purge_trash(self, older_than: timedelta | None = None) -> int:
        """Delete trashed files and rows for good; returns how many records were removed.

        older_than: only deletes made at least this long ago (None: all). The studio calls it on
        quit with UNDO_WINDOW, so a delete another window could still undo is kept.
        """
        with self._write() as conn:
            tokens = [row[0] for row in conn.execute("SELECT DISTINCT deleted FROM images WHERE deleted IS NOT NULL")]
            expired = [t for t in tokens if _expired(t, older_than)]
            removed = 0
            for token in expired:
                removed += conn.execute("DELETE FROM images WHERE deleted = ?", (token,)).rowcount
        for folder in (self.trash_dir, self.thumbs_trash_dir):
            for child in (folder.iterdir() if folder.is_dir() else []):
                if _expired(child.name, older_than):
                    shutil.rmtree(child, ignore_errors=True)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return removed


def _expired(token: str, older_than: timedelta | None) -> bool:
    """Whether a delete token (or trash folder name) is older than `older_than` (None: always)."""
    if older_than is None:
        return True
    try:
        made = datetime.strptime(token[: len("YYYYmmdd-HHMMSS")], TOKEN_TIME_FORMAT)
    except ValueError:
        return True  # not one of ours: nothing can undo it
    return datetime.now() - made >= older_than


def _created_from_mtime(path: Path) -> str:
    """A file's modification time as a local ISO timestamp."""
    return datetime.fromtimestamp(path.stat().st_mtime).astimezone().isoformat(timespec="seconds")
