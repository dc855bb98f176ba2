"""Gallery thumbnails: loaded on a small thread pool, newest requests first, and placeholders.

May import: PySide6; reads thumbnails through the gallery store object it is given (app.gallery).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import (
    QObject,
    Qt,
    QThread,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QImage,
    QPainter,
    QPixmap,
)

from ui.tasks import run_task

ICON_SIZE = 160


def _placeholder(text: str, colour: str) -> QPixmap:
    """A flat square with a short label, shown until (or instead of) a thumbnail."""
    pixmap = QPixmap(ICON_SIZE, ICON_SIZE)
    pixmap.fill(QColor(colour))
    painter = QPainter(pixmap)
    painter.setPen(QColor("#9a9a9a"))
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return pixmap


def _load_thumbnail(gallery: Any, image_id: int) -> QImage:
    """Read (or make) the thumbnail of one record and scale it to the grid's icon size (worker thread)."""
    image = QImage(str(gallery.thumbnail(image_id)))
    if image.isNull():
        raise OSError(f"unreadable thumbnail for image {image_id}")
    return image.scaled(
        ICON_SIZE, ICON_SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


class ThumbnailLoader(QObject):
    """Loads thumbnails on a small thread pool, newest requests first, dropping ones scrolled past."""

    loaded = Signal(int, QImage)
    failed = Signal(int, str)

    MAX_PENDING = 400

    def __init__(self, gallery: Any, parent: QObject | None = None, threads: int | None = None) -> None:
        super().__init__(parent)
        self._gallery = gallery
        self.pool = QThreadPool(self)
        # Leave a core to the UI thread: thumbnails are small, one or two threads keep up.
        self.pool.setMaxThreadCount(threads or max(1, min(2, QThread.idealThreadCount() - 1)))
        self.pool.setExpiryTimeout(-1)  # keep the threads; the gallery pools its SQLite connections
        self._pending: OrderedDict[int, None] = OrderedDict()
        self._in_flight: set[int] = set()
        self._paused = False

    def request(self, image_id: int) -> None:
        """Ask for a thumbnail; a repeated request moves it to the front of the queue."""
        if image_id in self._in_flight:
            return
        self._pending[image_id] = None
        self._pending.move_to_end(image_id)
        while len(self._pending) > self.MAX_PENDING:
            self._pending.popitem(last=False)
        self._pump()

    def clear(self) -> None:
        """Forget queued requests (after a new search); loads already running still finish."""
        self._pending.clear()

    def pause(self) -> None:
        """Start no new loads (while the user scrolls fast, so the UI thread keeps the CPU)."""
        self._paused = True

    def resume(self, keep: set[int] | None = None) -> None:
        """Start loading again, first dropping queued requests not in `keep` (the visible ids)."""
        self._paused = False
        if keep is not None:
            for image_id in [i for i in self._pending if i not in keep]:
                del self._pending[image_id]
        self._pump()

    def _pump(self) -> None:
        while not self._paused and self._pending and len(self._in_flight) < self.pool.maxThreadCount():
            image_id, _ = self._pending.popitem(last=True)
            self._in_flight.add(image_id)
            run_task(
                lambda _ctx, g=self._gallery, i=image_id: _load_thumbnail(g, i),
                on_result=lambda image, i=image_id: self._done(i, image, ""),
                on_error=lambda exc, i=image_id: self._done(i, None, str(exc)),
                pool=self.pool,
                owner=self,
            )

    def _done(self, image_id: int, image: QImage | None, error: str) -> None:
        self._in_flight.discard(image_id)
        if image is not None:
            self.loaded.emit(image_id, image)
        else:
            self.failed.emit(image_id, error)
        self._pump()

    def wait(self, msecs: int = 10000) -> bool:
        """Block until running loads finish (shutdown and tests)."""
        self._pending.clear()
        return self.pool.waitForDone(msecs)
