"""The poster panel: a kept poster re-opens editable, edits redraw, dragging moves and snaps a layer,
saving keeps the poster with the gallery record, exports run with progress and can be cancelled; and
the main window opens the panel for the gallery's selected image.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from app import metadata
from app.gallery import Gallery
from app.poster.model import make_poster, poster_from_params

EXPORT_TIMEOUT_MS = 60_000


def add_picture(gallery: Gallery, size=(300, 420)):
    rng = np.random.default_rng(5)
    pixels = np.full((size[1], size[0], 3), (40, 60, 90), np.uint8)
    pixels[size[1] // 2 :] = rng.integers(0, 256, (size[1] - size[1] // 2, size[0], 3), dtype=np.uint8)
    params = metadata.build_params("a quiet sky", "", size[0], size[1], 20, 4.5, 11, "demo", "auto")
    return gallery.add(Image.fromarray(pixels), params)


@pytest.fixture
def gallery(tmp_path):
    store = Gallery(tmp_path / "gallery")
    yield store
    store.close()


def open_panel(qtbot, gallery, record):
    from ui.poster_panel import PosterPanel

    panel = PosterPanel(record.path, record.params, gallery, record.id)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def test_a_kept_poster_reopens_editable(qtbot, gallery):
    record = add_picture(gallery)
    poster = make_poster("Reopened", "still editable", "footer text")
    poster.layers[0].x, poster.layers[0].y, poster.layers[0].colour = 0.5, 0.3, "#ffcc00"
    record = gallery.set_poster(record.id, poster.to_dict())
    panel = open_panel(qtbot, gallery, gallery.get(record.id))
    assert panel.text_edit.toPlainText() == "Reopened"
    assert panel.colour_button.text() == "#ffcc00" and not panel.colour_auto.isChecked()
    title = next(p for p in panel.placements if p.role == "title")
    assert title.block.anchor_x == pytest.approx(0.5 * panel.design[0], abs=1)
    panel.text_edit.setPlainText("Edited title")
    qtbot.waitUntil(lambda: next(p for p in panel.placements if p.role == "title").block.lines == ["Edited title"])
    with qtbot.waitSignal(panel.saved):
        panel.save()
    kept = poster_from_params(gallery.get(record.id).params)
    assert kept.layer("title").text == "Edited title" and kept.layer("title").colour == "#ffcc00"
    assert poster_from_params(metadata.read_params(record.path)).layer("title").text == "Edited title"


def test_dragging_moves_a_layer_and_snaps_to_the_centre(qtbot, gallery):
    panel = open_panel(qtbot, gallery, add_picture(gallery))
    panel.text_edit.setPlainText("Drag me")
    qtbot.waitUntil(lambda: any(p.role == "title" for p in panel.placements))
    canvas = panel.canvas
    title = next(p for p in panel.placements if p.role == "title")
    target, scale = canvas.target_rect(), canvas.target_rect().width() / canvas.design[0]
    left, top, right, bottom = title.block.rect
    start = QPoint(int(target.left() + (left + right) / 2 * scale), int(target.top() + (top + bottom) / 2 * scale))
    centre_x = target.left() + target.width() / 2
    end = QPoint(int(centre_x + 2 + (start.x() - (target.left() + title.block.anchor_x * scale))), start.y() + 60)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas, end)
    assert canvas.guides  # the snap guide shows while dragging
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)
    layer = panel.poster.layer("title")
    assert layer.placed
    assert layer.y * panel.design[1] > top + 40 / scale
    assert layer.x == pytest.approx(0.5, abs=0.002)  # snapped onto the centre guide
    moved = next(p for p in panel.placements if p.role == "title")
    assert moved.block.anchor_x == pytest.approx(layer.x * panel.design[0], abs=1)
    panel.auto_layout()
    assert not panel.poster.layer("title").placed


def test_export_from_the_panel_with_progress(qtbot, gallery, tmp_path):
    panel = open_panel(qtbot, gallery, add_picture(gallery))
    panel.text_edit.setPlainText("Exported")
    out = tmp_path / "poster.jpg"
    with qtbot.waitSignal(panel.export_finished, timeout=EXPORT_TIMEOUT_MS) as finished:
        panel.export_image(out, (300, 420))
        assert panel.progress.isVisible() and panel.cancel_button.isEnabled()
    assert finished.args == [out]
    assert poster_from_params(metadata.read_params(out)).layer("title").text == "Exported"
    assert "Wrote" in panel.result_label.text() and not panel.progress.isVisible()


def test_cancelled_export_writes_nothing(qtbot, gallery, tmp_path):
    panel = open_panel(qtbot, gallery, add_picture(gallery))
    panel.text_edit.setPlainText("Cancelled")
    out = tmp_path / "out" / "poster.pdf"
    with qtbot.waitSignal(panel.export_finished, timeout=EXPORT_TIMEOUT_MS) as finished:
        panel.export_pdf(out)
        panel.cancel_export()
    assert finished.args == ["Export cancelled; nothing was written."]
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_the_paper_check_and_preview_follow_the_paper(qtbot, gallery):
    panel = open_panel(qtbot, gallery, add_picture(gallery))
    assert "will print at" in panel.print_label.text()
    panel.orientation_combo.setCurrentText("landscape")
    assert panel.design == (4961, 3508)
    assert panel.preview.width > panel.preview.height


def test_the_main_window_opens_the_poster_panel_for_the_selected_image(qtbot, gallery):
    from app.bootstrap import build_window
    from app.settings import PromptHistory, Settings
    from tests.fake_engine import FakeEngine
    from ui.poster_panel import PosterPanel

    record = add_picture(gallery)
    window = build_window(Settings.load(), gallery, functools.partial(FakeEngine, step_s=0.01), PromptHistory())
    qtbot.addWidget(window)
    window.show()
    window.gallery_panel.refresh()
    window.gallery_panel.select_rows([0])
    window.poster_action.trigger()
    panels = [d for d in window._dialogs if isinstance(d, PosterPanel)]
    assert len(panels) == 1 and Path(panels[0].image_path) == record.path
    panels[0].close()
    window.shutdown()


def test_a_look_saved_as_a_preset_is_used_again(qtbot, gallery):
    from app import paths
    from app.presets import load_presets

    first = open_panel(qtbot, gallery, add_picture(gallery))
    first.text_edit.setPlainText("First poster")
    title = first.poster.layer("title")
    title.family, title.colour, title.effect, title.x, title.y = "EB Garamond", "#ffcc00", "shadow", 0.5, 0.62
    path = first.save_layout_preset("Gold serif")
    assert path.parent == paths.user_presets_dir()
    assert load_presets(path)[0].poster["layers"][0]["family"] == "EB Garamond"
    second = open_panel(qtbot, gallery, add_picture(gallery))
    second.text_edit.setPlainText("Second poster")
    index = second.preset_combo.findText("Gold serif")
    assert index > 0
    second.apply_layout(second.preset_combo.itemData(index))
    layer = second.poster.layer("title")
    assert (layer.text, layer.family, layer.colour, layer.effect) == ("Second poster", "EB Garamond", "#ffcc00", "shadow")
    assert (layer.x, layer.y) == (0.5, 0.62) and second.text_edit.toPlainText() == "Second poster"
