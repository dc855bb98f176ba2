"""Start-up checks that run before Qt or torch is loaded, each with a message that says what to do.

- Python too old (3.11+ is needed);
- no display (a studio window needs an X11 or Wayland session);
- Qt's system libraries missing (the xcb platform plugin's shared libraries, found with `ldd`), named
  as Debian/Ubuntu and Fedora packages;
- a damaged installation: a dependency or one of the app's own files (per the wheel's RECORD) is
  missing, or the built-in demo model is incomplete.

May import: the standard library and the project's `resources` package (which imports nothing), so
it runs first and fast; the installer's check alone loads Qt and, through app.model_service, torch. `python -m app.preflight [--install-check]` prints every check; the
installer runs it in the new environment. Started from a desktop menu there is no terminal, so a
problem is also shown with the desktop's notifier (notify-send, zenity or kdialog) when one exists.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MIN_PYTHON = (3, 11)
REQUIRED_MODULES = ("torch", "diffusers", "transformers", "PySide6", "platformdirs", "PIL",
                    "safetensors", "accelerate", "psutil")
DEMO_FILES = ("model_index.json", "transformer/config.json", "vae/config.json", "text_encoder/config.json")
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "linuxfb", "eglfs", "vkkhrdisplay")
REINSTALL = ("Reinstall Sigma Studio: run its installer again (bash packaging/linux/install.sh), "
             "or `pip install --force-reinstall sigma-studio`.")

# shared library -> (Debian/Ubuntu package, Fedora package): what Qt's xcb plugin loads.
QT_SYSTEM_LIBRARIES = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
}


@dataclass(frozen=True)
class Problem:
    """One failed check: what is wrong, and what the user should do."""

    check: str
    what: str
    todo: str

    def message(self) -> str:
        return f"Sigma Studio cannot start: {self.what}\n{self.todo}"


def python_problem(version: Sequence[int] | None = None) -> Problem | None:
    version = tuple(version or sys.version_info[:3])
    if tuple(version[:2]) >= MIN_PYTHON:
        return None
    return Problem("python", f"it needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer, and this is "
                   f"{'.'.join(str(v) for v in version)}.",
                   "Install a newer Python (Debian/Ubuntu: sudo apt install python3.11 python3.11-venv; "
                   "Fedora: sudo dnf install python3.11) and install Sigma Studio with it.")


def qt_platform(env: Mapping[str, str]) -> str:
    """The Qt platform plugin a start would use: QT_QPA_PLATFORM, else wayland or xcb by session."""
    forced = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip().lower()
    if forced:
        return forced
    return "wayland" if env.get("WAYLAND_DISPLAY") else "xcb"


def display_problem(env: Mapping[str, str] | None = None, system: str | None = None) -> Problem | None:
    env = os.environ if env is None else env
    if (system or sys.platform) in ("win32", "darwin", "Windows", "Darwin"):
        return None
    platform = qt_platform(env)
    if platform in HEADLESS_PLATFORMS:
        return None
    if platform.startswith("wayland") and env.get("WAYLAND_DISPLAY"):
        return None
    if platform == "xcb" and env.get("DISPLAY"):
        return None
    return Problem("display", "no display was found (DISPLAY and WAYLAND_DISPLAY are not set).",
                   "Start it from a desktop session. On a server, use the command line instead "
                   "(sigma-studio generate \"a prompt\" --out image.png), or a virtual screen "
                   "(xvfb-run sigma-studio).")


def xcb_plugin() -> Path | None:
    """PySide6's libqxcb.so, found without importing PySide6."""
    spec = importlib.util.find_spec("PySide6")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def missing_libraries(library: Path, ldd: str | None = None) -> list[str]:
    """Shared libraries `library` needs that the dynamic loader cannot find (via ldd)."""
    ldd = ldd or shutil.which("ldd")
    if not ldd:
        return []
    try:
        done = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    found = re.findall(r"^\s*(\S+)\s+=>\s+not found", done.stdout, flags=re.MULTILINE)
    return list(dict.fromkeys(found))


def qt_libraries_problem(missing: Sequence[str]) -> Problem | None:
    if not missing:
        return None
    debian = sorted({QT_SYSTEM_LIBRARIES.get(name, (name, name))[0] for name in missing})
    fedora = sorted({QT_SYSTEM_LIBRARIES.get(name, (name, name))[1] for name in missing})
    return Problem("qt-libraries", f"Qt's system libraries are missing: {', '.join(missing)}.",
                   f"Install them, then start Sigma Studio again:\n"
                   f"  Debian/Ubuntu: sudo apt install {' '.join(debian)}\n"
                   f"  Fedora:        sudo dnf install {' '.join(fedora)}")


def installation_problem(modules: Sequence[str] = REQUIRED_MODULES, demo_dir: Path | None = None) -> Problem | None:
    """A missing dependency, a missing file of the installed app, or an incomplete demo model."""
    absent = [name for name in modules if _find_spec(name) is None]
    if absent:
        return Problem("install", f"its installation is damaged: {', '.join(absent)} "
                       f"{'is' if len(absent) == 1 else 'are'} not installed.", REINSTALL)
    lost = missing_record_files()
    if lost:
        shown = ", ".join(lost[:3]) + (f" and {len(lost) - 3} more" if len(lost) > 3 else "")
        return Problem("install", f"its installation is damaged: files are missing ({shown}).", REINSTALL)
    if demo_dir is None:
        import resources

        demo_dir = resources.root() / "demo_model"
    incomplete = [name for name in DEMO_FILES if not (demo_dir / name).is_file()]
    if incomplete:
        return Problem("install", f"its installation is damaged: the built-in demo model is incomplete "
                       f"({', '.join(incomplete)} missing in {demo_dir}).", REINSTALL)
    return None


def _find_spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def missing_record_files(dist_name: str = "sigma-studio") -> list[str]:
    """Files the installed wheel's RECORD lists that are gone (none for a checkout or editable install)."""
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return []
    if dist.read_text("RECORD") is None:
        return []  # a checkout's egg-info: its file list is whatever it was at `pip install -e`
    try:
        editable = json.loads(dist.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable")
    except ValueError:
        editable = False
    if editable:
        return []
    files = dist.files or []
    ours = [f for f in files if f.parts and f.parts[0] in ("app", "model", "ui", "resources", "main.py")]
    return [str(f) for f in ours if not Path(str(f.locate())).exists()]


def studio_problems(env: Mapping[str, str] | None = None) -> list[Problem]:
    """Every check the studio window needs, cheapest first; stops at the first that fails."""
    env = os.environ if env is None else env
    problem = python_problem() or installation_problem() or display_problem(env)
    if problem:
        return [problem]
    if sys.platform.startswith("linux") and qt_platform(env) == "xcb":
        plugin = xcb_plugin()
        problem = qt_libraries_problem(missing_libraries(plugin)) if plugin else None
    return [problem] if problem else []


def notify(problem: Problem) -> None:
    """Show the problem where a person will see it: stderr, and a desktop dialog without a terminal."""
    print(problem.message(), file=sys.stderr)
    if sys.stderr.isatty() or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return
    title, text = "Sigma Studio", problem.message()
    for command in (["notify-send", "-u", "critical", title, text], ["zenity", "--error", f"--text={text}"],
                    ["kdialog", "--error", text]):
        if shutil.which(command[0]):
            subprocess.run(command, check=False, capture_output=True)
            return


def check_studio() -> int:
    """0 when the studio can start; otherwise shows the problem and returns exit code 2."""
    problems = studio_problems()
    for problem in problems:
        notify(problem)
    return 2 if problems else 0


def install_check() -> int:
    """The installer's check of a new environment: files and imports; Qt libraries as a warning."""
    problem = python_problem() or installation_problem()
    if problem:
        print(problem.message(), file=sys.stderr)
        return 1
    try:
        import PySide6.QtCore  # noqa: F401

        from app import model_service

        summary = model_service.runtime_summary()
    except Exception as exc:  # a broken binary wheel fails in many ways; all mean "damaged"
        print(f"Sigma Studio cannot start: a library fails to load ({type(exc).__name__}: {exc}).\n{REINSTALL}",
              file=sys.stderr)
        return 1
    print(f"ok: Python {sys.version.split()[0]}, {summary}")
    plugin = xcb_plugin() if sys.platform.startswith("linux") else None
    libraries = qt_libraries_problem(missing_libraries(plugin)) if plugin else None
    if libraries:
        print(f"warning: the window will not open until these are installed.\n{libraries.todo}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.preflight", description=__doc__.splitlines()[0])
    parser.add_argument("--install-check", action="store_true", help="check a new installation (no display needed)")
    args = parser.parse_args(argv)
    if args.install_check:
        return install_check()
    problems = studio_problems()
    for problem in problems:
        print(problem.message())
    if not problems:
        print("ok: the studio can start")
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
