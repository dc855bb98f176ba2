"""Drag and drop of preset files and images: classify what was dropped, and drag presets out as files.

The window also uses `classify_paths` for `sigma-studio FILE`, so a file opened from the command
line is handled exactly as a dropped one.

May import: PySide6, app.metadata, app.presets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent

from app.metadata import MetadataError, read_params
from app.presets import Preset, PresetError, load_presets, parse_presets, preset_filename, save_preset

PRESET_MIME = "application/x-sigma-studio-preset"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
PRESET_SUFFIXES = (".preset.json", ".json")


@dataclass
class DropPayload:
    """What a drop holds: presets to add, settings read from an image, or nothing usable (with why)."""

    kind: str  # "presets" | "image" | "unsupported"
    presets: list[Preset] = field(default_factory=list)
    params: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    image_params: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """True when the drop has presets or image settings to apply."""
        return bool(self.presets) or self.params is not None

    def message(self) -> str:
        """One line for the status bar: what was found and what went wrong."""
        parts = []
        if self.presets:
            names = ", ".join(p.name for p in self.presets[:3]) + ("…" if len(self.presets) > 3 else "")
            parts.append(f"{len(self.presets)} preset(s) dropped: {names}")
        if self.params is not None:
            source = self.image_params[0][0].name if self.image_params else "the dropped image"
            parts.append(f"Settings read from {source}")
        parts.extend(self.errors)
        return "; ".join(parts) if parts else "Nothing to use in this drop"


def local_paths(mime: QMimeData) -> list[Path]:
    """The local file paths among the mime data's URLs."""
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def accepts_mime(mime: QMimeData) -> bool:
    """Cheap check for dragEnterEvent: local files, our preset data or text (read nothing from disk)."""
    if mime.hasFormat(PRESET_MIME):
        return True
    if mime.hasUrls():
        return bool(local_paths(mime))
    return mime.hasText() and bool(mime.text().strip())


def _is_preset_file(path: Path) -> bool:
    return path.name.lower().endswith(PRESET_SUFFIXES)


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def classify_paths(paths: list[Path], remote: list[str] | tuple[str, ...] = ()) -> DropPayload:
    """Read dropped (or opened) files: preset files, images with settings; the rest as errors."""
    payload = DropPayload(kind="unsupported", paths=paths)
    payload.errors.extend(f"{url} is not a local file; download it first" for url in remote)
    for path in paths:
        if _is_preset_file(path):
            try:
                payload.presets.extend(load_presets(path))
            except PresetError as exc:
                payload.errors.append(str(exc))
        elif _is_image_file(path):
            try:
                params = read_params(path)
            except MetadataError as exc:
                payload.errors.append(str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - whatever a dropped file does, the user gets a message
                payload.errors.append(f"{path.name}: cannot be read ({getattr(exc, 'strerror', None) or exc})")
                continue
            if params is None:
                payload.errors.append(f"No settings found in {path.name}")
            else:
                payload.image_params.append((path, params))
        else:
            payload.errors.append(
                f"{path.name}: not a preset (.preset.json) or an image (PNG, JPEG, WebP); nothing was applied"
            )
    if payload.presets:
        payload.kind = "presets"
    elif payload.image_params or any(_is_image_file(p) for p in paths):
        payload.kind = "image"
    if payload.image_params:
        payload.params = payload.image_params[0][1]
    return payload


def _classify_text(text: str) -> DropPayload:
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return DropPayload(kind="unsupported", errors=["The dropped text is not a preset (JSON); nothing was applied"])
    try:
        presets = parse_presets(stripped, "dropped text")
    except PresetError as exc:
        return DropPayload(kind="unsupported", errors=[str(exc)])
    return DropPayload(kind="presets", presets=list(presets))


def classify_drop(mime: QMimeData) -> DropPayload:
    """Read what was dropped: preset files, images with settings, or preset JSON as text."""
    if mime.hasUrls():
        urls = mime.urls()
        paths = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
        remote = [u.toString() for u in urls if not u.isLocalFile()]
        text = mime.text().strip() if mime.hasText() else ""
        if paths or not text.startswith(("{", "[")):  # Qt also offers the URLs themselves as text
            return classify_paths(paths, remote)
    if mime.hasFormat(PRESET_MIME):
        return _classify_text(bytes(mime.data(PRESET_MIME).data()).decode("utf-8", "replace"))
    if mime.hasText():
        return _classify_text(mime.text())
    return DropPayload(kind="unsupported", errors=["Drop preset files (.preset.json) or images"])


def preset_mime(preset: Preset, tmp_dir: str | Path) -> QMimeData:
    """Mime data for dragging a preset out: a `NAME.preset.json` file in `tmp_dir` plus its JSON text."""
    folder = Path(tmp_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / preset_filename(preset.name)
    save_preset(preset, path)
    text = path.read_text(encoding="utf-8")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    mime.setText(text)
    mime.setData(PRESET_MIME, text.encode("utf-8"))
    return mime


class DropHandlerMixin:
    """Mix into a QWidget (before it in the bases): accepts preset/image drops and calls `handle_drop`."""

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept drags that may hold presets or images."""
        if accepts_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        """Keep accepting while the drag moves over the widget."""
        if accepts_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        """Classify the drop and hand the payload to `handle_drop`."""
        payload = classify_drop(event.mimeData())
        event.acceptProposedAction()
        self.handle_drop(payload)

    def handle_drop(self, payload: DropPayload) -> None:
        """Apply a classified drop; widgets override this."""
        raise NotImplementedError

