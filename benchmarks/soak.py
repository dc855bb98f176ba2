"""A long session in one process: many jobs through the real studio classes, watching open files and memory.

    python benchmarks/soak.py --jobs 300 [--cancel-every K] [--size 256] [--steps 1] [--model SOURCE]

Runs offscreen with the embedded demo model (unless --model): the JobQueue and JobRunner (engine
thread, Worker), a Gallery in a temporary SIGMA_STUDIO_HOME and the ThumbnailLoader that the gallery
grid uses; every finished image's thumbnail is loaded as the grid would, and every K-th job is
cancelled while it runs. Open files and RSS are measured after a warm-up of WARMUP jobs and at the
end. Targets (issue 11): every job succeeds under `ulimit -n 256`, open files grow by ≤ 10, RSS by
≤ 100 MB. Progress goes to stderr; the last line on stdout is one JSON object: done, cancelled,
failed, files, records, fds_start, fds_end, rss_mb_start, rss_mb_end, seconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WARMUP = 10


def open_files() -> int:
    """File descriptors this process holds (Linux /proc; -1 elsewhere)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def rss_mb() -> float:
    """Resident memory in MB (Linux /proc; -1 elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--cancel-every", type=int, default=0, metavar="K", help="cancel every K-th job (0: none)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--model", default=None, help="model source (default: the embedded demo model)")
    return parser.parse_args(argv)


def pump(app, until, timeout_s: float = 600.0) -> bool:
    """Run the event loop until until() is true; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.002)
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("SIGMA_STUDIO_HOME", tempfile.mkdtemp(prefix="sigma-soak-"))
    from PySide6.QtWidgets import QApplication

    from app import paths
    from app.gallery import Gallery
    from app.jobs import JobRequest, JobState
    from app.sizes import plan_size
    from app.worker import JobRunner
    from ui.gallery.thumbnails import ThumbnailLoader

    app = QApplication.instance() or QApplication(["soak"])
    gallery = Gallery()
    runner = JobRunner(gallery, device="cpu", cache_dir=paths.cache_dir())
    loader = ThumbnailLoader(gallery)
    thumbs = {"loaded": 0, "failed": 0}
    loader.loaded.connect(lambda *_: thumbs.__setitem__("loaded", thumbs["loaded"] + 1))
    loader.failed.connect(lambda *_: thumbs.__setitem__("failed", thumbs["failed"] + 1))
    runner.job_outputs.connect(lambda _id, outputs: [loader.request(o.record.id) for o in outputs if o.record])
    failures: list[str] = []
    runner.model_failed.connect(failures.append)
    runner.load_model(args.model)
    if not pump(app, lambda: runner.model_info is not None or failures):
        failures.append("the model did not load in time")
    if runner.model_info is None:
        print(f"the model did not load: {failures}", file=sys.stderr)
        return 1

    plan = plan_size(args.size, args.size)
    counts = {"done": 0, "cancelled": 0, "failed": 0}
    start = {"fds": open_files(), "rss": rss_mb()}
    started = time.perf_counter()
    for number in range(1, args.jobs + 1):
        request = JobRequest(prompt=f"soak test image {number % 7}", width=args.size, height=args.size,
                             steps=args.steps, seed=number)
        job = runner.submit(request, plan)
        if args.cancel_every and number % args.cancel_every == 0:
            pump(app, lambda j=job: j.state is not JobState.queued)
            runner.cancel(job.id)
        pump(app, lambda j=job: j.state.is_finished)
        state = job.state.name if job.state.name in counts else "failed"
        counts[state] += 1
        if job.state.name == "failed":
            failures.append(str(job.error))
        pump(app, lambda: not loader._in_flight and not loader._pending, timeout_s=30)
        if number == WARMUP:
            gc.collect()
            start = {"fds": open_files(), "rss": rss_mb()}
        if number % 25 == 0:
            print(f"{number}/{args.jobs}: {counts}, fds {open_files()}, rss {rss_mb():.0f} MB",
                  file=sys.stderr, flush=True)
    gc.collect()
    end = {"fds": open_files(), "rss": rss_mb()}
    records = gallery.count()
    files = sum(1 for p in gallery.images_dir.rglob("*") if p.is_file())
    loader.wait()
    runner.stop()
    gallery.close()
    result = {**counts, "files": files, "records": records, "thumbnails_loaded": thumbs["loaded"],
              "fds_start": start["fds"], "fds_end": end["fds"], "rss_mb_start": round(start["rss"], 1),
              "rss_mb_end": round(end["rss"], 1), "warmup_jobs": WARMUP,
              "seconds": round(time.perf_counter() - started, 1), "first_failure": failures[0] if failures else None}
    print(json.dumps(result), flush=True)
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
