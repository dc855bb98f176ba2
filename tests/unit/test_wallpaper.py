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
    ScreenFile,
    WallpaperError,
    can_set_per_screen,
    detect_desktop,
    screen_commands,
    set_wallpaper,
    wallpaper_commands,
    windows_call,
    windows_style,
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


def test_windows_spans_tiles_or_fills_through_the_registry_style():
    assert windows_style(tiled=False, spanned=True) == {"WallpaperStyle": "22", "TileWallpaper": "0"}
    assert windows_style(tiled=True, spanned=False) == {"WallpaperStyle": "0", "TileWallpaper": "1"}
    assert windows_style(tiled=False, spanned=False) == {"WallpaperStyle": "10", "TileWallpaper": "0"}


PLASMA = """
const screens = %s;  // what Plasma reports: geometry per screen id (in device pixels, say)
const all = %s.map(([screen, activity]) => ({screen, activity, config: {},
    writeConfig(key, value) { this.config[key] = value; }}));
globalThis.desktops = () => all;
globalThis.screenCount = screens.length;
globalThis.screenGeometry = (i) => screens[i];
try { %s; console.log(JSON.stringify(all.map(d => [d.screen, d.config.Image || null, d.wallpaperPlugin || null])));
} catch (e) { console.log("ERROR " + e.message); }
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run Plasma's script")
def test_the_plasma_script_gives_each_screen_its_file_by_place(tmp_path):
    """Runs the evaluateScript text under node with Plasma's scripting calls (desktops, screenCount,
    screenGeometry) answered as Plasma does: screen ids in any order, geometry in device pixels, two
    activities (a desktop per screen each)."""
    import json

    files = [ScreenFile(name, x, y, tmp_path / f"{name}.png") for name, x, y in
             (("right", 1920, 0), ("left", 0, 0), ("below", 0, 1080))]
    (command,) = screen_commands("kde", files, which={}.get)
    screens = [{"x": 3840, "y": 0}, {"x": 0, "y": 2160}, {"x": 0, "y": 0}]  # ids 0, 1, 2 (2x device pixels)
    containments = [[0, "a"], [1, "a"], [2, "a"], [2, "b"], [-1, "a"]]  # -1: a desktop on no screen
    program = PLASMA % (json.dumps(screens), json.dumps(containments), command[4])
    out = subprocess.run(["node", "-e", program], capture_output=True, text=True, timeout=30).stdout.strip()
    uri = {f.name: f.path.resolve().as_uri() for f in files}
    assert json.loads(out) == [[0, uri["right"], "org.kde.image"], [1, uri["below"], "org.kde.image"],
                               [2, uri["left"], "org.kde.image"], [2, uri["left"], "org.kde.image"],
                               [-1, None, None]]
    program = PLASMA % (json.dumps(screens[:2]), json.dumps(containments[:2]), command[4])
    out = subprocess.run(["node", "-e", program], capture_output=True, text=True, timeout=30).stdout.strip()
    assert out == "ERROR Plasma has 2 screens, the span 3"


def test_per_screen_files_need_a_desktop_that_can_tell_the_screens_apart(tmp_path):
    files = [ScreenFile("Same", 0, 0, tmp_path / "a.png"), ScreenFile("Same", 1920, 0, tmp_path / "b.png")]
    assert can_set_per_screen("kde", files) and not can_set_per_screen("macos", files)
    assert not can_set_per_screen("gnome", files) and not can_set_per_screen("kde", files[:1])
    with pytest.raises(WallpaperError, match="cannot be given one file per screen"):
        screen_commands("macos", files)
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(WallpaperError, match="b.png is not a file"):
        set_wallpaper(tmp_path / "a.png", desktop="kde", spanned=True, screens=files)
