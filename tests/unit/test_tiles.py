"""Tileable images in the app: filling a wallpaper size by repetition (pixel exact), the 3x3 preview
and its key, gallery badges, the metadata round trip, and `generate --tileable`."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.metadata import build_params, read_params, save_image
from app.tiles import badge, fill, grid3, tileable_of
from ui.tile_preview import TilePreview


def pattern(w: int = 48, h: int = 32) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_fill_repeats_the_tile_without_resizing():
    tile = pattern()
    out = fill(tile, (100, 70))
    a, t = np.asarray(out), np.asarray(tile)
    assert out.size == (100, 70)
    assert np.array_equal(a[:32, :48], t) and np.array_equal(a[32:64, 48:96], t)
    assert np.array_equal(a[64:70, 96:100], t[:6, :4])  # cut at the edge, never scaled
    shifted = np.asarray(fill(tile, (48, 32), offset=(10, 5)))
    assert np.array_equal(shifted, np.roll(t, (-5, -10), (0, 1)))
    assert np.array_equal(np.asarray(grid3(tile)), np.tile(t, (3, 3, 1)))
    with pytest.raises(ValueError, match="1-16384 px a side"):
        fill(tile, (0, 10))


def test_badges_follow_the_metadata():
    assert badge({"tileable": "both"}) == "✣" and badge({"tileable": "x"}) == "⇆"
    assert badge({}) == badge(None) == badge({"tileable": "nonsense"}) == ""
    assert tileable_of({"tileable": "y"}) == "y"


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_tileable_round_trips_through_the_metadata(tmp_path, suffix):
    params = build_params("tiles", "", 512, 512, 20, 4.5, 7, "demo", "off", tileable="x")
    path = save_image(pattern(), tmp_path / f"a{suffix}", params)
    assert read_params(path)["tileable"] == "x"


def test_the_preview_toggles_3x3_with_its_key(qtbot):
    view = TilePreview()
    qtbot.addWidget(view)
    view.resize(300, 300)
    view.show()
    image = QImage(64, 64, QImage.Format_RGB32)
    image.fill(Qt.red)
    view.set_image(image)
    assert len(view.tile_rects()) == 1
    with qtbot.waitSignal(view.tiled_changed):
        view.setFocus()
        qtbot.keyClick(view, Qt.Key_T)
    rects = view.tile_rects()
    assert view.tiled and len(rects) == 9
    assert rects[0].width() == pytest.approx(100) and rects[4].left() == pytest.approx(100)
    view.toggle()
    assert not view.tiled and len(view.tile_rects()) == 1


def test_the_gallery_badge_is_painted_only_for_tileable_images(qapp):
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QPainter

    from ui.tile_preview import paint_tile_badge

    def painted(params):
        canvas = QImage(64, 64, QImage.Format_RGB32)
        canvas.fill(Qt.white)
        painter = QPainter(canvas)
        drawn = paint_tile_badge(painter, QRect(0, 0, 64, 64), params)
        painter.end()
        return drawn, canvas.pixelColor(5, 5).name()

    assert painted({"tileable": "both"})[0] and painted({"tileable": "both"})[1] != "#ffffff"
    assert painted({"tileable": "off"}) == (False, "#ffffff") and painted(None) == (False, "#ffffff")
