"""Gallery reliability: connections do not leak across QThread slot calls or the thumbnail pool."""

from __future__ import annotations

import os

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
