"""The gallery's SQLite schema: the record types, the migrations, and the search clause.

Schema version lives in PRAGMA user_version; MIGRATIONS[n] upgrades a database at version n to
n + 1 (append one per schema change). Search uses FTS5 when this SQLite has it, LIKE otherwise.

May import: the standard library only (no Qt, no Pillow, nothing from the rest of the app).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DB_NAME = "gallery.sqlite3"
SCHEMA_VERSION = 1

_RECORD_COLUMNS = (
    "id, path, thumb_path, prompt, negative, width, height, seed, steps, guidance, model, "
    "kv_compress, created, favourite, params"
)
INSERT_SQL = (
    "INSERT INTO images (path, thumb_path, prompt, negative, width, height, seed, steps, "
    "guidance, model, kv_compress, created, params) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
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


def migrate(conn: sqlite3.Connection, db_path: Path) -> None:
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


def where(text: str, favourites_only: bool, use_fts: bool) -> tuple[str, list[Any]]:
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


def int_or_none(value: Any) -> int | None:
    """int(value), or None when it is missing or not a number."""
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def float_or_none(value: Any) -> float | None:
    """float(value), or None when it is missing or not a number."""
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
