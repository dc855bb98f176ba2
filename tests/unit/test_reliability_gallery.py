"""Gallery reliability: connections do not leak across QThread slot calls or the thumbnail pool."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.gallery import Gallery
from tests.unit.test_gallery import make_image, make_params


def open_files() -> int:
    """How many file descriptors this process holds."""
    return len(os.listdir("/proc/self/fd"))


class _Caller(QObject):
    """Calls the gallery from its thread, once per queued signal, like the engine thread's Worker."""

    finished = Signal(int)

    def __init__(self, gallery: Gallery) -> None:
        super().__init__()
        self.gallery = gallery

    @Slot(int)
    def run(self, seed: int) -> None:
        self.gallery.add(make_image(64, 64, seed), make_params("soak", seed=seed, width=64, height=64))
        self.gallery.count()
        self.finished.emit(seed)


class _Driver(QObject):
    go = Signal(int)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_gallery_calls_from_a_qthread_do_not_leak_connections(qtbot, tmp_path):
    gallery = Gallery(tmp_path / "g")
    thread = QThread()
    caller = _Caller(gallery)
    caller.moveToThread(thread)
    driver = _Driver()
    driver.go.connect(caller.run)
    thread.start()
    try:
        def one(seed: int) -> None:
            with qtbot.waitSignal(caller.finished, timeout=10000):
                driver.go.emit(seed)

        for seed in range(5):  # warm up
            one(seed)
        before = open_files()
        for seed in range(5, 45):
            one(seed)
        after = open_files()
    finally:
        thread.quit()
        thread.wait()
    assert gallery.count() == 45
    assert after - before <= 2, f"open files grew from {before} to {after} over 40 slot calls"
    gallery.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_thumbnail_loader_does_not_leak_connections(qtbot, tmp_path):
    from ui.gallery.thumbnails import ThumbnailLoader

    gallery = Gallery(tmp_path / "g")
    ids = [gallery.add(make_image(64, 64, s), make_params("t", seed=s, width=64, height=64)).id for s in range(4)]
    loader = ThumbnailLoader(gallery, threads=2)

    def load_all() -> None:
        for image_id in ids:
            with qtbot.waitSignal(loader.loaded, timeout=10000):
                loader.request(image_id)

    load_all()
    before = open_files()
    for _ in range(10):
        load_all()
    after = open_files()
    loader.wait()
    assert after - before <= 2, f"open files grew from {before} to {after} over 40 thumbnail loads"
    gallery.close()


def test_close_closes_every_connection(tmp_path):
    gallery = Gallery(tmp_path / "g")
    gallery.add(make_image(64, 64), make_params("x", width=64, height=64))
    before = open_files()
    gallery.close()
    assert open_files() < before


# ---------------------------------------------------------------------------------------------
# A damaged or read-only gallery database
# ---------------------------------------------------------------------------------------------

def _damage(db: Path, how: str) -> None:
    data = bytearray(db.read_bytes())
    if how == "garbage header":
        data[:100] = b"\xde\xad\xbe\xef" * 25
    elif how == "truncated":
        data = data[: len(data) // 3]
    else:  # garbage over the middle pages
        page = 4096
        middle = max(page, (len(data) // page // 2) * page)
        data[middle : middle + 2 * page] = os.urandom(2 * page)
    db.write_bytes(bytes(data))


def _filled_gallery(root: Path, count: int = 3) -> list[str]:
    gallery = Gallery(root)
    prompts = [f"picture number {i} " + "padding words " * 200 for i in range(count)]
    for i, prompt in enumerate(prompts):
        gallery.add(make_image(64, 64, i), make_params(prompt, seed=i, width=64, height=64))
    with gallery._write() as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    gallery.close()
    return prompts


@pytest.mark.parametrize("how", ["garbage header", "truncated", "garbage over the middle pages"])
def test_a_damaged_gallery_is_kept_aside_and_rebuilt_from_the_images(tmp_path, how):
    root = tmp_path / "g"
    prompts = _filled_gallery(root)
    db = root / "gallery.sqlite3"
    for side in ("-wal", "-shm"):
        Path(str(db) + side).unlink(missing_ok=True)
    original = db.read_bytes()
    _damage(db, how)
    damaged = db.read_bytes()
    assert damaged != original

    gallery = Gallery(root)
    backups = list(root.glob("gallery.sqlite3.damaged-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == damaged
    assert gallery.notice and backups[0].name in gallery.notice and "damaged" in gallery.notice
    assert sorted(r.prompt for r in gallery.query()) == sorted(prompts)
    assert all(r.seed is not None and r.exists for r in gallery.query())
    new = gallery.add(make_image(64, 64, 9), make_params("after the rebuild", seed=9, width=64, height=64))
    assert gallery.get(new.id).prompt == "after the rebuild"
    gallery.close()


def test_damage_found_later_is_a_gallery_error_not_a_raw_sqlite_error(tmp_path):
    from app.gallery import GalleryError

    root = tmp_path / "g"
    _filled_gallery(root, count=30)
    gallery = Gallery(root)
    for conn in gallery._idle:  # connections opened after the damage read the damaged pages
        conn.close()
    gallery._idle.clear()
    _damage(root / "gallery.sqlite3", "garbage over the middle pages")
    calls = [gallery.count, gallery.query, gallery.ids, gallery.missing, lambda: gallery.query("picture"),
             lambda: gallery.get(3), lambda: gallery.set_favourite(2, True)]
    errors = []
    for call in calls:
        try:
            call()
        except GalleryError as exc:  # anything else (a raw sqlite3.DatabaseError) fails the test
            errors.append(str(exc))
    assert errors and all("gallery" in error for error in errors)
    gallery.close()


def test_a_read_only_gallery_opens_for_reading_with_a_read_only_message(tmp_path, monkeypatch):
    from app.gallery import GalleryError
    from app.gallery import store as gallery_store

    root = tmp_path / "g"
    prompts = _filled_gallery(root)
    real_connect = sqlite3.connect

    def read_only_connect(database, *args, uri=False, **kwargs):  # the fault: a file we may not write
        if not uri:
            database, uri = f"{Path(database).as_uri()}?mode=ro", True
        return real_connect(database, *args, uri=uri, **kwargs)

    monkeypatch.setattr(gallery_store.sqlite3, "connect", read_only_connect)
    gallery = Gallery(root)
    assert gallery.read_only and "read-only" in gallery.notice and "damaged" not in gallery.notice
    assert sorted(r.prompt for r in gallery.query()) == sorted(prompts)
    with pytest.raises(GalleryError, match="read-only"):
        gallery.add(make_image(64, 64), make_params("x", width=64, height=64))
    assert not list(root.glob("gallery.sqlite3.damaged-*"))
    gallery.close()


def test_the_studio_starts_on_a_damaged_gallery_and_says_so(qtbot, tmp_path):
    from tests.unit.test_main_window import FAKE, make_window

    gallery = Gallery()
    gallery.add(make_image(64, 64), make_params("kept", width=64, height=64))
    gallery.close()
    _damage(gallery.db_path, "garbage header")
    window = make_window(qtbot, FAKE, Gallery())
    assert "damaged" in window.banner.text.text() and "kept as" in window.banner.text.text()
    assert [r.prompt for r in window.gallery.query()] == ["kept"]


def test_main_py_starts_on_a_damaged_gallery(tmp_path):
    import subprocess
    import sys

    gallery = Gallery()
    gallery.close()
    _damage(gallery.db_path, "garbage header")
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, str(root / "main.py"), "--quit-after-visible"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert list(gallery.root.glob("gallery.sqlite3.damaged-*"))


# ---------------------------------------------------------------------------------------------
# Crash leftovers: partial temp files, images without a record
# ---------------------------------------------------------------------------------------------

def _leftovers(gallery: Gallery) -> tuple[Path, Path, Path]:
    """An old partial temp file, a fresh one (another window may be writing it), and an orphan image."""
    from app import metadata

    folder = gallery.images_dir / "2024-05"
    folder.mkdir(parents=True, exist_ok=True)
    old_tmp, new_tmp = folder / ".20240501_1_ab.1a2b3c4d.tmp.png", folder / ".20240501_2_cd.5e6f7a8b.tmp.png"
    old_tmp.write_bytes(b"partial")
    new_tmp.write_bytes(b"partial")
    stamp = os.path.getmtime(old_tmp) - 2 * 3600
    os.utime(old_tmp, (stamp, stamp))
    orphan = folder / "20240501-120000_77_deadbeef.png"
    metadata.save_image(make_image(64, 64, 77), orphan, make_params("an orphan", seed=77, width=64, height=64))
    return old_tmp, new_tmp, orphan


def test_sweep_removes_old_partial_files_and_finds_orphans(tmp_path):
    from app.gallery import recovery

    gallery = Gallery(tmp_path / "g")
    kept = gallery.add(make_image(64, 64), make_params("kept", width=64, height=64))
    old_tmp, new_tmp, orphan = _leftovers(gallery)
    assert recovery.sweep_temp_files(gallery) == 1
    assert not old_tmp.exists() and new_tmp.exists() and kept.path.exists()
    assert recovery.orphans(gallery) == [orphan]
    gallery.close()


def test_the_studio_offers_to_readd_orphans_found_at_start(qtbot):
    from tests.unit.test_main_window import FAKE, make_window
    from ui.leftovers import check_leftovers

    gallery = Gallery()
    old_tmp, _new_tmp, orphan = _leftovers(gallery)
    window = make_window(qtbot, FAKE, gallery)
    check_leftovers(window)
    qtbot.waitUntil(lambda: window.banner.action_button.isVisible(), timeout=10000)
    assert not old_tmp.exists() and "1 image(s)" in window.banner.text.text()
    window.banner.action_button.click()
    qtbot.waitUntil(lambda: gallery.count() == 1, timeout=10000)
    record = gallery.query()[0]
    assert record.prompt == "an orphan" and record.seed == 77 and record.path == orphan
