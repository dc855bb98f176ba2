"""The composition root of the studio: its arguments, and the one place where app/ and ui/ are wired.

`run_studio` makes the QApplication, the settings, the gallery store and the JobRunner, hands them
to the window, shows it, and only then starts the engine thread: torch, diffusers and the model
load on that thread afterwards (window-first start). `--timing` (or SIGMA_STUDIO_TIMING=1) prints how
long the window took; `--timing-json` (or SIGMA_STUDIO_TIMING=json) prints it as JSON for
benchmarks/window_visible.py. On quit the gallery's trash is purged: its undo button went with the
window.

The event loop is Qt's own (`QApplication.exec`): long work runs on Qt threads (the engine's
QThread, ui.tasks' pool) that report through signals; docs/DESIGN.md says why there is no asyncio
loop.

May import: everything in app/ and ui/ (it is the composition root); model/ only through
app.model_service. Qt and ui/ are imported inside run_studio, so `import app.bootstrap` stays light.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_STARTED = time.perf_counter()  # as early as this module is imported (main.py imports it first)

log = logging.getLogger(__name__)

TIMING_ENV = "SIGMA_STUDIO_TIMING"
TARGET_VISIBLE_S = 1.0
HEAVY_MODULES = ("torch", "diffusers", "transformers")  # must load on the worker thread, after the window
QUIT_AFTER_VISIBLE_MS = 50
CLI_COMMANDS = ("generate", "models", "batch")


def build_parser() -> argparse.ArgumentParser:
    """The studio's arguments (the subcommands are app.cli's; main.py routes between the two)."""
    parser = argparse.ArgumentParser(
        prog="sigma-studio",
        description="Posters and wallpapers up to 4K with PixArt-Sigma: the studio window.",
        epilog="Command line: `sigma-studio generate PROMPT [options]` and `sigma-studio models` "
               "(see `sigma-studio generate --help`).",
    )
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE",
                        help="a NAME.preset.json to load, or an image (PNG/JPEG/WebP) whose settings to restore")
    parser.add_argument("--model", metavar="SOURCE", default=None,
                        help="hub id, diffusers folder or .pth/.safetensors file (default: the configured model)")
    parser.add_argument("--timing", action="store_const", const="text", dest="timing",
                        help="print how long the window took to show")
    parser.add_argument("--timing-json", action="store_const", const="json", dest="timing",
                        help="the same as one JSON line (benchmarks/window_visible.py)")
    parser.add_argument("--quit-after-visible", action="store_true",
                        help="close as soon as the window has shown (start-up benchmarks)")
    return parser


def parse_studio_args(argv: Sequence[str]) -> argparse.Namespace:
    """The studio's options; SIGMA_STUDIO_TIMING=1|json turns timing on when no flag does."""
    options = build_parser().parse_args(list(argv))
    if options.timing is None:
        env = os.environ.get(TIMING_ENV, "")
        options.timing = "json" if env == "json" else ("text" if env not in ("", "0") else None)
    return options


def build_window(settings: Any, gallery: Any, engine_factory: Callable[..., Any] | None = None,
                 history: Any = None) -> Any:
    """The main window over a gallery store, with its JobRunner (and engine thread, not started yet).

    engine_factory: what makes the engine on the worker thread (default: the real one); tests pass
    a fake engine here.
    """
    from app import paths
    from app.settings import PromptHistory
    from app.worker import JobRunner
    from ui.main_window import MainWindow

    options: dict[str, Any] = {} if engine_factory is None else {"engine_factory": engine_factory}
    runner = JobRunner(gallery, device=settings.device, memory_mode=settings.memory_mode,
                       cache_dir=paths.cache_dir(), **options)
    return MainWindow(gallery=gallery, settings=settings, runner=runner,
                      history=history if history is not None else PromptHistory())


def set_app_identity(app: Any) -> None:
    """The icon of every window, and the desktop entry the window belongs to (taskbars group by it)."""
    from PySide6.QtGui import QIcon

    import resources

    icon = QIcon()
    for png in sorted((resources.root() / "icons").glob("sigma-studio-*.png")):
        icon.addFile(str(png))
    app.setWindowIcon(icon)
    app.setDesktopFileName("sigma-studio")  # packaging's sigma-studio.desktop


def run_studio(options: argparse.Namespace) -> int:
    """Run the studio until its window closes; returns the exit code."""
    entered = time.perf_counter()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.gallery import UNDO_WINDOW, Gallery
    from app.settings import Settings
    from ui.theme import apply_theme

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv and sys.argv[0] else "sigma-studio"])
    app.setApplicationName("Sigma Studio")
    app.setOrganizationName("SigmaStudio")
    app.setQuitOnLastWindowClosed(True)
    set_app_identity(app)

    settings = Settings.load()
    apply_theme(app, settings.theme)
    gallery = Gallery()
    window = build_window(settings, gallery)
    window.show()
    app.processEvents()  # map and paint the window now, before anything else runs
    _report_timing(time.perf_counter() - entered, options.timing)
    if options.file is not None:
        window.open_file(options.file)

    # The engine thread starts only now, after the window is on screen.
    QTimer.singleShot(0, lambda: window.start(options.model))
    if options.quit_after_visible:
        QTimer.singleShot(QUIT_AFTER_VISIBLE_MS, window.close)
    interrupted = _close_on_ctrl_c(window)
    code = app.exec()
    stopped = window.shutdown()
    gallery.purge_trash(older_than=UNDO_WINDOW)  # the undo button went with the window
    gallery.close()
    if interrupted:
        code = 130
    if not stopped:
        # The engine is stuck in a step that cannot be interrupted; leave without waiting for it.
        log.warning("exiting while the engine thread is still busy")
        sys.stdout.flush()
        os._exit(code)
    return code


def _close_on_ctrl_c(window: Any) -> list[bool]:
    """Ctrl+C in the terminal closes the window (cancelling generation); the list turns truthy then."""
    from PySide6.QtCore import QTimer

    interrupted: list[bool] = []

    def close(*_args: Any) -> None:
        interrupted.append(True)
        window.close()

    signal.signal(signal.SIGINT, close)
    wake = QTimer(window)  # Python runs signal handlers only when it gets control back from Qt
    wake.timeout.connect(lambda: None)
    wake.start(250)
    return interrupted


def _report_timing(visible_s: float, mode: str | None) -> dict:
    """Print how long the window took ('text' or 'json'); returns the figures."""
    timing = {"visible_s": visible_s, "since_import_s": time.perf_counter() - _STARTED,
              "since_process_start_s": _process_age_s(),
              "heavy_before_visible": [name for name in HEAVY_MODULES if name in sys.modules]}
    if mode == "json":
        print(json.dumps(timing), flush=True)
    elif mode:
        print(format_timing(timing), flush=True)
    return timing


def _process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc), or None elsewhere."""
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of stat, counted after the command name
        with open("/proc/uptime", encoding="ascii") as handle:
            uptime = float(handle.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def format_timing(timing: dict) -> str:
    """One line for the README: window visible after N s (target ≤ 1 s)."""
    process = timing.get("since_process_start_s")
    extra = f", {process:.2f} s since the process started" if process is not None else ""
    verdict = "ok" if timing["visible_s"] <= TARGET_VISIBLE_S else "SLOW"
    heavy = ", ".join(timing.get("heavy_before_visible") or []) or "none"
    return (
        f"window visible in {timing['visible_s']:.2f} s after run(){extra} "
        f"(target ≤ {TARGET_VISIBLE_S:.0f} s: {verdict}); loaded before it: {heavy}"
    )
