"""Set as wallpaper: desktop detection, the commands for each desktop, clear failures, and the real
GNOME call against a private session bus (gsettings, dconf) when this machine has them."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

from app.wallpaper import (
    SPI_SETDESKWALLPAPER,
    WallpaperError,
    detect_desktop,
    set_wallpaper,
    wallpaper_commands,
    windows_call,
)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "my wall\"paper.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    return path


@pytest.mark.parametrize("env, platform, expected", [
    ({"XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}, "linux", "gnome"),
    ({"XDG_CURRENT_DESKTOP": "KDE"}, "linux", "kde"),
    ({"DESKTOP_SESSION": "plasma"}, "linux", "kde"),
    ({"XDG_CURRENT_DESKTOP": "XFCE"}, "linux", None),
    ({}, "linux", None),
    ({}, "win32", "windows"),
    ({}, "darwin", "macos"),
])
def test_detect_desktop(env, platform, expected):
    assert detect_desktop(env, platform) == expected


def test_gnome_sets_light_and_dark_keys_and_tiles_tileable_images(image):
    uri = image.resolve().as_uri()
    assert wallpaper_commands("gnome", image) == [
        ["gsettings", "set", "org.gnome.desktop.background", "picture-uri", uri],
        ["gsettings", "set", "org.gnome.desktop.background", "picture-uri-dark", uri],
        ["gsettings", "set", "org.gnome.desktop.background", "picture-options", "zoom"],
    ]
    assert wallpaper_commands("gnome", image, tiled=True)[-1][-1] == "wallpaper"
    assert wallpaper_commands("gnome", image, spanned=True)[-1][-1] == "spanned"  # a span across all screens


def test_kde_uses_plasma_apply_wallpaperimage_else_the_dbus_script(image):
    found = {"plasma-apply-wallpaperimage": "/usr/bin/plasma-apply-wallpaperimage", "qdbus6": "/usr/bin/qdbus6"}
    assert wallpaper_commands("kde", image, which=found.get) == [
        ["plasma-apply-wallpaperimage", str(image.resolve())]
    ]
    (command,) = wallpaper_commands("kde", image, tiled=True, which=found.get)  # tiling needs the script
    assert command[:4] == ["qdbus6", "org.kde.plasmashell", "/PlasmaShell", "org.kde.PlasmaShell.evaluateScript"]
    assert "writeConfig('FillMode', 3)" in command[4]
    assert image.resolve().as_uri().replace('"', '\\"') in command[4]
    (plain,) = wallpaper_commands("kde", image, which={}.get)
    assert plain[0] == "qdbus" and "writeConfig('FillMode', 2)" in plain[4]


def test_macos_tells_system_events_with_a_quoted_path(image):
    (command,) = wallpaper_commands("macos", image)
    assert command[:2] == ["osascript", "-e"]
    quoted = str(image.resolve()).replace('"', '\\"')
    assert command[2] == f'tell application "System Events" to tell every desktop to set picture to "{quoted}"'


def test_windows_calls_system_parameters_info(image):
    assert windows_call(image) == (SPI_SETDESKWALLPAPER, 0, str(image.resolve()), 3)
    assert SPI_SETDESKWALLPAPER == 20


def test_unknown_desktop_and_missing_file_say_so(image, tmp_path):
    with pytest.raises(WallpaperError, match="not one Sigma Studio can set wallpapers on"):
        set_wallpaper(image, desktop="xfce")
    with pytest.raises(WallpaperError, match="is not a file: export the image first"):
        set_wallpaper(tmp_path / "gone.png", desktop="gnome")


def test_a_failing_call_is_reported_with_its_reason(image):
    def failing_gsettings(command, **_kw):  # the fault injected: gsettings refuses
        return subprocess.CompletedProcess(command, 1, "", "No such schema “org.gnome.desktop.background”\n")

    with pytest.raises(WallpaperError, match="gsettings: No such schema"):
        set_wallpaper(image, desktop="gnome", run=failing_gsettings)

    def missing(command, **_kw):
        raise FileNotFoundError(command[0])

    with pytest.raises(WallpaperError, match="osascript was not found"):
        set_wallpaper(image, desktop="macos", run=missing)


def _session_bus(tmp_path) -> dict | None:
    if not (shutil.which("gsettings") and shutil.which("dbus-launch")):
        return None
    schemas = subprocess.run(["gsettings", "list-schemas"], capture_output=True, text=True).stdout.split()
    if "org.gnome.desktop.background" not in schemas:
        return None
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    (tmp_path / "run").mkdir(mode=0o700)
    out = subprocess.run(["dbus-launch", "--sh-syntax"], capture_output=True, text=True, env=env).stdout
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key in ("DBUS_SESSION_BUS_ADDRESS", "DBUS_SESSION_BUS_PID"):
            env[key] = value.rstrip(";").strip("'")
    return env if "DBUS_SESSION_BUS_PID" in env else None


def test_gnome_call_runs_against_a_session_bus(image, tmp_path):
    env = _session_bus(tmp_path)
    if env is None:
        pytest.skip("no gsettings, dbus-launch or GNOME background schema here")
    try:
        run = functools.partial(subprocess.run, env=env)
        assert set_wallpaper(image, desktop="gnome", tiled=True, run=run) == "gnome"
        key = ["gsettings", "get", "org.gnome.desktop.background"]
        uri = image.resolve().as_uri()
        for name, expected in (("picture-uri", uri), ("picture-uri-dark", uri), ("picture-options", "wallpaper")):
            value = subprocess.run(key + [name], capture_output=True, text=True, env=env).stdout.strip()
            assert value == repr(expected) or value == f"'{expected}'"
    finally:
        os.kill(int(env["DBUS_SESSION_BUS_PID"]), 15)
