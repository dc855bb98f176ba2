"""Print-ready poster PDFs through Qt's QPdfWriter: the page is the paper plus bleed on every side
(plus a slug for crop marks when asked), the picture covers trim + bleed and is embedded at the
print resolution (300 DPI), the text stays real text (selectable, searchable), and the page carries
TrimBox and BleedBox so print shops and `pdfinfo -box` read the paper and the bleed back.

`print_check` says when the picture has fewer pixels than the paper needs at 300 DPI and the DPI it
would print at; `PrintCheck.refine_size` is the size the refine path (issue 12) should make.

May import: Pillow, QtCore/QtGui, app.poster, app.atomic; no QtWidgets, no torch.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QMarginsF, QRectF, QSizeF
from PySide6.QtGui import QColor, QPageLayout, QPageSize, QPainter, QPdfWriter, QPen

from ..atomic import _create_temp
from .layout import Placement, layout
from .model import MM_PER_INCH, PRINT_DPI, Paper, Poster
from .render import (
    CancelFn,
    Cancelled,
    PosterExportError,
    ProgressFn,
    check_space,
    fit_image,
    paint_placements,
    pil_to_qimage,
)
from .text import ensure_gui

POINTS_PER_INCH = 72.0
CROP_MARK_MM = 5.0  # length of each crop mark
CROP_MARK_GAP_MM = 1.0  # between the bleed edge and a mark
SLUG_MM = CROP_MARK_MM + 2 * CROP_MARK_GAP_MM  # room beyond the bleed for the marks


@dataclass(frozen=True)
class PrintCheck:
    """Whether the picture has the pixels for the paper at 300 DPI, and what it prints at if not."""

    source_size: tuple[int, int]
    needed_size: tuple[int, int]  # trim + bleed at PRINT_DPI
    effective_dpi: float

    @property
    def ok(self) -> bool:
        return self.effective_dpi >= PRINT_DPI - 0.5

    @property
    def refine_size(self) -> tuple[int, int] | None:
        """The size to refine the picture to for a true 300 DPI print (None: it already has it)."""
        return None if self.ok else self.needed_size

    @property
    def message(self) -> str:
        if self.ok:
            return f"The picture has {self.effective_dpi:.0f} DPI on this paper: print quality."
        width, height = self.needed_size
        return (f"The picture ({self.source_size[0]}×{self.source_size[1]}) is smaller than the paper at "
                f"{PRINT_DPI} DPI ({width}×{height} with bleed): it will print at {self.effective_dpi:.0f} DPI. "
                f"It is resampled to {PRINT_DPI} DPI in the PDF; refine it to {width}×{height} for real detail.")


def print_check(source_size: tuple[int, int], paper: Paper) -> PrintCheck:
    """The DPI the picture prints at when it covers the paper and its bleed."""
    needed = paper.pixels(PRINT_DPI, bleed=True)
    scale = max(needed[0] / source_size[0], needed[1] / source_size[1])  # cover: the tighter side decides
    return PrintCheck(tuple(source_size), needed, PRINT_DPI / scale)


def analysis_picture(image: Image.Image, design: tuple[int, int]) -> Image.Image:
    """The picture cropped to the design's aspect ratio at about its own resolution: what the layout
    reads, the same for the PDF, the image exports and the panel's preview of a paper."""
    scale = min(1.0, max(image.size) / max(design))
    return fit_image(image, (max(1, round(design[0] * scale)), max(1, round(design[1] * scale))))


def _mm_to_px(mm: float, dpi: int) -> float:
    return mm / MM_PER_INCH * dpi


def _crop_marks(painter: QPainter, trim: QRectF, dpi: int, bleed_mm: float) -> None:
    """Thin marks at the four corners of the trim, outside the bleed."""
    pen = QPen(QColor("black"), max(1.0, 0.25 / POINTS_PER_INCH * dpi))  # 0.25 pt
    painter.setPen(pen)
    start, length = _mm_to_px(bleed_mm + CROP_MARK_GAP_MM, dpi), _mm_to_px(CROP_MARK_MM, dpi)
    for x, sx in ((trim.left(), -1), (trim.right(), 1)):
        for y, sy in ((trim.top(), -1), (trim.bottom(), 1)):
            painter.drawLine(x + sx * start, y, x + sx * (start + length), y)
            painter.drawLine(x, y + sy * start, x, y + sy * (start + length))


def _box(values: tuple[float, float, float, float]) -> str:
    return "[" + " ".join(f"{v:.3f}" for v in values) + "]"


def add_print_boxes(path: Path, page_pt: tuple[float, float], trim_px: QRectF, bleed_px: QRectF, dpi: int) -> None:
    """Append an incremental update that gives the (single) page its exact MediaBox (Qt rounds page
    sizes to whole points), a TrimBox and a BleedBox. page_pt: the exact page size in points."""
    data = path.read_bytes()
    match = re.search(rb"(\d+) 0 obj\s*<<((?:(?!endobj).)*?/Type\s*/Page(?!s)(?:(?!endobj).)*?)>>\s*endobj", data, re.S)
    startxref = re.findall(rb"startxref\s+(\d+)", data)
    trailer = re.findall(rb"trailer\s*<<(.*?)>>\s*startxref", data, re.S)
    if not match or not startxref or not trailer:
        raise PosterExportError(f"Cannot finish {path.name}: the PDF Qt wrote is incomplete (is the disk full?)")
    number, body = match.group(1), match.group(2)
    media = re.search(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]", body)
    if not media:
        raise PosterExportError(f"Cannot add the trim and bleed boxes to {path.name}: the page has no MediaBox")
    top = float(media.group(4))  # Qt's content keeps its top edge here: y_pt = top - y_px * 72 / dpi
    body = re.sub(rb"/(MediaBox|CropBox)\s*\[[^\]]*\]", b"", body)
    exact = (0.0, top - page_pt[1], page_pt[0], top)
    boxes = (f"/MediaBox {_box(exact)} /TrimBox {_box(_points(trim_px, top, dpi))} "
             f"/BleedBox {_box(_points(bleed_px, top, dpi))} ").encode()
    size = re.search(rb"/Size\s+(\d+)", trailer[-1]).group(1)
    keep = re.sub(rb"/(Size|Prev)\s+\d+", b"", trailer[-1])
    offset = len(data) + 1
    update = b"\n" + number + b" 0 obj\n<<" + body + boxes + b">>\nendobj\n"
    xref_at = offset + len(update) - 1
    update += (b"xref\n" + number + b" 1\n" + f"{offset:010d} 00000 n \n".encode() +
               b"trailer\n<< /Size " + size + b" /Prev " + startxref[-1] + b" " + keep.strip() + b" >>\n" +
               b"startxref\n" + str(xref_at).encode() + b"\n%%EOF\n")
    with open(path, "ab") as handle:
        handle.write(update)


def _page_geometry(paper: Paper, crop_marks: bool, dpi: int) -> tuple[float, QRectF, QRectF]:
    """The margin beyond the trim (mm), and the trim and bleed rectangles in device pixels."""
    margin_mm = paper.bleed_mm + (SLUG_MM if crop_marks else 0.0)
    origin = _mm_to_px(margin_mm, dpi)
    trim = QRectF(origin, origin, _mm_to_px(paper.width_mm, dpi), _mm_to_px(paper.height_mm, dpi))
    bleed = _mm_to_px(paper.bleed_mm, dpi)
    return margin_mm, trim, trim.adjusted(-bleed, -bleed, bleed, bleed)


def _writer(path: Path, paper: Paper, margin_mm: float, dpi: int, title: str) -> QPdfWriter:
    writer = QPdfWriter(str(path))
    writer.setResolution(dpi)
    writer.setCreator("Sigma Studio")
    writer.setTitle(title)
    page = QPageSize(QSizeF(paper.width_mm + 2 * margin_mm, paper.height_mm + 2 * margin_mm),
                     QPageSize.Unit.Millimeter, paper.name, QPageSize.SizeMatchPolicy.ExactMatch)
    writer.setPageLayout(QPageLayout(page, QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0)))
    return writer


def _paint_page(path: Path, picture: Image.Image, placements: list[Placement], paper: Paper,
                crop_marks: bool, dpi: int, title: str) -> None:
    margin_mm, trim, bleed = _page_geometry(paper, crop_marks, dpi)
    writer = _writer(path, paper, margin_mm, dpi, title)
    painter = QPainter()
    if not painter.begin(writer):
        raise PosterExportError(f"Cannot write {path.parent}: the PDF could not be started")
    try:
        painter.drawImage(bleed, pil_to_qimage(picture))
        painter.translate(trim.topLeft())
        paint_placements(painter, placements)
        painter.translate(-trim.topLeft())
        if crop_marks:
            _crop_marks(painter, trim, dpi, paper.bleed_mm)
    finally:
        ended = painter.end()
    if not ended:
        raise PosterExportError(f"Cannot finish {path.name}: the disk may be full")


def _points(rect: QRectF, top_pt: float, dpi: int) -> tuple[float, float, float, float]:
    """A device-pixel rectangle as PDF points (y up from the bottom; the page's top edge at top_pt)."""
    k = POINTS_PER_INCH / dpi
    return rect.left() * k, top_pt - rect.bottom() * k, rect.right() * k, top_pt - rect.top() * k


def export_pdf(image: Image.Image, poster: Poster, paper: Paper, path: str | os.PathLike[str], crop_marks: bool = False,
               dpi: int = PRINT_DPI, title: str = "", on_progress: ProgressFn | None = None,
               should_cancel: CancelFn | None = None) -> tuple[Path, list[Placement], PrintCheck]:
    """Write the poster as a PDF at the paper's exact size plus bleed, atomically.

    Returns the path, where each layer went and the print check. Cancelled (between steps) and
    PosterExportError (disk full, unwritable folder) leave no file behind."""
    ensure_gui()
    path = Path(path)
    progress = on_progress or (lambda *_: None)
    cancelled = should_cancel or (lambda: False)
    check = print_check(image.size, paper)
    bleed_px = paper.pixels(dpi, bleed=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_space(path.parent, bleed_px[0] * bleed_px[1] * 2)
    progress(0, 4, "resampling the picture")
    picture = fit_image(image, bleed_px)
    if cancelled():
        raise Cancelled("export cancelled; nothing was written")
    progress(1, 4, "laying out the text")
    trim_px = paper.pixels(dpi)
    placements = layout(analysis_picture(image, trim_px), poster, *trim_px)
    if cancelled():
        raise Cancelled("export cancelled; nothing was written")
    progress(2, 4, "writing the PDF")
    temp = _create_temp(path)
    try:
        _paint_page(temp, picture, placements, paper, crop_marks, dpi, title or _title_of(poster))
        if cancelled():
            raise Cancelled("export cancelled; nothing was written")
        progress(3, 4, "adding trim and bleed boxes")
        margin_mm, trim, bleed = _page_geometry(paper, crop_marks, dpi)
        page_pt = tuple((side + 2 * margin_mm) / MM_PER_INCH * POINTS_PER_INCH for side in (paper.width_mm, paper.height_mm))
        add_print_boxes(temp, page_pt, trim, bleed, dpi)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        raise PosterExportError(f"Cannot write {path}: {exc.strerror or exc}. Nothing was written.") from exc
    finally:
        temp.unlink(missing_ok=True)
    progress(4, 4, "done")
    return path, placements, check


def _title_of(poster: Poster) -> str:
    title = poster.layer("title")
    return title.text if title is not None else "Poster"
