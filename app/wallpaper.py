"""Set an image as the desktop wallpaper: GNOME, KDE Plasma, Windows and macOS.

`detect_desktop` names the desktop from the platform and environment; `wallpaper_commands` builds
the commands for one (plain argument lists, tested for each desktop); `set_wallpaper` runs them and
raises WallpaperError with a clear message when the desktop is unknown or a call fails. Windows
goes through `SystemParametersInfoW` (ctypes), which `windows_call` describes and `set_wallpaper`
makes. A tileable image is shown tiled where the desktop can (GNOME `picture-options`, KDE FillMode,
the Windows registry's TileWallpaper). A span across several screens: GNOME and Windows stretch the
span picture across all screens (GNOME `spanned`, Windows WallpaperStyle 22; SPANNING_DESKTOPS); KDE
Plasma and macOS give each screen its own file (PER_SCREEN_DESKTOPS): Plasma's screens are matched to
the files by their place (left to right, then top to bottom), macOS desktops by display name.

May import: the standard library only (subprocess, ctypes and winreg on Windows). Never torch, model/ or ui/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DESKTOPS = ("gnome", "kde", "windows", "macos")
DESKTOP_NAMES = {"gnome": "GNOME", "kde": "KDE Plasma", "windows": "Windows", "macos": "macOS"}
SPANNING_DESKTOPS = ("gnome", "windows")  # can stretch one picture across all screens
PER_SCREEN_DESKTOPS = ("kde", "macos")  # can give each screen its own file
SPI_SETDESKWALLPAPER = 0x0014
SPIF_UPDATEINIFILE_SENDCHANGE = 0x01 | 0x02
_GNOME_LIKE = ("gnome", "unity", "ubuntu", "budgie", "cinnamon", "pantheon", "pop")


class WallpaperError(Exception):
    """The wallpaper could not be set; the message says why and what to do."""


@dataclass(frozen=True)
class ScreenFile:
    """One screen's own file: the screen's name and top-left corner (QScreen geometry) and the file."""

    name: str
    x: int
    y: int
    path: Path


def detect_desktop(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """"gnome", "kde", "windows", "macos", or None when the desktop is not one we know."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if platform.startswith("win"):
        return "windows"
    if platform == "darwin":
        return "macos"
    names = ":".join(env.get(key, "") for key in ("XDG_CURRENT_DESKTOP", "XDG_SESSION_DESKTOP", "DESKTOP_SESSION"))
    names = names.lower()
    if "kde" in names or "plasma" in names or env.get("KDE_FULL_SESSION"):
        return "kde"
    if any(name in names for name in _GNOME_LIKE) or env.get("GNOME_DESKTOP_SESSION_ID"):
        return "gnome"
    return None


def _kde_script(path: Path, tiled: bool) -> str:
    fill = 3 if tiled else 2  # Plasma's image FillMode: 2 preserve-aspect crop, 3 tile
    uri = json_string(path.as_uri())
    return (
        "for (const d of desktops()) { d.wallpaperPlugin = 'org.kde.image';"
        " d.currentConfigGroup = ['Wallpaper', 'org.kde.image', 'General'];"
        f" d.writeConfig('Image', {uri}); d.writeConfig('FillMode', {fill}); }}"
    )


def _kde_screens_script(files: Sequence[ScreenFile]) -> str:
    """Plasma: each screen its own file; screens and files are both ordered left to right, then top to
    bottom (Plasma's geometry may be in device pixels where QScreen's is not, but the order is the same)."""
    ordered = sorted(files, key=lambda f: (f.x, f.y))
    uris = ", ".join(json_string(Path(f.path).resolve().as_uri()) for f in ordered)
    return (
        f"const uris = [{uris}];"
        " const order = [...Array(screenCount).keys()].sort((a, b) => {"
        " const p = screenGeometry(a), q = screenGeometry(b); return p.x - q.x || p.y - q.y; });"
        " if (order.length != uris.length) throw new Error('Plasma has ' + order.length + ' screens, the span '"
        " + uris.length);"
        " for (const d of desktops()) { const i = order.indexOf(d.screen); if (i < 0) continue;"
        " d.wallpaperPlugin = 'org.kde.image'; d.currentConfigGroup = ['Wallpaper', 'org.kde.image', 'General'];"
        " d.writeConfig('Image', uris[i]); d.writeConfig('FillMode', 2); }"
    )


def _macos_screens_script(files: Sequence[ScreenFile]) -> list[str]:
    """osascript -e lines: each desktop whose display name is a screen's name gets that screen's file."""
    lines = ['tell application "System Events"',
             f'if (count of desktops) is not {len(files)} then error "macOS has " & (count of desktops) & '
             f'" screens, the span {len(files)}"']
    for f in files:
        lines.append(f"set picture of (first desktop whose display name is {json_string(f.name)}) to "
                     f"{json_string(str(Path(f.path).resolve()))}")
    return [*lines, "end tell"]


def can_set_per_screen(desktop: str, files: Sequence[ScreenFile]) -> bool:
    """Whether `desktop` can be given these per-screen files (macOS tells screens apart by name only)."""
    if desktop not in PER_SCREEN_DESKTOPS or len(files) < 2:
        return False
    names = [f.name for f in files]
    return desktop != "macos" or (all(names) and len(set(names)) == len(names))


def screen_commands(desktop: str, files: Sequence[ScreenFile],
                    which: Callable[[str], str | None] = shutil.which) -> list[list[str]]:
    """The commands that give each screen its own file (see can_set_per_screen)."""
    if not can_set_per_screen(desktop, files):
        raise WallpaperError(f"{DESKTOP_NAMES.get(desktop, desktop)} cannot be given one file per screen here")
    if desktop == "kde":
        return [_plasma_script_command(_kde_screens_script(files), which)]
    command = ["osascript"]
    for line in _macos_screens_script(files):
        command += ["-e", line]
    return [command]


def _plasma_script_command(script: str, which: Callable[[str], str | None]) -> list[str]:
    """qdbus (Plasma 6's qdbus6 first) asking plasmashell to evaluate `script`."""
    qdbus = which("qdbus6") or which("qdbus") or "qdbus"
    return [Path(qdbus).name, "org.kde.plasmashell", "/PlasmaShell", "org.kde.PlasmaShell.evaluateScript", script]


def json_string(text: str) -> str:
    """A JavaScript/AppleScript-safe double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wallpaper_commands(desktop: str, path: Path | str, tiled: bool = False,
                       which: Callable[[str], str | None] = shutil.which,
                       spanned: bool = False) -> list[list[str]]:
    """The commands that set `path` as the wallpaper on `desktop` (not Windows: see windows_call)."""
    path = Path(path).resolve()
    if desktop == "gnome":
        uri = path.as_uri()
        base = ["gsettings", "set", "org.gnome.desktop.background"]
        option = "spanned" if spanned else "wallpaper" if tiled else "zoom"
        return [base + ["picture-uri", uri], base + ["picture-uri-dark", uri], base + ["picture-options", option]]
    if desktop == "kde":
        if which("plasma-apply-wallpaperimage") and not tiled:
            return [["plasma-apply-wallpaperimage", str(path)]]
        return [_plasma_script_command(_kde_script(path, tiled), which)]
    if desktop == "macos":
        script = f"tell application \"System Events\" to tell every desktop to set picture to {json_string(str(path))}"
        return [["osascript", "-e", script]]
    if desktop == "windows":
        return []
    raise WallpaperError(_unknown_message(desktop))


def windows_call(path: Path | str) -> tuple[int, int, str, int]:
    """The SystemParametersInfoW arguments that set the wallpaper (action, uiParam, pvParam, fWinIni)."""
    return (SPI_SETDESKWALLPAPER, 0, str(Path(path).resolve()), SPIF_UPDATEINIFILE_SENDCHANGE)


def _unknown_message(desktop: str | None) -> str:
    found = f"the desktop {desktop!r} is" if desktop else "this desktop is"
    return (f"{found} not one Sigma Studio can set wallpapers on (GNOME, KDE Plasma, Windows, macOS): "
            "set the exported file as the wallpaper in your desktop's settings")


def windows_style(tiled: bool, spanned: bool) -> dict[str, str]:
    """The HKCU\\Control Panel\\Desktop values set before the call: Span (22), Tile, or Fill (10)."""
    if spanned:
        return {"WallpaperStyle": "22", "TileWallpaper": "0"}
    return {"WallpaperStyle": "0", "TileWallpaper": "1"} if tiled else {"WallpaperStyle": "10", "TileWallpaper": "0"}


def _set_windows(path: Path, tiled: bool, spanned: bool) -> None:
    import ctypes
    import winreg  # type: ignore[import-not-found]

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, r"Control Panel\Desktop", 0, winreg.KEY_SET_VALUE) as key:
            for name, value in windows_style(tiled, spanned).items():
                winreg.SetValueEx(key, name, 0, winreg.REG_SZ, value)
    except OSError as error:
        raise WallpaperError(f"Windows refused the wallpaper style ({error})") from error
    action, param, value, flags = windows_call(path)
    if not ctypes.windll.user32.SystemParametersInfoW(action, param, value, flags):  # type: ignore[attr-defined]
        raise WallpaperError(f"Windows refused the wallpaper {path} (SystemParametersInfoW failed)")


def set_wallpaper(path: Path | str, desktop: str | None = None, tiled: bool = False,
                  run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                  which: Callable[[str], str | None] = shutil.which, spanned: bool = False,
                  screens: Sequence[ScreenFile] = ()) -> str:
    """Set `path` as the wallpaper; the desktop's name on success, WallpaperError with the reason otherwise.

    `spanned`: the picture covers all screens (stretched across them where SPANNING_DESKTOPS can);
    `screens`: its per-screen files, which a desktop that can_set_per_screen gets instead."""
    path = Path(path)
    for file in (path, *(Path(f.path) for f in screens)):
        if not file.is_file():
            raise WallpaperError(f"{file} is not a file: export the image first")
    desktop = detect_desktop() if desktop is None else desktop
    if desktop not in DESKTOPS:
        raise WallpaperError(_unknown_message(desktop))
    if desktop == "windows":
        _set_windows(path, tiled, spanned)
        return desktop
    per_screen = spanned and can_set_per_screen(desktop, screens)
    commands = screen_commands(desktop, screens, which) if per_screen else wallpaper_commands(
        desktop, path, tiled, which, spanned)
    for command in commands:
        try:
            done = run(command, capture_output=True, text=True, timeout=20)
        except FileNotFoundError as error:
            raise WallpaperError(f"{command[0]} was not found: is this a {desktop} session?") from error
        except subprocess.TimeoutExpired as error:
            raise WallpaperError(f"{command[0]} did not answer in 20 s") from error
        if done.returncode != 0:
            detail = (done.stderr or done.stdout or "").strip().splitlines()
            reason = detail[-1] if detail else f"exit status {done.returncode}"
            raise WallpaperError(f"setting the wallpaper failed: {command[0]}: {reason}")
    return desktop
