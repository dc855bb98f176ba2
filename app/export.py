"""Batch export: gallery images to several sizes and formats, cropped, fitted or smart-cropped, or
(tileable images) filled by repeating the tile.

Every file keeps its Contract-2 metadata (the generation settings plus an `export` entry), is
written atomically, and never silently replaces an existing file. Crop and fit are Pillow's
ImageOps.fit / ImageOps.pad; only the smart crop (most detail) is ours. The `tile` fit fills each
size with copies of a tileable image (app/tiles.fill: no resize, so it stays crisp); images that are
not tileable get `tile_fallback` instead. `single_tile` adds each tileable image's own pixels, unchanged.

May import: Pillow, numpy (lazily), app.metadata, app.tiles; app.poster (QtGui) lazily, only for records that
carry a poster; no QtWidgets, no torch.
"""

from __future__ import annotations

import os
import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from . import metadata, tiles

FitMode = Literal["crop", "fit", "smart", "tile"]
RESIZE_MODES: tuple[str, ...] = ("crop", "fit", "smart")
FIT_MODES: tuple[str, ...] = (*RESIZE_MODES, "tile")
SINGLE_TILE_LABEL = "tile"
FORMATS: dict[str, str] = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
FORMAT_ALIASES = {"jpg": "jpeg"}
TEMPLATE_FIELDS = ("name", "w", "h", "seed", "id", "label", "date", "fmt")
DEFAULT_TEMPLATE = "{name}_{w}x{h}_{seed}"
NAME_MAX = 40
STEM_MAX = 150  # leaves room for " (NN).webp" within every OS's 255-byte name limit
MAX_SPEC_NUMBER = STEM_MAX  # a width or precision in a template field: no name is longer anyway
SMART_ANALYSIS_SIDE = 256  # long side of the grey copy used to score smart-crop windows

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}
_UNSAFE_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')


class ExportError(Exception):
    """An export problem the user can act on (bad template, unwritable folder, missing image)."""


@dataclass
class ExportTarget:
    """One output size; posters carry their print DPI."""

    width: int
    height: int
    label: str = ""
    dpi: int | None = None

    @classmethod
    def from_preset(cls, preset: Any) -> ExportTarget:
        """The target for an app.sizes.SizePreset (its size, label and print DPI)."""
        return cls(preset.width, preset.height, preset.label, preset.dpi)


@dataclass(kw_only=True)
class ExportOptions:
    """What to export and how: sizes, fit mode, format(s), quality, folder and file-name template.

    `fmt` is one format or a sequence of them; each target is written once per format.
    """

    targets: list[ExportTarget]
    out_dir: Path
    fit: FitMode = "crop"
    pad_color: tuple[int, int, int] = (0, 0, 0)
    fmt: str | Sequence[str] = "png"
    quality: int = 92
    template: str = DEFAULT_TEMPLATE
    overwrite: bool = False
    poster: bool = True  # draw a record's poster text (re-flowed to each size) into its exports
    tile_fallback: FitMode = "crop"  # fit="tile": how images that are not tileable are made
    single_tile: bool = False  # also write each tileable image's own tile, pixels unchanged

    @property
    def formats(self) -> tuple[str, ...]:
        """The requested formats, normalised ('jpg' -> 'jpeg'), each once."""
        return normalise_formats(self.fmt)

    def fit_for(self, record: Any) -> str:
        """The fit one record gets: `tile` only for tileable images, `tile_fallback` for the others."""
        if self.fit != "tile":
            return self.fit
        return "tile" if tiles.tileable_of(getattr(record, "params", None)) != "off" else self.tile_fallback

    def validate(self) -> None:
        """Raise ExportError for any option the export cannot use."""
        if not self.targets and not self.single_tile:
            raise ExportError("No export sizes chosen; add at least one size.")
        for target in self.targets:
            if target.width < 1 or target.height < 1:
                raise ExportError(f"Export size {target.width}x{target.height} must be at least 1x1 px.")
        if self.fit not in FIT_MODES:
            raise ExportError(f"Unknown fit mode {self.fit!r}; choose crop, fit, smart or tile.")
        if self.tile_fallback not in RESIZE_MODES:
            raise ExportError(f"Unknown fit {self.tile_fallback!r} for images that are not tileable; "
                              "choose crop, fit or smart.")
        if not 1 <= int(self.quality) <= 100:
            raise ExportError(f"Quality {self.quality} must be between 1 and 100.")
        normalise_formats(self.fmt)
        check_template(self.template)


def normalise_formats(fmt: str | Sequence[str]) -> tuple[str, ...]:
    """Format names as FORMATS keys ('jpg' -> 'jpeg'), each once; ExportError for unknown ones."""
    raw = [fmt] if isinstance(fmt, str) else list(fmt)
    result: list[str] = []
    for name in raw:
        key = str(name).lower().lstrip(".")
        key = FORMAT_ALIASES.get(key, key)
        if key not in FORMATS:
            raise ExportError(f"Unknown export format {name!r}; choose png, jpeg or webp.")
        if key not in result:
            result.append(key)
    if not result:
        raise ExportError("No export format chosen; choose png, jpeg or webp.")
    return tuple(result)


@dataclass
class ExportItem:
    """One planned file: which record, at which size and format, to which path."""

    record: Any  # app.gallery.Record, or anything with path, id, seed, prompt, created, params
    target: ExportTarget
    dest: Path
    fmt: str = "png"
    single_tile: bool = False  # the image's own pixels, unchanged (target = the tile's size)


@dataclass
class ExportReport:
    """What a run did: files written, items skipped or failed (with reasons), and whether cancelled."""

    written: list[Path] = field(default_factory=list)
    written_items: list[ExportItem] = field(default_factory=list)  # the item of each written path
    skipped: list[tuple[ExportItem, str]] = field(default_factory=list)
    failed: list[tuple[ExportItem, str]] = field(default_factory=list)
    cancelled: bool = False
    spans: list[Any] = field(default_factory=list)  # app.span_export.SpanResult, for a span export


# ---------------------------------------------------------------------------------------------
# File names
# ---------------------------------------------------------------------------------------------

def slugify(text: str, max_len: int = NAME_MAX) -> str:
    """ASCII slug of a prompt ('Neon city, at night!' -> 'neon-city-at-night'), cut at a word."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_len:
        cut = slug[: max_len + 1]
        slug = cut.rsplit("-", 1)[0] if "-" in cut[1:] else slug[:max_len]
        slug = slug[:max_len].strip("-")
    return slug or "untitled"


def safe_filename(stem: str) -> str:
    """A file stem valid on Windows, macOS and Linux (no separators, reserved names or odd ends)."""
    cleaned = _UNSAFE_CHARS.sub("_", stem).strip().rstrip(". ")
    cleaned = cleaned[:STEM_MAX].rstrip(". ")
    if not cleaned or cleaned in {".", ".."}:
        cleaned = "image"
    if cleaned.split(".")[0].upper() in _WINDOWS_RESERVED:
        cleaned = "_" + cleaned
    return cleaned


def _check_spec(template: str, spec: str) -> None:
    """Refuse a format spec that nests fields or asks for a width or precision over MAX_SPEC_NUMBER:
    `{w:>2147483647}` would build a 2 GB string on every keystroke in the export dialog."""
    numbers = re.findall(r"\d+", spec)
    if "{" in spec or any(len(n) > 3 or int(n) > MAX_SPEC_NUMBER for n in numbers):
        raise ExportError(
            f"The format {spec!r} in file-name template {template!r} is too wide: widths and "
            f"precisions go up to {MAX_SPEC_NUMBER}, and fields cannot nest."
        )


def check_template(template: str) -> None:
    """Raise ExportError naming the first unknown or malformed field of a file-name template."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ExportError(
            f"File-name template {template!r} is malformed ({exc}); write fields as {{name}} "
            "and a literal brace as {{ or }}."
        ) from exc
    for _literal, field_name, spec, _conversion in parsed:
        if field_name is None:
            continue
        _check_spec(template, spec or "")
        if field_name not in TEMPLATE_FIELDS:
            shown = field_name or "{}"
            raise ExportError(
                f"Unknown field {shown!r} in file-name template {template!r}; "
                f"use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}."
            )


def _record_date(record: Any) -> str:
    """The record's creation date as YYYY-MM-DD (today when unknown)."""
    try:
        return datetime.fromisoformat(str(record.created)).strftime("%Y-%m-%d")
    except (AttributeError, TypeError, ValueError):
        return datetime.now().strftime("%Y-%m-%d")


def render_name(template: str, record: Any, target: ExportTarget, fmt: str) -> str:
    """The file stem for one record, size and format (without extension or suffix)."""
    check_template(template)
    seed = getattr(record, "seed", None)
    values = {
        "name": slugify(getattr(record, "prompt", "") or ""),
        "w": target.width,
        "h": target.height,
        "seed": seed if seed is not None else "noseed",
        "id": getattr(record, "id", None) if getattr(record, "id", None) is not None else "x",
        "label": target.label or f"{target.width}x{target.height}",
        "date": _record_date(record),
        "fmt": fmt,
    }
    try:
        stem = template.format(**values)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ExportError(f"Cannot fill the file-name template {template!r}: {exc}.") from exc
    return safe_filename(stem)


def _with_suffix_number(stem: str, ext: str, n: int) -> str:
    """'name.png' for n == 1, else 'name (n).png'."""
    return f"{stem}{ext}" if n == 1 else f"{stem} ({n}){ext}"


def _free_path(folder: Path, stem: str, ext: str, taken: set[str], overwrite: bool) -> Path:
    """The first name not taken by the plan (and, unless overwrite, not on disk) with (2), (3)..."""
    n = 1
    while True:
        name = _with_suffix_number(stem, ext, n)
        path = folder / name
        if name.lower() not in taken and (overwrite or not path.exists()):
            taken.add(name.lower())  # case-insensitive: Windows and macOS treat A.png == a.png
            return path
        n += 1


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------

def plan_export(records: Iterable[Any], options: ExportOptions) -> list[ExportItem]:
    """Every file the export will write: record x target x format, with unique destination paths.

    Existing files and names repeated within the plan get " (2)", " (3)"... suffixes; with
    overwrite=True existing files are replaced, but two planned items never share a path.
    """
    options.validate()
    out_dir = Path(options.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"The export folder {out_dir} is a file; choose a folder.")
    taken: set[str] = set()
    items = []
    for record in records:
        singles = [(tile_target(record), True)] if options.single_tile and is_tileable(record) else []
        for target, single in [(t, False) for t in options.targets] + singles:
            for fmt in options.formats:
                stem = render_name(options.template, record, target, fmt)
                dest = _free_path(out_dir, stem, FORMATS[fmt], taken, options.overwrite)
                items.append(ExportItem(record=record, target=target, dest=dest, fmt=fmt, single_tile=single))
    return items


def is_tileable(record: Any) -> bool:
    """Whether the record's image was made tileable (its settings say x, y or both)."""
    return tiles.tileable_of(getattr(record, "params", None)) != "off"


FIT_WORDS = {"crop": "center-cropped", "fit": "fitted with padding", "smart": "smart-cropped"}


def tile_note(records: Iterable[Any], options: ExportOptions) -> str:
    """What the tile options do to these records, for the plan text ('' when they do nothing)."""
    records = list(records)
    tileable = sum(is_tileable(r) for r in records)
    notes = []
    if options.fit == "tile" and tileable:
        notes.append(f"{tileable} tileable image{'s are' if tileable != 1 else ' is'} filled by repeating "
                     "the tile (no resize)")
    if options.fit == "tile" and len(records) > tileable:
        others = len(records) - tileable
        notes.append(f"{others} image{'s are' if others != 1 else ' is'} not tileable and "
                     f"{'are' if others != 1 else 'is'} {FIT_WORDS[options.tile_fallback]} instead")
    if options.single_tile and tileable:
        notes.append(f"the single tile of {tileable} image{'s' if tileable != 1 else ''} is written as it is")
    return "; ".join(notes)


def tile_target(record: Any) -> ExportTarget:
    """The target of a record's single tile: its own size, labelled "tile"."""
    return ExportTarget(int(record.width or 0), int(record.height or 0), SINGLE_TILE_LABEL)


# ---------------------------------------------------------------------------------------------
# Resizing
# ---------------------------------------------------------------------------------------------

def _cover_box(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[float, float]:
    """Size (w, h) in source pixels of the largest window with the target's aspect ratio."""
    if src_w * dst_h > src_h * dst_w:  # source is wider than the target: crop left/right
        return src_h * dst_w / dst_h, float(src_h)
    return float(src_w), src_w * dst_h / dst_w


def smart_crop_box(image: Image.Image, dst_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Source window with the target's aspect ratio holding the most detail (edge energy).

    The window spans the whole image on one axis, so it only slides along the other ("free")
    axis; each position is scored by the summed gradient magnitude inside it, computed on a
    small grey copy with prefix sums (the 1-D case of an integral image). Ties go to the centre.
    """
    import numpy as np  # lazy: keeps `import app.export` light for the UI

    src_w, src_h = image.size
    dst_w, dst_h = dst_size
    box_w, box_h = _cover_box(src_w, src_h, dst_w, dst_h)
    horizontal = box_w < src_w - 1e-6
    vertical = box_h < src_h - 1e-6
    if not (horizontal or vertical):
        return 0.0, 0.0, float(src_w), float(src_h)

    # 1. Small grey copy and its gradient magnitude (H, W)
    scale = min(1.0, SMART_ANALYSIS_SIDE / max(src_w, src_h))
    small_size = (max(2, round(src_w * scale)), max(2, round(src_h * scale)))
    grey = np.asarray(image.convert("L").resize(small_size, Image.Resampling.BOX), dtype=np.float32)
    energy = np.zeros_like(grey)
    energy[:, 1:] += np.abs(np.diff(grey, axis=1))
    energy[1:, :] += np.abs(np.diff(grey, axis=0))

    # 2. Energy per position along the free axis, and its prefix sums
    profile = energy.sum(axis=0 if horizontal else 1)  # (W,) or (H,)
    prefix = np.concatenate([[0.0], np.cumsum(profile, dtype=np.float64)])
    length = len(profile)
    src_len = src_w if horizontal else src_h
    window = max(1, min(length, round((box_w if horizontal else box_h) * length / src_len)))

    # 3. Score every window start; among the best, take the one nearest the centre
    scores = prefix[window:] - prefix[:-window]  # (length - window + 1,)
    best = scores.max()
    starts = np.nonzero(scores >= best - max(1e-6, abs(best) * 1e-6))[0]
    centre = (length - window) / 2
    start = int(starts[np.argmin(np.abs(starts - centre))])

    # 4. Map back to source pixels, clamped inside the image
    free_box = box_w if horizontal else box_h
    offset = min(max(0.0, start * src_len / length), src_len - free_box)
    if horizontal:
        return offset, 0.0, offset + box_w, float(src_h)
    return 0.0, offset, float(src_w), offset + box_h


def resize_to_target(
    image: Image.Image, target: ExportTarget, fit: str = "crop", pad_color: tuple[int, int, int] = (0, 0, 0)
) -> Image.Image:
    """The image at exactly target.width x target.height using the given fit mode."""
    size = (int(target.width), int(target.height))
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or image.mode == "P" else "RGB")
    resample = Image.Resampling.LANCZOS
    if fit == "fit":
        colour = tuple(pad_color) + ((255,) if image.mode == "RGBA" else ())
        return ImageOps.pad(image, size, resample, color=colour)
    if fit == "crop":
        return ImageOps.fit(image, size, resample)
    if fit == "tile":
        return tiles.fill(image, size)
    if fit == "smart":
        box = smart_crop_box(image, size)
    else:
        raise ExportError(f"Unknown fit mode {fit!r}; choose crop, fit, smart or tile.")
    return image.resize(size, resample, box=box, reducing_gap=3.0)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

def _export_params(item: ExportItem, options: ExportOptions) -> dict:
    """The record's generation settings plus what this export did to it."""
    params = dict(getattr(item.record, "params", None) or {})
    params["export"] = {
        "width": item.target.width,
        "height": item.target.height,
        "label": item.target.label,
        "dpi": item.target.dpi,
        "fit": "single tile" if item.single_tile else options.fit_for(item.record),
        "format": item.fmt,
        "source_id": getattr(item.record, "id", None),
        "exported": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    return params


def load_source(record: Any) -> Image.Image:
    """The record's image, fully loaded; ExportError when missing or unreadable."""
    path = Path(record.path)
    if not path.is_file():
        raise ExportError(f"The image file {path} is missing; restore it or remove it from the export.")
    try:
        with Image.open(path) as opened:
            opened.load()
            return opened.copy()
    except (UnidentifiedImageError, OSError) as exc:
        raise ExportError(f"Cannot read the image {path}: {exc}") from exc


def ensure_out_dir(out_dir: Path) -> None:
    """Create the export folder if needed; ExportError when it cannot be created or written."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(
            f"Cannot create the export folder {out_dir}: {exc.strerror or exc}. Choose another folder."
        ) from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ExportError(
            f"Cannot write to the export folder {out_dir}: permission denied. Choose another folder."
        )


def _write(item: ExportItem, options: ExportOptions, source: Image.Image) -> Path:
    """Resize one source image and save it atomically with metadata; returns the path written."""
    dest = item.dest
    if not options.overwrite and dest.exists():  # appeared after planning: take the next free name
        stem = re.sub(r" \(\d+\)$", "", dest.stem)
        dest = _free_path(dest.parent, stem, dest.suffix, set(), overwrite=False)
    params = _export_params(item, options)
    if item.single_tile:  # the original pixels, unchanged: no resize and no poster text over the seams
        image = source
        params.pop("poster", None)
        params["export"].update(width=source.width, height=source.height)
    else:
        image = resize_to_target(source, item.target, options.fit_for(item.record), options.pad_color)
        image = _with_poster(image, params, options)
    if item.fmt == "jpeg" and image.mode != "RGB":
        image = image.convert("RGB")
    with write_errors(dest, dest):
        return Path(metadata.save_image(
            image, dest, params, fmt=item.fmt,
            quality=int(options.quality), dpi=item.target.dpi,
        ))


@contextmanager
def write_errors(place: Any, what: Any) -> Iterator[None]:
    """A failed write as an ExportError with a clear message: "Cannot write {place}: permission
    denied..." or "Cannot write {what}: {reason}." (used by every export writer)."""
    try:
        yield
    except metadata.MetadataError as exc:
        raise ExportError(str(exc)) from exc
    except PermissionError as exc:
        raise ExportError(f"Cannot write {place}: permission denied. Choose another folder.") from exc
    except OSError as exc:
        raise ExportError(f"Cannot write {what}: {exc.strerror or exc}.") from exc


def _with_poster(image: Image.Image, params: dict, options: ExportOptions) -> Image.Image:
    """image with the record's poster drawn in, laid out afresh for this size (issue 13); the poster
    is dropped from params when it is not drawn."""
    if not params.get("poster"):
        return image
    if not options.poster:
        params.pop("poster")
        return image
    from .poster.model import Poster, PosterError
    from .poster.render import render_image

    try:
        return render_image(image, Poster.from_dict(params["poster"]))[0]
    except (PosterError, ValueError) as exc:  # FontError is a ValueError
        raise ExportError(f"Cannot draw the poster text: {exc}") from exc


def export_one(item: ExportItem, options: ExportOptions) -> Path:
    """Write one planned file; returns the path written (a suffixed name if dest appeared meanwhile)."""
    ensure_out_dir(item.dest.parent)
    return _write(item, options, load_source(item.record))


def run_export(
    items: Sequence[ExportItem],
    options: ExportOptions,
    on_progress: Callable[[int, int, Path | None], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> ExportReport:
    """Write every planned file, reporting progress after each; cancel stops between files.

    Raises ExportError before writing anything when the options or the folder are unusable;
    per-file problems land in the report (missing sources under `skipped`, errors under `failed`).
    """
    options.validate()
    for folder in sorted({item.dest.parent for item in items}):
        ensure_out_dir(folder)
    report = ExportReport()
    total = len(items)
    cached_path: Path | None = None
    cached_image: Image.Image | None = None
    for done, item in enumerate(items, start=1):
        if should_cancel is not None and should_cancel():
            report.cancelled = True
            break
        written: Path | None = None
        try:
            source_path = Path(item.record.path)
            if source_path != cached_path or cached_image is None:  # plans group items by record
                cached_path, cached_image = None, None
                cached_image, cached_path = load_source(item.record), source_path
            written = _write(item, options, cached_image)
            report.written.append(written)
            report.written_items.append(item)
        except ExportError as exc:
            bucket = report.skipped if not Path(item.record.path).is_file() else report.failed
            bucket.append((item, str(exc)))
        except (OSError, ValueError) as exc:
            report.failed.append((item, f"Cannot write {item.dest}: {exc}"))
        if on_progress is not None:
            on_progress(done, total, written)
    return report
