"""File ▸ Import batch folder…: the studio adds a batch folder's images to its gallery grid, once each."""

from __future__ import annotations

import functools

from app.batch.output import read_manifest
from tests.fake_engine import FAKE_MODEL, FakeEngine
from tests.studio_harness import StudioEngine, make_window
from tests.unit.test_batch import job, run_batch, write_jobs
from ui.batch_import import ACTION_TEXT, import_batch

FAKE = StudioEngine(functools.partial(FakeEngine, step_s=0.0), FAKE_MODEL, 10_000, 30_000)


def test_import_batch_folder_adds_the_images_once(qtbot, tmp_path):
    jobs = write_jobs(tmp_path / "jobs.jsonl", [job(seed=1, count=3)])
    out = tmp_path / "out"
    assert run_batch([str(jobs), "--out", str(out), "--model", FAKE_MODEL]) == 0
    win = make_window(qtbot, FAKE)
    file_menu = win.menuBar().actions()[0].menu()
    action = next(a for a in file_menu.actions() if a.text() == ACTION_TEXT)
    assert action is win.import_batch_action
    for expected_rows, message in ((3, "Imported 3 image(s) from the batch"),
                                   (3, "Imported 0 image(s) from the batch (3 were in the gallery already)")):
        task = import_batch(win, out)
        qtbot.waitUntil(lambda task=task: task.done, timeout=10_000)
        assert win.gallery_panel.model.rowCount() == expected_rows
        assert message in win.statusBar().currentMessage()
    assert sorted(r.params["batch"]["key"] for r in win.gallery.query()) == sorted(
        e["key"] for e in read_manifest(out))
    task = import_batch(win, tmp_path)  # not a batch folder
    qtbot.waitUntil(lambda: task.done, timeout=10_000)
    assert win.banner.isVisible() and "manifest.jsonl" in win.banner.text.text()
    win.close()
