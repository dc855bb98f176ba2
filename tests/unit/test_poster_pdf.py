"""Poster PDFs read back with poppler's tools: page size and bleed (`pdfinfo -box`), real text
(`pdftotext`), the picture's resolution (`pdfimages -list`); and the print check, cancel and a full
disk leaving no file. Skipped where poppler-utils is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from app.poster.model import MM_PER_INCH, make_poster, parse_paper

pytestmark = pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="needs poppler-utils (pdfinfo, pdftotext, pdfimages)")

PT_PER_MM = 72 / MM_PER_INCH


def picture(size=(420, 594)) -> Image.Image:
    rng = np.random.default_rng(3)
    pixels = np.full((size[1], size[0], 3), (200, 120, 60), np.uint8)
    pixels[: size[1] // 2] = rng.integers(0, 256, (size[1] // 2, size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def boxes(path) -> dict[str, list[float]]:
    out = subprocess.run(["pdfinfo", "-box", str(path)], capture_output=True, text=True, check=True).stdout
    found = {}
    for name in ("MediaBox", "TrimBox", "BleedBox"):
        match = re.search(rf"{name}:\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)", out)
        found[name] = [float(v) for v in match.groups()]
    return found


def size_mm(box: list[float]) -> tuple[float, float]:
    return (box[2] - box[0]) / PT_PER_MM, (box[3] - box[1]) / PT_PER_MM


@pytest.fixture(scope="module")
def a4_pdf(tmp_path_factory):
    from PySide6.QtWidgets import QApplication

    _app = QApplication.instance() or QApplication([])
    from app.poster.pdf import export_pdf

    path = tmp_path_factory.mktemp("pdf") / "poster.pdf"
    steps = []
    poster = make_poster("Searchable Title", "and a subtitle", "Lisbon 2026")
    written, placements, check = export_pdf(picture(), poster, parse_paper("a4-portrait"), path,
                                            on_progress=lambda done, total, text: steps.append((done, total)))
    return written, placements, check, steps


def test_pdf_page_is_the_paper_plus_bleed(a4_pdf):
    path, _placements, _check, steps = a4_pdf
    found = boxes(path)
    assert size_mm(found["MediaBox"]) == pytest.approx((216, 303), abs=0.05)  # 210×297 + 2 × 3 mm
    assert size_mm(found["TrimBox"]) == pytest.approx((210, 297), abs=0.05)
    assert size_mm(found["BleedBox"]) == pytest.approx((216, 303), abs=0.05)
    trim, bleed = found["TrimBox"], found["BleedBox"]
    assert trim[0] - bleed[0] == pytest.approx(3 * PT_PER_MM, abs=0.05)
    assert steps[-1] == (4, 4) and [done for done, _ in steps] == sorted(done for done, _ in steps)


def test_pdf_text_is_real_text(a4_pdf):
    path = a4_pdf[0]
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "Searchable Title" in text and "and a subtitle" in text and "Lisbon 2026" in text


def test_pdf_picture_is_embedded_at_300_dpi(a4_pdf):
    path, _placements, check, _steps = a4_pdf
    listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in listing.splitlines()[2:] if line.strip()]
    assert len(rows) == 1
    width, height, x_ppi, y_ppi = int(rows[0][3]), int(rows[0][4]), int(rows[0][12]), int(rows[0][13])
    assert (width, height) == parse_paper("a4-portrait").pixels(300, bleed=True)
    assert x_ppi >= 300 and y_ppi >= 300
    assert not check.ok and "prints at" not in check.message and "will print at" in check.message


def test_print_check_states_the_dpi():
    from app.poster.pdf import print_check

    a3 = parse_paper("a3-portrait")
    small = print_check((512, 724), a3)
    assert not small.ok and round(small.effective_dpi) == 43 and small.refine_size == (3579, 5031)
    assert "43 DPI" in small.message and "3579×5031" in small.message
    big = print_check((3579, 5031), a3)
    assert big.ok and big.refine_size is None


def test_crop_marks_add_a_slug_outside_the_bleed(qapp, tmp_path):
    from app.poster.pdf import SLUG_MM, export_pdf

    path = tmp_path / "marks.pdf"
    export_pdf(picture(), make_poster("Marks"), parse_paper("a4-landscape", bleed_mm=5), path, crop_marks=True)
    found = boxes(path)
    assert size_mm(found["TrimBox"]) == pytest.approx((297, 210), abs=0.05)
    assert size_mm(found["BleedBox"]) == pytest.approx((307, 220), abs=0.05)
    assert size_mm(found["MediaBox"]) == pytest.approx((307 + 2 * SLUG_MM, 220 + 2 * SLUG_MM), abs=0.05)
    page = subprocess.run(["pdftoppm", "-r", "20", "-gray", str(path)], capture_output=True, check=True).stdout
    assert page.startswith(b"P5")  # poppler renders it


def test_pdf_cancel_and_full_disk_leave_no_file(qapp, tmp_path, monkeypatch):
    from app.poster import pdf, render

    out = tmp_path / "out"
    with pytest.raises(render.Cancelled):
        pdf.export_pdf(picture((64, 90)), make_poster("x"), parse_paper("a4"), out / "c.pdf", should_cancel=lambda: True)

    def disk_full(*_args, **_kwargs):  # the disk fills up while the finished PDF gets its boxes
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(pdf, "add_print_boxes", disk_full)
        with pytest.raises(render.PosterExportError, match="No space left on device"):
            pdf.export_pdf(picture((64, 90)), make_poster("x"), parse_paper("a4"), out / "e.pdf")
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(render.shutil, "disk_usage", lambda _p: usage._replace(free=10_000))
    with pytest.raises(render.PosterExportError, match="Not enough disk space"):
        pdf.export_pdf(picture((64, 90)), make_poster("x"), parse_paper("a4"), out / "d.pdf")
    assert list(out.iterdir()) == []
