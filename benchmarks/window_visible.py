"""Time from starting the studio to its window being visible (target: 1 s), and that torch is not
loaded before it. Starts the studio N times with `--timing-json --quit-after-visible`.

    python benchmarks/window_visible.py [--runs 5] [--platform offscreen]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.0


def launch(home: Path, platform: str | None) -> dict:
    """One studio start; returns its timing dict."""
    env = dict(os.environ, SIGMA_STUDIO_HOME=str(home))
    if platform:
        env["QT_QPA_PLATFORM"] = platform
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from main import main; "
            "sys.exit(main(['--timing-json', '--quit-after-visible']))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:  # e.g. the start-up check found no display: say why, not a traceback
        sys.exit(f"the studio did not start (exit {done.returncode}): {done.stderr.strip()[-600:]}\n"
                 "run it on a display (or Xvfb), or pass --platform offscreen")
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM"), help="Qt platform, e.g. offscreen")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        runs = [launch(Path(home), args.platform) for _ in range(args.runs)]
    visible = [r["visible_s"] for r in runs]
    process = [r["since_process_start_s"] for r in runs if r.get("since_process_start_s") is not None]
    heavy = sorted({name for r in runs for name in r.get("heavy_before_visible", [])})
    result = {
        "runs": args.runs,
        "visible_s_median": statistics.median(visible),
        "visible_s_max": max(visible),
        "since_process_start_s_median": statistics.median(process) if process else None,
        "heavy_modules_before_visible": heavy,
        "target_s": TARGET_S,
    }
    print(json.dumps(result))
    since = f", {result['since_process_start_s_median']:.2f} s from process start" if process else ""
    print(f"window visible in {result['visible_s_median']:.2f} s (median of {args.runs}, max "
          f"{result['visible_s_max']:.2f} s){since}; torch loaded before it: {', '.join(heavy) or 'no'}; "
          f"target {TARGET_S:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
