"""Start the studio: QApplication with a qasync loop, the window shown first, then the engine thread.

Nothing heavy is imported before the window is visible: torch, diffusers and the model load on the
worker thread afterwards. `--timing` (or SIGMA_STUDIO_TIMING=1) prints how long the window took;
`--timing-json` (or SIGMA_STUDIO_TIMING=json) prints it as JSON for benchmarks/window_visible.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Sequence

_STARTED = time.perf_counter()  # as early as this module is imported (main.py imports it first)

log = logging.getLogger(__name__)

TIMING_ENV = "SIGMA_STUDIO_TIMING"
TARGET_VISIBLE_S = 1.0
HEAVY_MODULES = ("torch", "diffusers", "transformers")  # must load on the worker thread, after the window


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


def _parse(argv: Sequence[str]) -> dict:
    """The studio's own flags: --timing, --timing-json, --quit-after-visible, --model SOURCE."""
    args = list(argv[1:] if argv and not str(argv[0]).startswith("-") else argv)
    env = os.environ.get(TIMING_ENV, "")
    timing: bool | str = "json" if env == "json" else env not in ("", "0")
    options = {"timing": timing, "quit": False, "model": None}
    while args:
        arg = args.pop(0)
        if arg == "--timing":
            options["timing"] = True
        elif arg == "--timing-json":
            options["timing"] = "json"
        elif arg == "--quit-after-visible":
            options["quit"] = True
        elif arg == "--model" and args:
            options["model"] = args.pop(0)
    return options


def run(argv: Sequence[str] | None = None) -> int:
    """Run the studio until its window closes; returns the exit code (argv with or without the program name)."""
    entered = time.perf_counter()
    import qasync
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    argv = list(sys.argv if argv is None else argv)
    options = _parse(argv)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv and sys.argv[0] else "sigma-studio"])
    app.setApplicationName("Sigma Studio")
    app.setOrganizationName("SigmaStudio")
    app.setQuitOnLastWindowClosed(True)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    from app.settings import Settings
    from ui.main_window import MainWindow
    from ui.theme import apply_theme

    settings = Settings.load()
    apply_theme(app, settings.theme)
    window = MainWindow(settings=settings)
    window.show()
    app.processEvents()  # map and paint the window now, before anything else runs
    visible_s = time.perf_counter() - entered
    timing = {"visible_s": visible_s, "since_import_s": time.perf_counter() - _STARTED,
              "since_process_start_s": _process_age_s(),
              "heavy_before_visible": [name for name in HEAVY_MODULES if name in sys.modules]}
    window.startup_timing = timing
    if options["timing"] == "json":
        print(json.dumps(timing), flush=True)
    elif options["timing"]:
        print(format_timing(timing), flush=True)

    # The engine thread starts only now, after the window is on screen.
    QTimer.singleShot(0, lambda: window.start(options["model"]))
    if options["quit"]:
        QTimer.singleShot(50, window.close)

    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    code = 0
    try:
        with loop:
            loop.run_until_complete(closed.wait())
    except KeyboardInterrupt:
        code = 130
    finally:
        stopped = window.shutdown()
    if not stopped:
        # The engine is stuck in a step that cannot be interrupted; leave without waiting for it.
        log.warning("exiting while the engine thread is still busy")
        sys.stdout.flush()
        os._exit(code)
    return code


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


if __name__ == "__main__":
    sys.exit(run(sys.argv))
