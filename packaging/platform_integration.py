"""Desktop integration written by the installer: launcher, menu entry, icons, file association.

Standard library only (it runs with the machine's Python). One `integrate` per platform; each returns
the paths it wrote outside the app folder so that the uninstaller removes exactly those.

- Linux (freedesktop): ~/.local/bin/sigma-studio, $XDG_DATA_HOME/applications/sigma-studio.desktop,
  hicolor icons (PNG 16-512 and SVG), the MIME type application/x-sigma-studio-preset for
  *.preset.json with Sigma Studio as its default application ($XDG_CONFIG_HOME/mimeapps.list).
- Windows: a Start-menu shortcut and an "Open with Sigma Studio" entry for .json files (Windows
  associates by the last extension only, so *.preset.json cannot get a default of its own).
- macOS: ~/Applications/Sigma Studio.app, a bundle whose executable starts the installed app and
  which declares that it opens JSON files (Finder's "Open With" and drops on the Dock icon).
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
from pathlib import Path

APP_ID = "sigma-studio"
APP_NAME = "Sigma Studio"
MIME_TYPE = "application/x-sigma-studio-preset"
PRESET_GLOB = "*.preset.json"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
DESKTOP_FILE = f"{APP_ID}.desktop"
MIMEAPPS_SECTION = "[Default Applications]"


def integrate(layout, app_dir: Path, env_dir: Path, resources: Path, created: list[Path]) -> list[Path]:
    """Write the platform's entries; every new path is appended to `created` (for a roll-back)."""
    writer = _Writer(created)
    if layout.system == "Windows":
        _windows(layout, app_dir, env_dir, resources, writer)
    elif layout.system == "Darwin":
        _macos(layout, app_dir, resources, writer)
    else:
        _linux(layout, app_dir, resources, writer)
    return writer.written


def unregister(layout) -> None:
    """Undo what `integrate` registered outside plain files (default-app entries, caches)."""
    if layout.system == "Windows":
        _windows_registry(None, remove=True)
    elif layout.system not in ("Darwin",):
        set_default_app(layout.config_home / "mimeapps.list", remove=True)
        refresh_caches(layout.data_home)
        remove_generated_leftovers(layout.data_home)


def remove_generated_leftovers(data_home: Path) -> None:
    """Drop cache files (and their folders) that the desktop tools made and that now index nothing."""
    for folder, generated in ((data_home / "icons" / "hicolor", {"icon-theme.cache"}),
                              (data_home / "applications", {"mimeinfo.cache"})):
        if not folder.is_dir():
            continue
        if all(p.is_dir() or p.name in generated for p in folder.rglob("*")):
            shutil.rmtree(folder, ignore_errors=True)
    icons = data_home / "icons"
    if icons.is_dir() and not any(icons.iterdir()):
        icons.rmdir()


def how_to_start(layout) -> str:
    if layout.system == "Windows":
        return f"Start it from the Start menu ({APP_NAME}), or run {layout.bin_dir / 'sigma-studio.cmd'}."
    if layout.system == "Darwin":
        return f"Start it from ~/Applications/{APP_NAME}.app, or run {layout.bin_dir / APP_ID} in a terminal."
    on_path = str(layout.bin_dir) in os.environ.get("PATH", "").split(os.pathsep)
    hint = "" if on_path else f" ({layout.bin_dir} is not on your PATH: add it to run 'sigma-studio' by name)"
    return (f"Start it from your applications menu ({APP_NAME}), or run {layout.bin_dir / APP_ID}{hint}.\n"
            f"Uninstall: {layout.app_dir / 'uninstall.sh'}")


class _Writer:
    """Writes files, remembering which it created (for the manifest and a roll-back)."""

    def __init__(self, created: list[Path]):
        self.created = created
        self.written: list[Path] = []

    def _note(self, path: Path) -> None:
        if not path.exists():
            self.created.append(path)
        self.written.append(path)

    def text(self, path: Path, content: str, mode: int = 0o644) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._note(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(content, encoding="utf-8")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        return path

    def copy(self, source: Path, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._note(path)
        tmp = path.with_name(f".{path.name}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, path)
        return path


# -- Linux ---------------------------------------------------------------------------------------
def desktop_entry(launcher: Path) -> str:
    """The .desktop file (freedesktop Desktop Entry 1.4); passes desktop-file-validate."""
    exec_path = str(launcher)
    if any(ch in exec_path for ch in ' \t"\'\\$`'):
        exec_path = '"' + exec_path.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace(
            "`", "\\`") + '"'
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        f"Name={APP_NAME}",
        "GenericName=Image Generator",
        "Comment=Make posters and wallpapers up to 4K with PixArt-Sigma on your own machine",
        f"Exec={exec_path} %f",
        f"TryExec={launcher}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=Graphics;2DGraphics;RasterGraphics;",
        f"MimeType={MIME_TYPE};",
        "Keywords=wallpaper;poster;image;generator;PixArt;diffusion;",
        "StartupNotify=true",
        f"StartupWMClass={APP_ID}",
        "",
    ])


def mime_package() -> str:
    """shared-mime-info package: *.preset.json beats the plain *.json glob (weight 60 > 50)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">
  <mime-type type="{MIME_TYPE}">
    <comment>Sigma Studio preset</comment>
    <sub-class-of type="application/json"/>
    <generic-icon name="{APP_ID}"/>
    <glob pattern="{PRESET_GLOB}" weight="60"/>
  </mime-type>
</mime-info>
"""


def launcher_script(app_dir: Path) -> str:
    app = str(app_dir).replace('"', '\\"')
    return f"""#!/bin/sh
# {APP_NAME} launcher, written by its installer. Uninstall: "{app}/uninstall.sh"
app="{app}/current/bin/{APP_ID}"
if [ ! -x "$app" ]; then
  msg="{APP_NAME}'s installation is damaged ($app is missing). Run its installer again."
  echo "$msg" >&2
  command -v notify-send >/dev/null 2>&1 && notify-send "{APP_NAME}" "$msg"
  exit 1
fi
exec "$app" "$@"
"""


def uninstall_script() -> str:
    return f"""#!/bin/sh
# Removes {APP_NAME}. Your gallery, settings and models are kept.
here="$(cd "$(dirname "$0")" && pwd)"
for py in python3 "$here/current/bin/python"; do
  if command -v "$py" >/dev/null 2>&1; then
    exec "$py" "$here/installer.py" uninstall --app-dir "$here"
  fi
done
echo "No Python was found to run the uninstaller." >&2
exit 1
"""


def _linux(layout, app_dir: Path, resources: Path, writer: _Writer) -> None:
    launcher = writer.text(layout.bin_dir / APP_ID, launcher_script(app_dir), 0o755)
    writer.text(app_dir / "uninstall.sh", uninstall_script(), 0o755)
    writer.text(layout.data_home / "applications" / DESKTOP_FILE, desktop_entry(launcher))
    icons = resources / "icons"
    theme = layout.data_home / "icons" / "hicolor"
    for size in ICON_SIZES:
        png = icons / f"{APP_ID}-{size}.png"
        writer.copy(png, theme / f"{size}x{size}" / "apps" / f"{APP_ID}.png")
        writer.copy(png, theme / f"{size}x{size}" / "mimetypes" / f"{MIME_TYPE.replace('/', '-')}.png")
    writer.copy(icons / f"{APP_ID}.svg", theme / "scalable" / "apps" / f"{APP_ID}.svg")
    writer.text(layout.data_home / "mime" / "packages" / f"{APP_ID}.xml", mime_package())
    set_default_app(layout.config_home / "mimeapps.list")
    refresh_caches(layout.data_home)


def set_default_app(mimeapps: Path, remove: bool = False) -> None:
    """Add (or remove) `MIME_TYPE=sigma-studio.desktop;` in mimeapps.list, keeping every other line."""
    try:
        lines = mimeapps.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    except (OSError, UnicodeDecodeError):
        return  # unreadable: leave the user's file alone
    ours = f"{MIME_TYPE}={DESKTOP_FILE};"
    lines = [line for line in lines if not line.startswith(f"{MIME_TYPE}=")]
    if not remove:
        if MIMEAPPS_SECTION not in lines:
            lines += ([""] if lines else []) + [MIMEAPPS_SECTION]
        lines.insert(lines.index(MIMEAPPS_SECTION) + 1, ours)
    elif lines and lines[-1] == MIMEAPPS_SECTION:
        lines.pop()  # our entry was the section's only one
        while lines and not lines[-1].strip():
            lines.pop()
    if not lines:
        mimeapps.unlink(missing_ok=True)
        return
    mimeapps.parent.mkdir(parents=True, exist_ok=True)
    tmp = mimeapps.with_name(f".{mimeapps.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, mimeapps)


def refresh_caches(data_home: Path) -> None:
    """Ask the desktop's tools to re-read MIME types, menu entries and icons (each is optional).

    A user MIME folder left with no packages holds only generated files: it is removed, not rebuilt.
    """
    mime = data_home / "mime"
    if mime.is_dir() and not (mime / "packages").is_dir():
        shutil.rmtree(mime, ignore_errors=True)
    commands = [
        ["update-mime-database", data_home / "mime"],
        ["update-desktop-database", "-q", data_home / "applications"],
        ["gtk-update-icon-cache", "-q", "-t", "-f", data_home / "icons" / "hicolor"],
    ]
    for command in commands:
        if shutil.which(str(command[0])) and Path(command[-1]).is_dir():
            subprocess.run([str(c) for c in command], check=False, capture_output=True)


# -- Windows -------------------------------------------------------------------------------------
def _windows(layout, app_dir: Path, env_dir: Path, resources: Path, writer: _Writer) -> None:
    # Windows has no cheap atomic symlink for a user: every entry names the new environment and is
    # rewritten by each install (the old environment is removed only after they all are).
    scripts = env_dir / "Scripts"
    writer.text(layout.bin_dir / "sigma-studio.cmd", f'@echo off\r\n"{scripts / "sigma-studio.exe"}" %*\r\n')
    gui = scripts / "pythonw.exe"
    writer.text(app_dir / "uninstall.cmd",
                f'@echo off\r\n"{scripts / "python.exe"}" "{app_dir / "installer.py"}" uninstall\r\n')
    icon = writer.copy(resources / "icons" / f"{APP_ID}.ico", app_dir / f"{APP_ID}.ico")
    start_menu = layout.config_home / "Microsoft" / "Windows" / "Start Menu" / "Programs" / f"{APP_NAME}.lnk"
    writer._note(start_menu)
    subprocess.run(["powershell", "-NoProfile", "-Command", shortcut_command(start_menu, gui, icon)], check=True)
    _windows_registry(f'"{gui}" -m main "%1"', icon=icon)


def shortcut_command(link: Path, target: Path, icon: Path) -> str:
    """PowerShell that makes a Start-menu shortcut starting the app without a console window."""
    def q(value: object) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    return (f"$s=(New-Object -ComObject WScript.Shell).CreateShortcut({q(link)});"
            f"$s.TargetPath={q(target)};$s.Arguments='-m main';$s.IconLocation={q(icon)};"
            f"$s.Description={q(APP_NAME)};$s.Save()")


def windows_registry_entries(command: str, icon: Path) -> dict[str, str]:
    """HKCU\\Software\\Classes keys (value '' = default) for opening presets with the app."""
    prog_id = "SigmaStudio.Preset"
    return {
        rf"Software\Classes\{prog_id}": "Sigma Studio preset",
        rf"Software\Classes\{prog_id}\DefaultIcon": str(icon),
        rf"Software\Classes\{prog_id}\shell\open\command": command,
        rf"Software\Classes\.json\OpenWithProgids\{prog_id}": "",
    }


def _windows_registry(command: str | None, icon: Path | None = None, remove: bool = False) -> None:
    import winreg  # Windows only

    if remove:
        for key in sorted(windows_registry_entries("", Path()), key=len, reverse=True):
            try:
                winreg.DeleteKey(winreg.HKEY_CURRENT_USER, key)
            except OSError:
                pass
        return
    for key, value in windows_registry_entries(command or "", icon or Path()).items():
        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, key) as handle:
            winreg.SetValueEx(handle, "", 0, winreg.REG_SZ, value)


# -- macOS ---------------------------------------------------------------------------------------
def info_plist() -> bytes:
    """The bundle's Info.plist: name, icon, and the JSON documents it can open."""
    return plistlib.dumps({
        "CFBundleName": APP_NAME,
        "CFBundleDisplayName": APP_NAME,
        "CFBundleIdentifier": "org.sigmastudio.SigmaStudio",
        "CFBundleExecutable": APP_ID,
        "CFBundleIconFile": f"{APP_ID}.icns",
        "CFBundlePackageType": "APPL",
        "CFBundleShortVersionString": "0.1.0",
        "LSMinimumSystemVersion": "14.0",
        "NSHighResolutionCapable": True,
        "CFBundleDocumentTypes": [{
            "CFBundleTypeName": "Sigma Studio preset",
            "CFBundleTypeRole": "Viewer",
            "LSHandlerRank": "Alternate",
            "LSItemContentTypes": ["public.json", "public.png", "public.jpeg"],
        }],
    })


def _macos(layout, app_dir: Path, resources: Path, writer: _Writer) -> None:
    launcher = writer.text(layout.bin_dir / APP_ID, launcher_script(app_dir), 0o755)
    writer.text(app_dir / "uninstall.sh", uninstall_script(), 0o755)
    bundle = layout.home / "Applications" / f"{APP_NAME}.app"
    writer._note(bundle)
    contents = bundle / "Contents"
    (contents / "MacOS").mkdir(parents=True, exist_ok=True)
    (contents / "Resources").mkdir(parents=True, exist_ok=True)
    (contents / "Info.plist").write_bytes(info_plist())
    executable = contents / "MacOS" / APP_ID
    executable.write_text(f'#!/bin/sh\nexec "{launcher}" "$@"\n', encoding="utf-8")
    executable.chmod(0o755)
    shutil.copyfile(resources / "icons" / f"{APP_ID}.icns", contents / "Resources" / f"{APP_ID}.icns")
