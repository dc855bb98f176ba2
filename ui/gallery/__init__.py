"""The gallery panel and its parts: model (rows and records), delegate (painting a cell), thumbnails
(loading them off the UI thread) and panel (the widget the window shows).

May import: its own modules.
"""

from ui.gallery.delegate import CELL, GalleryDelegate
from ui.gallery.model import FavouriteRole, GalleryModel, IdRole, RecordRole
from ui.gallery.panel import GalleryPanel

__all__ = ["CELL", "FavouriteRole", "GalleryDelegate", "GalleryModel", "GalleryPanel", "IdRole", "RecordRole"]
