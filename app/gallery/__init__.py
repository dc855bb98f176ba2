"""The gallery: generated images on disk with their settings, indexed in SQLite.

store.py holds the Gallery (files, thumbnails, trash, the write path); schema.py the records, the
migrations and the search clause. Import from here: `from app.gallery import Gallery`.

May import: its own modules only (see each for what they import).
"""

from .schema import SCHEMA_VERSION, DeleteToken, GalleryError, Record
from .store import THUMB_SIZE, UNDO_WINDOW, Gallery

__all__ = ["SCHEMA_VERSION", "THUMB_SIZE", "UNDO_WINDOW", "DeleteToken", "Gallery", "GalleryError", "Record"]
