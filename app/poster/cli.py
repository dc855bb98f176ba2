"""`sigma-studio poster IMAGE --title T [...] --out FILE.pdf|.png|.jpg|.webp` (docs/DESIGN.md Contract 1).

The layout is automatic unless --title-pos/--subtitle-pos/--footer-pos give positions. A PDF is the
paper plus bleed at 300 DPI; an image is the paper's trim size at 300 DPI (or --size WxH). Exit codes
are Contract 1's: 0 written; 2 bad input (one line on stderr, no file); 1 a failure while writing
(disk full, cancelled; no file).

May import: app.poster, app.metadata, Pillow; QtGui through app.poster; no QtWidgets, no torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .model import DEFAULT_BLEED_MM, PRINT_DPI, SAFE_AREAS, PosterError, make_poster, parse_paper

OUT_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".webp")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `poster` subcommand's arguments."""
    poster = sub.add_parser("poster", help="put a title (and subtitle, footer) over an image; PDF or image out")
    poster.add_argument("image", help="the picture (PNG, JPEG or WebP)")
    poster.add_argument("--title", required=True)
    poster.add_argument("--subtitle", default="")
    poster.add_argument("--footer", default="", help="a date, a place, small print")
    poster.add_argument("--paper", default="a3-portrait",
                        help="a4|a3|a2|letter|legal|tabloid|us-18x24|us-24x36, -portrait or -landscape")
    poster.add_argument("--bleed-mm", type=float, default=DEFAULT_BLEED_MM, help="bleed around the paper (PDF)")
    poster.add_argument("--crop-marks", action="store_true", help="crop marks outside the bleed (PDF)")
    poster.add_argument("--font", default=None, help="a font family for every layer (default: the styles' own)")
    poster.add_argument("--safe-area", default="print", choices=SAFE_AREAS)
    poster.add_argument("--size", default=None, help="WxH for an image output (default: the paper at 300 DPI)")
    for role in ("title", "subtitle", "footer"):
        poster.add_argument(f"--{role}-pos", default=None, metavar="X,Y",
                            help=f"the {role}'s anchor and top as fractions 0-1 (default: automatic)")
    poster.add_argument("--out", required=True, help="FILE.pdf, .png, .jpg or .webp")
    return poster


def _position(text: str | None, flag: str) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        x, y = (float(part) for part in text.split(","))
    except ValueError:
        raise PosterError(f"{flag} {text!r}: use X,Y with fractions from 0 to 1, e.g. 0.5,0.1") from None
    if not (0 <= x <= 1 and 0 <= y <= 1):
        raise PosterError(f"{flag} {text!r}: X and Y must be from 0 to 1")
    return x, y


def _check_out(out: str) -> Path:
    path = Path(out).expanduser()
    if path.suffix.lower() not in OUT_SUFFIXES:
        raise PosterError(f"--out {out}: use a .pdf, .png, .jpg or .webp file name")
    if path.is_dir():
        raise PosterError(f"--out {out}: is a folder; give a file name")
    if path.parent.exists() and not path.parent.is_dir():
        raise PosterError(f"--out {out}: {path.parent} is not a folder")
    return path


def _open_image(name: str):
    from PIL import Image, UnidentifiedImageError

    path = Path(name).expanduser()
    try:
        with Image.open(path) as opened:
            opened.load()
            return opened.convert("RGB"), path
    except FileNotFoundError:
        raise PosterError(f"{name}: file not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise PosterError(f"{name}: not an image Sigma Studio can read (PNG, JPEG or WebP): {exc}") from None


def _size(text: str | None, paper) -> tuple[int, int]:
    if not text:
        return paper.pixels(PRINT_DPI)
    try:
        width, height = (int(side) for side in text.lower().split("x"))
    except ValueError:
        raise PosterError(f"--size {text!r}: use WxH, e.g. 3508x4961") from None
    if not (16 <= width <= 20000 and 16 <= height <= 20000):
        raise PosterError(f"--size {text!r}: each side must be 16-20000 pixels")
    return width, height


def _build(args):
    """The poster, paper, output path, picture and its settings from the arguments; PosterError/FontError."""
    from .. import metadata
    from .text import resolve_family

    out = _check_out(args.out)
    paper = parse_paper(args.paper, args.bleed_mm)
    image, source = _open_image(args.image)
    family = resolve_family(args.font) if args.font else None
    poster = make_poster(args.title, args.subtitle, args.footer, family, args.safe_area)
    for layer in poster.layers:
        layer.family = resolve_family(layer.family)  # a missing font is bad input, before any file
        position = _position(getattr(args, f"{layer.role}_pos"), f"--{layer.role}-pos")
        if position:
            layer.x, layer.y = position
    try:
        params = metadata.read_params(source)
    except metadata.MetadataError:
        params = None
    return poster, paper, out, image, params


def _report(placements, started: float, out: Path) -> None:
    for place in placements:
        print(("" if place.contrast.ok else "warning: ") + place.contrast.message, file=sys.stderr)
    print(f"wrote {out} in {time.perf_counter() - started:.1f} s")


def cmd_poster(args) -> int:
    """Run `poster`; bad input raises app.cli.UsageError (exit 2), a failed write returns 1."""
    from ..cli import UsageError
    from .pdf import export_pdf
    from .render import Cancelled, PosterExportError, export_raster
    from .text import FontError

    try:
        poster, paper, out, image, params = _build(args)
        size = _size(args.size, paper)
    except (PosterError, FontError) as exc:
        raise UsageError(str(exc)) from None
    started = time.perf_counter()
    try:
        if out.suffix.lower() == ".pdf":
            _path, placements, check = export_pdf(image, poster, paper, out, crop_marks=args.crop_marks,
                                                  title=args.title)
            print(("" if check.ok else "note: ") + check.message, file=sys.stderr)
        else:
            dpi = None if args.size else PRINT_DPI
            _path, placements = export_raster(image, poster, out, size, params, dpi=dpi)
    except (Cancelled, KeyboardInterrupt):
        print("cancelled; nothing was written", file=sys.stderr)
        return 1
    except PosterExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _report(placements, started, out)
    return 0
