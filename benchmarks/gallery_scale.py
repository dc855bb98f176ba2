"""The gallery at 10,000 images: query/count/search/delete times (target under 50 ms each) and the
longest UI stall while scrolling the grid from top to bottom (target under 100 ms). These were
timing assertions in tests/test_gallery.py and tests/test_gallery_ui.py; the tests now check what
the operations return and this script prints the figures.

    python benchmarks/gallery_scale.py [--rows 10000]

Prints one JSON object, then a readable line per figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORDS = ["neon", "city", "forest", "poster", "cat", "ocean", "castle", "desert", "robot", "flower"]


def best_ms(fn, repeat: int = 5) -> float:
    """Best wall time of fn() in milliseconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - start) * 1000)
    return best


def seed_gallery(gallery, rows: int) -> tuple[list[int], float, float]:
    """Ten real adds, then `rows` indexed files that share 24 real images; (ids, ms per add, bulk ms)."""
    from PIL import Image

    start = time.perf_counter()
    for i in range(10):
        gallery.add(Image.new("RGB", (64, 64), (i * 20, 0, 0)), {"prompt": f"timed add {i}", "seed": i})
    per_add_ms = (time.perf_counter() - start) * 100
    folder = gallery.images_dir / "2024-01"
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for i in range(24):
        path = folder / f"src{i}.png"
        Image.new("RGB", (320, 200), (i * 10, 255 - i * 10, 128)).save(path)
        sources.append(path)
    entries = [(sources[i % 24], {"prompt": f"{WORDS[i % 10]} {WORDS[(i * 7) % 10]} scene number {i}",
                                  "negative": "blurry" if i % 3 == 0 else "", "seed": i, "width": 320, "height": 200})
               for i in range(rows)]
    start = time.perf_counter()
    ids = gallery.add_bulk(entries)
    return ids, per_add_ms, (time.perf_counter() - start) * 1000


def store_timings(gallery, ids: list[int]) -> dict[str, float]:
    """Query, count, search and delete times over the seeded gallery."""
    for i in range(0, len(ids), 400):
        gallery.set_favourite(ids[i], True)
    timings = {
        "query first page": best_ms(lambda: gallery.query(limit=200)),
        "query page at 9000": best_ms(lambda: gallery.query(offset=9000, limit=200)),
        "query search 'city desert'": best_ms(lambda: gallery.query("city desert", limit=200)),
        "query search 'blurry' page 10": best_ms(lambda: gallery.query("blurry", offset=2000, limit=200)),
        "query favourites": best_ms(lambda: gallery.query(favourites_only=True)),
        "count all": best_ms(lambda: gallery.count()),
        "count search 'neon'": best_ms(lambda: gallery.count("neon")),
        "ids all": best_ms(lambda: gallery.ids()),
        "ids search 'forest'": best_ms(lambda: gallery.ids("forest")),
    }
    gallery.has_fts = False
    timings["query search 'city desert' (LIKE fallback)"] = best_ms(lambda: gallery.query("city desert"))
    timings["count search 'neon' (LIKE fallback)"] = best_ms(lambda: gallery.count("neon"))
    gallery.has_fts = True
    start = time.perf_counter()
    token = gallery.delete(ids[:1500])
    timings["delete 1,500 records"] = (time.perf_counter() - start) * 1000
    gallery.undo_delete(token)
    return timings


def scroll_stall_ms(gallery) -> tuple[float, float, float]:
    """(panel ready ms, longest gap between 5 ms timer ticks while scrolling, UI-thread CPU ms in it)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ui.gallery import GalleryPanel

    app = QApplication.instance() or QApplication(["gallery-scale"])
    start = time.perf_counter()
    panel = GalleryPanel(gallery)
    panel.resize(1000, 700)
    panel.show()
    app.processEvents()
    ready_ms = (time.perf_counter() - start) * 1000
    ticks: list[tuple[float, float]] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append((time.perf_counter(), time.thread_time())))
    timer.start()
    bar = panel.view.verticalScrollBar()
    for step in range(151):
        bar.setValue(round(bar.maximum() * step / 150))
        until = time.perf_counter() + 0.015
        while time.perf_counter() < until:
            app.processEvents()
    timer.stop()
    panel.shutdown()
    stall, busy = max((b[0] - a[0], b[1] - a[1]) for a, b in zip(ticks, ticks[1:]))
    return ready_ms, stall * 1000, busy * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.gallery import Gallery

    with tempfile.TemporaryDirectory() as folder:
        gallery = Gallery(Path(folder) / "gallery")
        ids, per_add_ms, bulk_ms = seed_gallery(gallery, args.rows)
        timings = store_timings(gallery, ids)
        ready_ms, stall_ms, busy_ms = scroll_stall_ms(gallery)
        gallery.close()
    result = {"rows": args.rows + 10, "add_ms": per_add_ms, "add_bulk_ms": bulk_ms, "store_ms": timings,
              "panel_ready_ms": ready_ms, "scroll_stall_ms": stall_ms, "scroll_stall_ui_busy_ms": busy_ms}
    print(json.dumps(result))
    print(f"[gallery] add() with files: {per_add_ms:.1f} ms each; add_bulk of {args.rows:,} rows: {bulk_ms:.0f} ms")
    for name, ms in timings.items():
        print(f"[gallery] {name} over {args.rows + 10:,} rows: {ms:.1f} ms{'' if ms <= 50 else '  (SLOW: > 50 ms)'}")
    print(f"[gallery] panel ready in {ready_ms:.0f} ms; longest UI stall while scrolling to the end "
          f"{stall_ms:.1f} ms (UI thread busy {busy_ms:.1f} ms of it; target < 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
