"""Span export: each image made once at the span canvas size of the user's screens, then written as
one file per screen at its native resolution (app/screens.export_span) plus the whole span picture.

The picture is the source fitted to the canvas with the export's fit (cover crop, padding or smart
crop), or, for a tileable image with the `tile` fit, filled by repeating the tile (no resize). Files
are PNG, written atomically with the image's settings; a name already on disk is never replaced: the
whole group of one image gets the next free stem (`STEM (2)-screen1-…`). Poster text is not drawn
over a span (it would fall behind the bezels) and is left out of the files' settings.

May import: Pillow, app.export, app.metadata, app.screens; no widgets, no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image

from . import metadata
from .export import (
    ExportError,
    ExportOptions,
    ExportReport,
    ExportTarget,
    ensure_out_dir,
    load_source,
    render_name,
    resize_to_target,
    write_errors,
)
from .screens import SpanLayout, export_span, screen_file_name

SPAN_LABEL = "span"


@dataclass
class SpanItem:
    """One image of a span export: the record, the folder and the stem its files share."""

    record: Any
    folder: Path
    stem: str
    layout: SpanLayout

    def file_names(self) -> list[str]:
        """The per-screen file names, then the span picture's."""
        return span_file_names(self.stem, self.layout)


@dataclass
class SpanResult:
    """What one span item wrote: the span picture and one file per screen (in the layout's order), with
    each screen's name and top-left corner (QScreen geometry) in `places`."""

    record: Any
    picture: Path
    screens: list[Path] = field(default_factory=list)
    places: list[tuple[str, int, int]] = field(default_factory=list)


def span_picture_name(stem: str, layout: SpanLayout) -> str:
    """`STEM-span-6400x1440.png`: the whole canvas."""
    return f"{stem}-{SPAN_LABEL}-{layout.size[0]}x{layout.size[1]}.png"


def span_file_names(stem: str, layout: SpanLayout) -> list[str]:
    """Every file one image's span writes: one per screen, then the span picture."""
    screens = [screen_file_name(stem, i, crop.screen) for i, crop in enumerate(layout.crops)]
    return screens + [span_picture_name(stem, layout)]


def _free_stem(folder: Path, stem: str, layout: SpanLayout, taken: set[str]) -> str:
    """stem, else "stem (2)", "stem (3)"...: the first whose files are all unplanned and not on disk."""
    n = 1
    while True:
        candidate = stem if n == 1 else f"{stem} ({n})"
        names = span_file_names(candidate, layout)
        if not any(name.lower() in taken or (folder / name).exists() for name in names):
            taken.update(name.lower() for name in names)
            return candidate
        n += 1


def plan_span(records: Iterable[Any], layout: SpanLayout, options: ExportOptions) -> list[SpanItem]:
    """One SpanItem per record, with a stem (from the file-name template at the canvas size) that
    never replaces a file; ExportError for an unusable template or folder."""
    replace(options, targets=[span_target(layout)], single_tile=False).validate()
    folder = Path(options.out_dir)
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"The export folder {folder} is a file; choose a folder.")
    taken: set[str] = set()
    return [SpanItem(record, folder, _free_stem(folder, render_name(options.template, record, span_target(layout),
                                                                    "png"), layout, taken), layout)
            for record in records]


def span_target(layout: SpanLayout) -> ExportTarget:
    """The canvas as an export target (the {w}, {h} and {label} of the file-name template)."""
    return ExportTarget(layout.size[0], layout.size[1], SPAN_LABEL)


def span_picture(source: Image.Image, record: Any, layout: SpanLayout, options: ExportOptions) -> Image.Image:
    """The source at the canvas size: tile-filled (tileable + `tile` fit) or fitted with the export's fit."""
    fit = options.fit_for(record)
    return resize_to_target(source, span_target(layout), fit, options.pad_color)


def _params(record: Any, layout: SpanLayout, options: ExportOptions, bezel_mm: float) -> dict:
    params = dict(getattr(record, "params", None) or {})
    params.pop("poster", None)
    params["export"] = {
        "width": layout.size[0], "height": layout.size[1], "label": SPAN_LABEL, "dpi": None,
        "fit": options.fit_for(record), "format": "png", "source_id": getattr(record, "id", None),
        "screens": len(layout.crops), "bezel_mm": bezel_mm,
        "exported": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    return params


def write_span(item: SpanItem, options: ExportOptions, bezel_mm: float = 0.0,
               source: Image.Image | None = None) -> SpanResult:
    """Write one image's span: the per-screen files (export_span), then the span picture."""
    source = load_source(item.record) if source is None else source
    picture = span_picture(source, item.record, item.layout, options)
    params = _params(item.record, item.layout, options, bezel_mm)
    stem = _free_stem(item.folder, item.stem, item.layout, set())  # a file may have appeared since planning
    with write_errors(f"to {item.folder}", f"the span of {item.stem}"):
        try:
            screens = export_span(picture, item.layout, item.folder, stem, params)
            whole = metadata.save_image(picture, item.folder / span_picture_name(stem, item.layout),
                                        {**params, "width": picture.width, "height": picture.height}, fmt="png")
        except BaseException:  # all or nothing: the names were free, so nothing of the user's is removed
            for name in span_file_names(stem, item.layout):
                (item.folder / name).unlink(missing_ok=True)
            raise
    places = [(crop.screen.name, crop.screen.x, crop.screen.y) for crop in item.layout.crops]
    return SpanResult(item.record, Path(whole), [Path(p) for p in screens], places)


def run_span(
    items: Sequence[SpanItem],
    options: ExportOptions,
    bezel_mm: float = 0.0,
    on_progress: Callable[[int, int, Path | None], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> ExportReport:
    """Write every planned span, reporting progress after each image; cancel stops between images.

    A missing or unreadable source lands under `skipped`, a write problem under `failed`; the
    report's `spans` holds a SpanResult per image written, `written` all their files.
    """
    for folder in sorted({item.folder for item in items}):
        ensure_out_dir(folder)
    report = ExportReport()
    for done, item in enumerate(items, start=1):
        if should_cancel is not None and should_cancel():
            report.cancelled = True
            break
        written: Path | None = None
        try:
            result = write_span(item, options, bezel_mm)
        except ExportError as exc:
            bucket = report.skipped if not Path(item.record.path).is_file() else report.failed
            bucket.append((item, str(exc)))
        except (OSError, ValueError) as exc:
            report.failed.append((item, f"Cannot write the span of {item.stem}: {exc}"))
        else:
            report.spans.append(result)
            report.written.extend([*result.screens, result.picture])
            written = result.picture
        if on_progress is not None:
            on_progress(done, len(items), written)
    return report
