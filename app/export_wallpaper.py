"""Set as wallpaper after an export: which file to set, how (tiled, spanned), and what to tell the user.

`pick_wallpaper` looks at a finished export: an ordinary one qualifies when every image it wrote got
exactly one file (the first image's file is offered; tiled when that file is a tileable image at its
own tile size); a span export offers its first image. On one screen the screen's own file is set.
On several screens, a desktop that can give each screen its own file (KDE Plasma, macOS when the
screens' names differ) gets the per-screen files; one that can stretch a picture across all screens
(GNOME `spanned`, Windows Span) gets the span picture; elsewhere the message says the per-screen
files are there to set screen by screen. `set_picked` makes the call (it can block for up to 20 s:
run it off the UI thread) and returns the sentence to show; it raises WallpaperError with the
desktop's reason.

May import: the standard library, app.export, app.wallpaper; no widgets, no torch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .export import ExportReport, is_tileable
from .wallpaper import DESKTOP_NAMES, SPANNING_DESKTOPS, ScreenFile, can_set_per_screen, set_wallpaper


@dataclass(frozen=True)
class WallpaperPick:
    """The file to set, whether to tile it, and (spanned) the per-screen files it stands for."""

    path: Path
    tiled: bool = False
    spanned: bool = False
    screens: tuple[ScreenFile, ...] = ()


def pick_wallpaper(report: ExportReport | None) -> WallpaperPick | None:
    """What "Set as wallpaper" would set after this export, or None when it does not qualify."""
    if report is None or not report.written:
        return None
    if report.spans:
        first = report.spans[0]
        if len(first.screens) == 1:
            return WallpaperPick(first.screens[0])
        screens = tuple(ScreenFile(name, x, y, path) for (name, x, y), path in zip(first.places, first.screens,
                                                                                    strict=True))
        return WallpaperPick(first.picture, spanned=True, screens=screens)
    if len(report.written_items) != len(report.written):
        return None
    per_image = Counter(id(item.record) for item in report.written_items)
    if any(count != 1 for count in per_image.values()):
        return None
    item, path = report.written_items[0], report.written[0]
    record = item.record
    own_size = (item.target.width, item.target.height) == (record.width, record.height)
    return WallpaperPick(Path(path), tiled=is_tileable(record) and (item.single_tile or own_size))


def set_picked(pick: WallpaperPick, setter: Callable[..., str] = set_wallpaper) -> str:
    """Set the picked file as the wallpaper; the sentence that says what was done (WallpaperError on failure)."""
    desktop = setter(pick.path, tiled=pick.tiled, spanned=pick.spanned, screens=pick.screens)
    name = DESKTOP_NAMES.get(desktop, desktop)
    if not pick.spanned:
        how = " (tiled)" if pick.tiled else ""
        return f"Wallpaper set on {name}{how}: {pick.path.name}"
    count = len(pick.screens)
    if can_set_per_screen(desktop, pick.screens):
        return f"Wallpaper set on {name}: each of your {count} screens shows its own file from {pick.path.parent}"
    if desktop in SPANNING_DESKTOPS:
        return f"Wallpaper set on {name}: the span picture {pick.path.name}, stretched across your {count} screens"
    return (f"Wallpaper set on {name}: the span picture {pick.path.name}. {name} cannot be given one file per "
            f"screen from here, so it shows the whole span on each screen; to give each screen its part, set "
            f"the {count} per-screen files in {pick.path.parent} in the desktop's settings.")
