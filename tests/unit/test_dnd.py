"""Drag and drop: real QMimeData with file URLs and text, and real drop events on a widget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from app.metadata import save_image
from app.presets import Preset, load_presets
from ui.dnd import DropHandlerMixin, DropPayload, accepts_mime, classify_drop, preset_mime

PARAMS = {"prompt": "neon city at night", "negative": "blurry", "width": 64, "height": 48, "seed": 7,
          "steps": 20, "guidance": 4.5, "model": "tiny", "kv_compress": "off"}
A1111 = ("a lighthouse in a storm\nNegative prompt: people\n"
         "Steps: 30, Sampler: DPM++ 2M, CFG scale: 6.5, Seed: 1234, Size: 640x384, Model: sdxl")


def _preset(name: str, prompt: str = "a quiet lake", **extra) -> dict:
    return {"format": "sigma-studio-preset", "version": 1, "name": name, "prompt": prompt,
            "negative": "", "size": "3840x2160", "steps": 20, "guidance": 4.5, "seed": None, "style": None,
            **extra}


def _files_mime(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """One of each kind of file a user might drop."""
    out = {}
    out["preset"] = tmp_path / "Neon city.preset.json"
    out["preset"].write_text(json.dumps(_preset("Neon city", "neon city")), encoding="utf-8")
    out["list"] = tmp_path / "pack.json"
    out["list"].write_text(json.dumps([_preset("One"), _preset("Two", "mountains", seed=5)]), encoding="utf-8")
    out["no_prompt"] = tmp_path / "broken.preset.json"
    out["no_prompt"].write_text(json.dumps({"format": "sigma-studio-preset", "version": 1, "name": "x"}))
    out["newer"] = tmp_path / "future.preset.json"
    out["newer"].write_text(json.dumps(_preset("Future", version=99)))
    out["not_json"] = tmp_path / "garbage.preset.json"
    out["not_json"].write_text("{ this is not json", encoding="utf-8")
    image = Image.new("RGB", (64, 48), (10, 120, 200))
    for fmt, suffix in (("png", ".png"), ("jpeg", ".jpg"), ("webp", ".webp")):
        out[f"ours_{fmt}"] = save_image(image, tmp_path / f"ours{suffix}", PARAMS, fmt=fmt)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    out["a1111"] = tmp_path / "a1111.png"
    image.save(out["a1111"], pnginfo=info)
    out["plain"] = tmp_path / "plain.png"
    image.save(out["plain"])
    out["text"] = tmp_path / "notes.txt"
    out["text"].write_text("hello")
    out["corrupt"] = tmp_path / "corrupt.png"
    out["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"definitely not a png" * 10)
    return out


# ---------------------------------------------------------------------------------------------
# classify_drop
# ---------------------------------------------------------------------------------------------

def test_preset_file(files):
    payload = classify_drop(_files_mime(files["preset"]))
    assert payload.kind == "presets" and payload.usable
    assert [p.name for p in payload.presets] == ["Neon city"]
    assert payload.presets[0].prompt == "neon city"
    assert payload.errors == [] and payload.paths == [files["preset"]]


def test_list_of_presets_in_plain_json(files):
    payload = classify_drop(_files_mime(files["list"]))
    assert payload.kind == "presets"
    assert [(p.name, p.seed) for p in payload.presets] == [("One", None), ("Two", 5)]


@pytest.mark.parametrize("key, words", [("no_prompt", "prompt"), ("newer", "version"), ("not_json", "JSON")])
def test_invalid_preset_files_apply_nothing(files, key, words):
    payload = classify_drop(_files_mime(files[key]))
    assert payload.kind == "unsupported" and not payload.usable
    assert payload.presets == [] and payload.params is None
    assert len(payload.errors) == 1
    assert files[key].name in payload.errors[0] and words.lower() in payload.errors[0].lower()


@pytest.mark.parametrize("key", ["ours_png", "ours_jpeg", "ours_webp"])
def test_images_with_our_metadata(files, key):
    payload = classify_drop(_files_mime(files[key]))
    assert payload.kind == "image" and payload.usable and payload.errors == []
    params = payload.params
    assert params["prompt"] == PARAMS["prompt"] and params["seed"] == 7 and params["negative"] == "blurry"
    assert params["width"] == 64 and params["guidance"] == 4.5
    assert "Settings read from" in payload.message()


def test_a1111_png(files):
    payload = classify_drop(_files_mime(files["a1111"]))
    assert payload.kind == "image"
    params = payload.params
    assert params["prompt"] == "a lighthouse in a storm" and params["negative"] == "people"
    assert params["steps"] == 30 and params["seed"] == 1234 and params["guidance"] == 6.5
    assert (params["width"], params["height"]) == (640, 384)


def test_image_without_settings(files):
    payload = classify_drop(_files_mime(files["plain"]))
    assert payload.kind == "image" and payload.params is None and not payload.usable
    assert payload.errors == ["No settings found in plain.png"]


def test_non_image_and_corrupt_image(files):
    payload = classify_drop(_files_mime(files["text"]))
    assert payload.kind == "unsupported" and not payload.usable
    assert "notes.txt" in payload.errors[0] and "nothing was applied" in payload.errors[0]

    payload = classify_drop(_files_mime(files["corrupt"]))
    assert not payload.usable and payload.params is None
    assert len(payload.errors) == 1 and payload.errors[0].startswith("corrupt.png")


def test_several_files_at_once(files):
    payload = classify_drop(_files_mime(files["text"], files["preset"], files["ours_png"], files["no_prompt"],
                                        files["list"]))
    assert payload.kind == "presets"
    assert [p.name for p in payload.presets] == ["Neon city", "One", "Two"]
    assert payload.params["prompt"] == PARAMS["prompt"]  # the image's settings are there too
    assert len(payload.errors) == 2  # the text file and the preset without a prompt
    message = payload.message()
    assert "3 preset(s)" in message and "notes.txt" in message and "broken.preset.json" in message


def test_remote_url_is_refused_clearly():
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.com/a.preset.json")])
    payload = classify_drop(mime)
    assert payload.kind == "unsupported" and "not a local file" in payload.errors[0]


def test_raw_text_json_drop():
    mime = QMimeData()
    mime.setText(json.dumps(_preset("From text", "a red fox")))
    payload = classify_drop(mime)
    assert payload.kind == "presets" and payload.presets[0].prompt == "a red fox"

    mime = QMimeData()
    mime.setText(json.dumps([_preset("A"), _preset("B")]))
    assert [p.name for p in classify_drop(mime).presets] == ["A", "B"]

    mime = QMimeData()
    mime.setText('{"prompt": "no format key"}')
    payload = classify_drop(mime)
    assert payload.kind == "unsupported" and "format" in payload.errors[0]

    mime = QMimeData()
    mime.setText("just some words")
    payload = classify_drop(mime)
    assert payload.kind == "unsupported" and "not a preset" in payload.errors[0]


def test_accepts_mime_is_cheap_and_selective(files):
    assert accepts_mime(_files_mime(files["text"]))  # judged on drop, where the message is shown
    assert not accepts_mime(QMimeData())
    remote = QMimeData()
    remote.setUrls([QUrl("https://example.com/x.png")])
    assert not accepts_mime(remote)


# ---------------------------------------------------------------------------------------------
# Dragging a preset out
# ---------------------------------------------------------------------------------------------

def test_preset_mime_writes_file_and_text(tmp_path):
    preset = Preset(name="Neon city: 4K", prompt="neon city", negative="fog", size="3840x2160", seed=3)
    mime = preset_mime(preset, tmp_path / "drag")
    (url,) = mime.urls()
    path = Path(url.toLocalFile())
    assert path.parent == tmp_path / "drag" and path.name.endswith(".preset.json")
    assert load_presets(path) == [preset]
    data = json.loads(mime.text())
    assert data["format"] == "sigma-studio-preset" and data["name"] == "Neon city: 4K"
    round_trip = classify_drop(mime)
    assert round_trip.kind == "presets" and round_trip.presets == [preset]


# ---------------------------------------------------------------------------------------------
# Real drop events on a widget using the mixin
# ---------------------------------------------------------------------------------------------

class DropTarget(DropHandlerMixin, QWidget):
    """A small widget that records what was dropped on it."""

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        self.payloads: list[DropPayload] = []

    def handle_drop(self, payload: DropPayload) -> None:
        self.payloads.append(payload)


def _enter(widget: QWidget, mime: QMimeData) -> QDragEnterEvent:
    event = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    event.setAccepted(False)
    QApplication.sendEvent(widget, event)
    return event


def _drop(widget: QWidget, mime: QMimeData) -> QDropEvent:
    """A drop as Qt delivers it: only to the widget that accepted the drag entering it."""
    assert _enter(widget, mime).isAccepted()
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    return event


def test_drop_events_reach_the_mixin(qtbot, files):
    widget = DropTarget()
    qtbot.addWidget(widget)
    widget.show()

    mime = _files_mime(files["preset"], files["a1111"])
    assert _enter(widget, mime).isAccepted()
    event = _drop(widget, mime)
    assert event.isAccepted() and event.dropAction() == Qt.DropAction.CopyAction
    (payload,) = widget.payloads
    assert payload.kind == "presets" and payload.presets[0].name == "Neon city"
    assert payload.params["seed"] == 1234

    assert not _enter(widget, QMimeData()).isAccepted()
    _drop(widget, _files_mime(files["corrupt"]))
    assert widget.payloads[-1].errors and not widget.payloads[-1].usable
