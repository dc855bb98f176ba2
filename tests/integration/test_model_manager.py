"""The model manager dialog: listing, offline download, importing local models, choosing one."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.settings import Settings
from ui.model_manager import ModelManagerDialog

ROOT = Path(__file__).resolve().parents[2]
LIST_TIMEOUT = 180_000  # the first listing imports torch in a pool thread


@pytest.fixture
def settings():
    return Settings.load()


@pytest.fixture
def dialog(qtbot, settings):
    widget = ModelManagerDialog(settings)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: bool(widget.rows), timeout=LIST_TIMEOUT)  # listed in a pool thread
    return widget


def _cell_texts(dialog: ModelManagerDialog, column: int) -> list[str]:
    return [dialog.table.item(row, column).text() for row in range(dialog.table.rowCount())]


def test_lists_variants_base_and_demo(dialog):
    from model.loading.catalog import BASE_REPO, DEMO_DIR, VARIANTS

    names = _cell_texts(dialog, 0)
    for variant in VARIANTS:
        row = dialog.row_for(variant.hub_id)
        assert row is not None and row["kind"] == "variant" and not row["downloaded"]
        assert any(variant.name in name for name in names)
        assert variant.hub_id in dialog.download_buttons
        assert not dialog.use_buttons[variant.name].isEnabled()  # not downloaded yet
    assert dialog.row_for(BASE_REPO)["kind"] == "base" and BASE_REPO in dialog.download_buttons
    assert f"{VARIANTS[0].download_gb:.1f} GB" in _cell_texts(dialog, 1)
    assert "Not downloaded" in _cell_texts(dialog, 2)
    assert any("will download to" in text and dialog.cache_dir in text for text in _cell_texts(dialog, 3))
    if (DEMO_DIR / "model_index.json").is_file():
        assert any("demo" in name.lower() for name in names)
        assert dialog.use_buttons["demo"].isEnabled()


def test_offline_download_shows_clear_message(qtbot, dialog, settings):
    from model.loading.catalog import VARIANTS

    repo = VARIANTS[1].hub_id
    with qtbot.waitSignal(dialog.download_finished, timeout=60_000) as blocker:
        qtbot.mouseClick(dialog.download_buttons[repo], Qt.MouseButton.LeftButton)
        assert dialog.progress.isVisible() and dialog.cancel_button.isVisible()
    ok, message = blocker.args
    assert not ok
    assert repo in message
    assert "offline" in message.lower() or "free" in message.lower()  # offline, or not enough disk first
    assert message in dialog.message.text() and "d9534f" in dialog.message.styleSheet()
    assert not dialog.progress.isVisible() and not dialog.cancel_button.isVisible()
    assert all(button.isEnabled() for button in dialog.download_buttons.values())
    assert settings.default_model is None


def _import(qtbot, dialog, path) -> tuple[bool, str]:
    with qtbot.waitSignal(dialog.import_finished, timeout=120_000) as blocker:
        assert dialog.import_path(path)
    return blocker.args


def test_import_missing_or_bad_files_changes_nothing(qtbot, dialog, settings, tmp_path):
    settings_file = settings.path
    before = settings_file.read_bytes() if settings_file and settings_file.exists() else None
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    corrupt = tmp_path / "weights.safetensors"
    corrupt.write_bytes(b"\x00\x01 this is not a safetensors file")
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    for path, words in [(tmp_path / "missing-model", "no such file"), (text, "unsupported file type"),
                        (corrupt, "cannot be read"), (empty, "neither")]:
        ok, message = _import(qtbot, dialog, path)
        assert not ok, path
        assert str(path) in message and words in message, message
        assert message == dialog.message.text()
    assert settings.local_models == []
    after = settings_file.read_bytes() if settings_file and settings_file.exists() else None
    assert after == before
    assert not any(row["kind"] == "local" for row in dialog.rows)


def test_import_valid_folder_then_use_it(qtbot, dialog, settings, tiny_pipeline_dir):
    spec = str(tiny_pipeline_dir)
    with qtbot.waitSignal(dialog.models_listed, timeout=LIST_TIMEOUT):
        ok, message = _import(qtbot, dialog, tiny_pipeline_dir)
    assert ok, message
    assert "Imported" in message and tiny_pipeline_dir.name in message
    assert settings.local_models == [spec]
    assert Settings.load().local_models == [spec]  # saved
    row = dialog.row_for(spec)
    assert row is not None and row["kind"] == "local" and row["downloaded"] and not row.get("error")
    assert spec in _cell_texts(dialog, 3)

    ok, message = _import(qtbot, dialog, tiny_pipeline_dir)
    assert ok and "already" in message and settings.local_models == [spec]

    with qtbot.waitSignal(dialog.model_chosen, timeout=1000) as blocker:
        qtbot.mouseClick(dialog.use_buttons[spec], Qt.MouseButton.LeftButton)
    assert blocker.args == [spec]
    assert settings.default_model == spec and Settings.load().default_model == spec
    assert dialog.use_buttons[spec].text() == "In use" and not dialog.use_buttons[spec].isEnabled()
    assert any(name.startswith("✓ ") for name in _cell_texts(dialog, 0))
