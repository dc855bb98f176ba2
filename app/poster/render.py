"""Posters drawn into pictures: the picture fitted to a size, the poster laid out over it and painted
with QPainter, and written as PNG/JPEG/WebP with Contract-2 metadata (its `poster` object included).
The same painting code serves the PDF (app.poster.pdf) and the panel's live preview.

May import: Pillow, QtCore/QtGui, app.metadata, app.atomic, app.poster; no QtWidgets, no torch.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps
from PySide6.QtGui import QImage, QPainter

from .. import metadata
from .layout import Placement, layout
from .model import Poster
from .text import ensure_gui, paint_block

ProgressFn = Callable[[int, int, str], None]
CancelFn = Callable[[], bool]


class PosterExportError(Exception):
    """An export that could not be written (disk full, unwritable folder); nothing was left behind."""


class Cancelled(Exception):
    """The user cancelled the export; nothing was written."""


def pil_to_qimage(image: Image.Image) -> QImage:
    """A deep QImage copy of a PIL image (RGB888 or RGBA8888)."""
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGB")
    fmt = QImage.Format.Format_RGB888 if image.mode == "RGB" else QImage.Format.Format_RGBA8888
    data = image.tobytes()
    return QImage(data, image.width, image.height, len(image.getbands()) * image.width, fmt).copy()


def qimage_to_pil(qimage: QImage) -> Image.Image:
    """The RGB pixels of a QImage as a PIL image."""
    converted = qimage.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = converted.width(), converted.height(), converted.bytesPerLine()
    raw = bytes(converted.constBits())[: stride * height]
    return Image.frombuffer("RGB", (width, height), raw, "raw", "RGB", stride, 1).copy()


def paint_placements(painter: QPainter, placements: list[Placement]) -> None:
    """Draw every placed layer with its resolved colours."""
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    for place in placements:
        paint_block(painter, place.block, place.colour, place.band_opacity, place.band_colour, place.effect_colour)


def fit_image(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """image cropped to size's aspect ratio around its centre and resized to exactly size."""
    image = image.convert("RGB")
    if image.size == tuple(size):
        return image
    return ImageOps.fit(image, (int(size[0]), int(size[1])), Image.Resampling.LANCZOS)


def render_image(image: Image.Image, poster: Poster, size: tuple[int, int] | None = None) -> tuple[Image.Image, list[Placement]]:
    """The picture at size (default its own) with the poster drawn in, and where each layer went."""
    ensure_gui()
    picture = fit_image(image, size or image.size)
    placements = layout(picture, poster)
    canvas = pil_to_qimage(picture)
    painter = QPainter(canvas)
    try:
        paint_placements(painter, placements)
    finally:
        painter.end()
    return qimage_to_pil(canvas), placements


def poster_params(params: dict[str, Any] | None, poster: Poster, **extra: Any) -> dict[str, Any]:
    """Contract-2 settings for a poster file: the picture's settings, `poster`, and extra keys."""
    from ..metadata import build_params

    base = dict(params or {})
    if "prompt" not in base:  # a picture from elsewhere: still write readable settings
        base = {**build_params("", "", 0, 0, 0, 0.0, None, None, "off"), **base}
    base["poster"] = poster.to_dict()
    base.update(extra)
    return base


def check_space(folder: Path, needed: int) -> None:
    """PosterExportError when the folder's disk has less than needed bytes free."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise PosterExportError(f"Cannot write to {folder}: {exc.strerror or exc}") from exc
    if free < needed:
        raise PosterExportError(
            f"Not enough disk space in {folder}: about {needed / 1e6:.0f} MB needed, "
            f"{free / 1e6:.0f} MB free. Free some space or choose another folder."
        )


def export_raster(image: Image.Image, poster: Poster, path: str | os.PathLike[str], size: tuple[int, int] | None = None,
                  params: dict[str, Any] | None = None, quality: int = 95, dpi: int | None = None,
                  on_progress: ProgressFn | None = None, should_cancel: CancelFn | None = None) -> tuple[Path, list[Placement]]:
    """Write the poster as PNG/JPEG/WebP (format from the suffix) at size, atomically; returns the
    path and the placements. Cancelled / PosterExportError leave no file."""
    path = Path(path)
    progress = on_progress or (lambda *_: None)
    target = tuple(size or image.size)
    progress(0, 3, "laying out")
    path.parent.mkdir(parents=True, exist_ok=True)
    check_space(path.parent, target[0] * target[1] * 3 // 2)
    rendered, placements = render_image(image, poster, target)
    if should_cancel and should_cancel():
        raise Cancelled("export cancelled; nothing was written")
    progress(2, 3, "writing")
    data = poster_params(params, poster, width=target[0], height=target[1])
    try:
        metadata.save_image(rendered, path, data, quality=quality, dpi=dpi)
    except OSError as exc:
        raise PosterExportError(f"Cannot write {path}: {exc.strerror or exc}. Nothing was written.") from exc
    progress(3, 3, "done")
    return path, placements
