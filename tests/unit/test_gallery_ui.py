"""The gallery panel and the export dialog against a real Gallery with real image files."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from app.gallery import Gallery
from app.metadata import read_params
from ui.gallery import CELL, FavouriteRole, GalleryPanel

PROMPTS = ["a red castle on a hill", "blue ocean waves at dawn", "green forest with fog"]
COLOURS = [(200, 40, 40), (40, 60, 200), (40, 160, 60)]


def _params(i: int, prompt: str) -> dict:
    return {"prompt": prompt, "negative": "blurry", "width": 96, "height": 64, "seed": 100 + i,
            "steps": 20, "guidance": 4.5, "model": "tiny", "kv_compress": "off"}


@pytest.fixture
def gallery(tmp_path):
    g = Gallery(tmp_path / "gallery")
    for i, (prompt, colour) in enumerate(zip(PROMPTS, COLOURS)):
        g.add(Image.new("RGB", (96, 64), colour), _params(i, prompt))
    yield g
    g.close()


@pytest.fixture
def panel(qtbot, gallery):
    widget = GalleryPanel(gallery)
    qtbot.addWidget(widget)
    widget.resize(800, 600)
    with qtbot.waitExposed(widget):
        widget.show()
    yield widget
    widget.shutdown()


def _ids(panel: GalleryPanel) -> list[int]:
    return [panel.model.id_at(row) for row in range(panel.model.rowCount())]


def _thumbnails_shown(panel: GalleryPanel) -> bool:
    """Every row shows its thumbnail (not the placeholder) — what the grid paints."""
    model = panel.model
    # Compared by cache key: a pixmap read through QModelIndex.data() is a new Python wrapper each time.
    return all(model.index(row).data(Qt.ItemDataRole.DecorationRole).cacheKey() != model.placeholder.cacheKey()
               for row in range(model.rowCount()))


def _press(qtbot, panel: GalleryPanel, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    panel.activateWindow()
    panel.view.setFocus()
    qtbot.keyClick(panel.view, key, modifier)


# ---------------------------------------------------------------------------------------------
# Background tasks (ui.tasks)
# ---------------------------------------------------------------------------------------------

def test_task_reports_progress_result_and_errors_on_the_ui_thread(qtbot):
    import threading

    from ui.tasks import run_task

    seen: list[tuple] = []
    main = threading.get_ident()

    def work(ctx):
        ctx.progress(1, 2, "half")
        return threading.get_ident()

    with qtbot.waitSignal(run_task(work, on_progress=lambda *a: seen.append((a, threading.get_ident())),
                                   on_result=lambda v: seen.append(("result", v))).finished, timeout=5000):
        pass
    assert seen[0] == ((1, 2, "half"), main)
    assert seen[1][0] == "result" and seen[1][1] != main  # the function ran on a pool thread

    errors = []
    with qtbot.waitSignal(run_task(lambda ctx: 1 / 0, on_error=errors.append).finished, timeout=5000):
        pass
    assert isinstance(errors[0], ZeroDivisionError)


def test_task_cancel_and_owner_destroyed(qtbot):
    import threading

    from PySide6.QtCore import QObject

    from ui.tasks import run_task

    release = threading.Event()

    def wait_for_cancel(ctx):
        while not ctx.should_cancel():
            release.wait(0.01)
        return "stopped"

    results = []
    task = run_task(wait_for_cancel, on_result=results.append)
    task.cancel()
    qtbot.waitUntil(lambda: task.done, timeout=5000)
    assert results == ["stopped"]

    owner = QObject()
    late = []
    orphan = run_task(wait_for_cancel, on_result=late.append, owner=owner)
    owner.deleteLater()
    qtbot.waitUntil(lambda: orphan.done, timeout=5000)
    assert orphan.cancelled and late == []  # a destroyed owner is never called back


def test_many_signals_do_not_exhaust_singleton_references(qtbot):
    """PySide6 6.12.0 drops a reference to None per Python slot call and to True per emit, and the
    process aborts after a few thousand (pyproject pins PySide6 below 6.12); this catches a relapse."""
    from PySide6.QtCore import QObject, Signal

    class Source(QObject):
        ping = Signal()

    source = Source()
    source.ping.connect(lambda: None)
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(2000):
        source.ping.emit()
    counter = []
    timer = QTimer()
    timer.setInterval(0)
    timer.timeout.connect(lambda: counter.append(1))
    timer.start()
    qtbot.waitUntil(lambda: len(counter) >= 20_000, timeout=60_000)  # aborted the process before the fix
    timer.stop()
    if sys.version_info < (3, 12):  # from 3.12 None and True are immortal and their counts are fixed
        assert sys.getrefcount(True) >= true_before - 100
        assert sys.getrefcount(None) >= none_before - 1000


# ---------------------------------------------------------------------------------------------
# Gallery panel
# ---------------------------------------------------------------------------------------------

def test_shows_items_newest_first_and_loads_thumbnails(qtbot, panel, gallery):
    assert panel.model.rowCount() == 3
    assert _ids(panel) == gallery.ids()
    assert panel.model.data(panel.model.index(0)) == PROMPTS[2]
    assert panel.count_label.text() == "3 images"
    qtbot.waitUntil(lambda: _thumbnails_shown(panel), timeout=5000)
    pixmap = panel.model.data(panel.model.index(0), Qt.ItemDataRole.DecorationRole)
    assert pixmap is not panel.model.placeholder and not pixmap.isNull()


def test_search_filters_after_debounce(qtbot, panel):
    panel.search.setText("castle")
    assert panel.model.rowCount() == 3  # debounced, not yet applied
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=2000)
    assert panel.model.data(panel.model.index(0)) == PROMPTS[0]
    panel.search.setText("")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3, timeout=2000)


def test_favourite_by_shortcut_star_and_filter(qtbot, panel, gallery):
    panel.select_rows([0])
    _press(qtbot, panel, Qt.Key.Key_F)
    first = panel.model.id_at(0)
    assert gallery.get(first).favourite
    assert panel.model.data(panel.model.index(0), FavouriteRole) is True

    # clicking the star of the second cell toggles it without selecting it
    rect = panel.view.visualRect(panel.model.index(1))
    pixmap = panel.model.index(1).data(Qt.ItemDataRole.DecorationRole)  # the star sits on the thumbnail
    star = panel.delegate.star_rect(rect, pixmap).center()
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=star)
    assert gallery.get(panel.model.id_at(1)).favourite

    panel.favourites.setChecked(True)
    assert panel.model.rowCount() == 2
    panel.favourites.setChecked(False)
    panel.select_rows([0])
    panel.favourite_action.trigger()  # all selected are favourites -> unfavourite
    assert not gallery.get(first).favourite


def test_delete_and_undo(qtbot, panel, gallery):
    messages: list[str] = []
    panel.status_message.connect(messages.append)
    records = {r.id: r for r in gallery.query()}
    panel.select_rows([0, 2])
    doomed = [panel.model.id_at(0), panel.model.id_at(2)]
    _press(qtbot, panel, Qt.Key.Key_Delete)
    assert panel.model.rowCount() == 1
    assert gallery.count() == 1
    assert not any(records[i].path.exists() for i in doomed)
    assert panel.undo_bar.isVisible()
    assert "undo" in messages[-1].lower()

    _press(qtbot, panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.model.rowCount() == 3
    assert all(records[i].path.exists() for i in doomed)
    assert sorted(r.id for r in panel.selected_records()) == sorted(doomed)
    assert "Restored 2" in messages[-1]


def test_delete_undo_with_button(qtbot, panel, gallery):
    panel.select_rows([1])
    panel.delete_action.trigger()
    assert gallery.count() == 2
    qtbot.mouseClick(panel.undo_button, Qt.MouseButton.LeftButton)
    assert gallery.count() == 3 and panel.model.rowCount() == 3


def test_use_settings_emits_record_params(qtbot, panel, gallery):
    panel.select_rows([1])
    record = panel.selected_records()[0]
    with qtbot.waitSignal(panel.use_settings, timeout=1000) as blocker:
        panel.use_action.trigger()
    assert blocker.args[0] == record.params
    assert blocker.args[0]["prompt"] == PROMPTS[1] and blocker.args[0]["seed"] == 101


def test_export_requested_with_selected_records(qtbot, panel):
    panel.select_rows([0, 1])
    with qtbot.waitSignal(panel.export_requested, timeout=1000) as blocker:
        _press(qtbot, panel, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert [r.id for r in blocker.args[0]] == [panel.model.id_at(0), panel.model.id_at(1)]


def test_window_shortcut_with_same_keys_is_not_ambiguous(qtbot, gallery):
    window = QMainWindow()
    qtbot.addWidget(window)
    fired = []
    export = QAction("Export selected…", window)
    export.setShortcut(QKeySequence("Ctrl+E"))
    export.triggered.connect(lambda: fired.append("window"))
    window.addAction(export)
    panel = GalleryPanel(gallery)
    panel.export_requested.connect(lambda records: fired.append("panel"))
    window.setCentralWidget(panel)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    panel.select_rows([0])
    _press(qtbot, panel, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    _press(qtbot, panel, Qt.Key.Key_F)
    assert fired == ["window"]  # the window's action runs once; the panel gave way
    assert gallery.get(panel.model.id_at(0)).favourite  # keys the window does not use still work
    panel.shutdown()


def test_drag_out_mime_has_file_urls(panel):
    panel.select_rows([0, 2])
    indexes = panel.view.selectionModel().selectedIndexes()
    mime = panel.model.mimeData(indexes)
    urls = mime.urls()
    assert all(url.isLocalFile() for url in urls)
    paths = [Path(url.toLocalFile()) for url in urls]
    assert paths == [r.path for r in panel.selected_records()]
    assert all(p.is_file() and p.suffix == ".png" for p in paths)
    assert panel.model.supportedDragActions() == Qt.DropAction.CopyAction
    assert panel.model.flags(indexes[0]) & Qt.ItemFlag.ItemIsDragEnabled


def test_add_record_goes_on_top_without_reload(qtbot, panel, gallery):
    seen_reset = []
    panel.model.modelReset.connect(lambda: seen_reset.append(True))
    record = gallery.add(Image.new("RGB", (96, 64), (9, 9, 9)), _params(9, "a new castle"))
    panel.add_record(record)
    assert panel.model.id_at(0) == record.id and panel.model.rowCount() == 4
    assert not seen_reset
    panel.search.setText("ocean")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=2000)
    other = gallery.add(Image.new("RGB", (96, 64), (9, 9, 9)), _params(10, "desert"))
    panel.add_record(other)
    assert panel.model.rowCount() == 1  # does not match the search


def test_missing_file_shows_placeholder_not_crash(qtbot, panel, gallery):
    qtbot.waitUntil(lambda: _thumbnails_shown(panel), timeout=5000)
    record = gallery.get(panel.model.id_at(0))
    record.path.unlink()
    record.thumb_path.unlink()
    panel.refresh()
    assert panel.model.rowCount() == 3  # the record stays, flagged missing
    panel.shutdown()
    panel = GalleryPanel(gallery)  # a fresh grid (the next start) has no cached thumbnail to show
    qtbot.addWidget(panel)
    panel.model.data(panel.model.index(0), Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(lambda: panel.model.data(panel.model.index(0), Qt.ItemDataRole.DecorationRole)
                    is panel.model.missing, timeout=5000)
    assert panel.model.data(panel.model.index(0), Qt.ItemDataRole.DecorationRole) is panel.model.missing
    assert "missing" in panel.model.data(panel.model.index(0), Qt.ItemDataRole.ToolTipRole).lower()


def test_scroll_10000_items_to_the_end(qtbot, tmp_path):
    """The grid scrolls through 10,000 items and loads the last screen's thumbnails; the stall figure is
    benchmarks/gallery_scale.py's."""
    g = Gallery(tmp_path / "big")
    folder = g.images_dir / "2024-01"
    folder.mkdir(parents=True)
    sources = []
    for i in range(24):
        path = folder / f"src{i}.png"
        Image.new("RGB", (320, 200), (i * 10, 255 - i * 10, 128)).save(path)
        sources.append(path)
    entries = [(sources[i % len(sources)], {"prompt": f"wallpaper number {i} of a city", "seed": i,
                                             "width": 320, "height": 200}) for i in range(10_000)]
    g.add_bulk(entries)

    panel = GalleryPanel(g)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    with qtbot.waitExposed(panel):
        panel.show()
    assert panel.model.rowCount() == 10_000

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    bar = panel.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 10_000 // 5 * CELL.height() // 2, timeout=5000)
    steps = 150
    for step in range(steps + 1):
        bar.setValue(round(bar.maximum() * step / steps))
        qtbot.wait(15)
    assert bar.value() == bar.maximum()
    last = panel.model.index(panel.model.rowCount() - 1)
    assert panel.view.viewport().rect().intersects(panel.view.visualRect(last))
    placeholder = panel.model.placeholder.cacheKey()
    qtbot.waitUntil(lambda: last.data(Qt.ItemDataRole.DecorationRole).cacheKey() != placeholder,
                    timeout=5000)  # the thumbnails of the last screen load once scrolling stops
    timer.stop()
    assert len(ticks) > 10  # the UI thread kept running its timer while scrolling
    panel.shutdown()
    g.close()


# ---------------------------------------------------------------------------------------------
# Export dialog
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def two_records(gallery):
    return gallery.query(limit=2)


def _export(qtbot, dialog) -> object:
    with qtbot.waitSignal(dialog.finished_export, timeout=30000) as blocker:
        assert dialog.start()
    return blocker.args[0]


def test_export_sizes_formats_and_metadata(qtbot, tmp_path, two_records):
    from ui.export_dialog import ExportDialog

    out = tmp_path / "out"
    dialog = ExportDialog(two_records)
    qtbot.addWidget(dialog)
    dialog.set_sizes(["1080p", "square-1024"])
    dialog.add_custom_size(300, 500)
    dialog.set_formats(["png", "jpeg"])
    dialog.set_fit("fit", (255, 0, 255))
    dialog.set_quality(80)
    dialog.set_out_dir(out)
    assert dialog.update_plan() == 2 * 3 * 2
    assert "12 files" in dialog.plan_label.text()
    assert dialog.example.text().startswith("Example: ")

    report = _export(qtbot, dialog)
    assert not report.cancelled and not report.failed and not report.skipped
    assert len(report.written) == 12
    seen = set()
    for path in report.written:
        with Image.open(path) as image:
            seen.add((image.size, image.format))
            if image.size == (300, 500):  # 96x64 fitted into 300x500: magenta padding top and bottom
                assert image.convert("RGB").getpixel((150, 2)) == pytest.approx((255, 0, 255), abs=12)
        params = read_params(path)
        assert params["prompt"] in PROMPTS and params["seed"] in (101, 102)
    assert seen == {(size, fmt) for size in [(1920, 1080), (1024, 1024), (300, 500)] for fmt in ("PNG", "JPEG")}
    assert "Wrote 12 files" in dialog.result_label.text()

    # a second run never overwrites: every file gets a new name and the count says so
    before = {p: p.stat().st_mtime_ns for p in report.written}
    assert "12 files get a number added" in dialog.plan_label.text()
    second = _export(qtbot, dialog)
    assert len(second.written) == 12 and not set(second.written) & set(before)
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    assert "12 files renamed" in dialog.result_label.text()


def test_export_cancel_stops_early(qtbot, tmp_path, two_records, monkeypatch):
    import app.export
    from ui.export_dialog import ExportDialog

    real_write = app.export._write

    def slow_write(*args, **kwargs):
        time.sleep(0.05)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(app.export, "_write", slow_write)
    dialog = ExportDialog(two_records)
    qtbot.addWidget(dialog)
    dialog.set_sizes(["1080p", "1440p", "square-1024", "square-2048"])
    dialog.set_formats(["png", "webp", "jpeg"])
    dialog.set_out_dir(tmp_path / "out")
    with qtbot.waitSignal(dialog.finished_export, timeout=30000) as blocker:
        assert dialog.start()
        assert dialog.is_running() and dialog.cancel_button.text() == "Cancel"
        qtbot.waitUntil(lambda: dialog.progress.value() >= 1, timeout=10000)
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert report.cancelled
    assert 1 <= len(report.written) < 24
    assert "cancelled" in dialog.result_label.text()
    assert not dialog.is_running() and dialog.export_button.isEnabled()
    assert dialog.result() == 0  # cancelling an export does not close the dialog


def test_export_errors_shown_clearly(qtbot, tmp_path, two_records):
    from ui.export_dialog import ExportDialog

    dialog = ExportDialog(two_records)
    qtbot.addWidget(dialog)
    dialog.set_sizes(["1080p"])
    dialog.set_out_dir(tmp_path / "out")
    dialog.set_template("{name}_{bogus}")
    assert dialog.update_plan() == 0
    assert "bogus" in dialog.plan_label.text() and not dialog.export_button.isEnabled()
    assert not dialog.start()
    assert "bogus" in dialog.result_label.text()

    blocker_file = tmp_path / "a-file"
    blocker_file.write_text("x")
    dialog.set_template("{name}_{w}x{h}")
    dialog.set_out_dir(blocker_file)
    assert dialog.update_plan() == 0
    assert "is a file" in dialog.plan_label.text()

    two_records[0].path.unlink()
    dialog.set_out_dir(tmp_path / "out")
    report = _export(qtbot, dialog)
    assert len(report.written) == 1 and len(report.skipped) == 1
    assert "missing" in dialog.result_label.text()


def test_export_default_folder_from_settings(qtbot, tmp_path, two_records):
    from app.settings import Settings
    from ui.export_dialog import ExportDialog

    settings = Settings(output_dir=str(tmp_path / "pictures"))
    dialog = ExportDialog(two_records, settings)
    qtbot.addWidget(dialog)
    assert dialog.options().out_dir == tmp_path / "pictures"
    assert dialog.out_dir.text() == str(tmp_path / "pictures")
