"""The poster panel: title, subtitle and footer over a gallery picture, edited with a live preview
(ui.poster_canvas), laid out automatically or dragged, checked for contrast, kept with the gallery
record (non-destructive: the picture stays, the text is data) and exported to PDF or PNG/JPEG/WebP
on a pool thread with progress and cancel.

May import: PySide6, app.poster, app.presets, app.paths, ui.tasks, ui.poster_canvas; no torch, nothing from model/.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFontComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import paths
from app.poster.layout import layout
from app.poster.model import (
    ALIGNS,
    EFFECTS,
    PRINT_DPI,
    ROLES,
    SAFE_AREAS,
    Poster,
    PosterError,
    default_layer,
    parse_paper,
    poster_from_params,
)
from app.poster.pdf import analysis_picture, export_pdf, print_check
from app.poster.render import Cancelled, PosterExportError, export_raster, pil_to_qimage
from app.poster.text import FontError, register_bundled_fonts
from app.presets import Preset, PresetError, load_presets, preset_filename, save_preset
from ui.poster_canvas import PosterCanvas
from ui.tasks import TaskContext, run_task

PREVIEW_SIDE = 1400
WEIGHTS = {"Light": 300, "Regular": 400, "Medium": 500, "Bold": 700, "Black": 900}
PAPER_LABELS = {"a4": "A4", "a3": "A3", "a2": "A2", "letter": "US Letter", "legal": "US Legal",
                "tabloid": "US Tabloid 11×17", "us-18x24": "US 18×24 in", "us-24x36": "US 24×36 in"}
IMAGE_FILTER = "PNG image (*.png);;JPEG image (*.jpg *.jpeg);;WebP image (*.webp)"


class PosterPanel(QDialog):
    """Poster editor for one picture (a gallery record, or any image file)."""

    saved = Signal(object)  # the updated gallery record
    export_finished = Signal(object)  # the written path, or an error message (str)

    def __init__(self, image_path: str | Path, params: dict | None = None, gallery: Any = None,
                 record_id: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Poster")
        self.resize(1180, 820)
        register_bundled_fonts()
        self.image_path, self.gallery, self.record_id = Path(image_path), gallery, record_id
        self.params = dict(params or {})
        with Image.open(self.image_path) as opened:
            opened.load()
            self.image = opened.convert("RGB")
        self.source_preview = self.image.copy()
        self.source_preview.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
        self.design = self.image.size
        self.preview = self.source_preview
        self.preview_qimage = pil_to_qimage(self.preview)
        self.poster = self._initial_poster()
        self.placements: list[Any] = []
        self._task: Any = None
        self._loading = False
        self._relayout_timer = QTimer(self, singleShot=True, interval=60, timeout=self.relayout)

        self.canvas = PosterCanvas(self)
        self.canvas.layer_moved.connect(self._layer_moved)
        self.canvas.layer_clicked.connect(self.select_layer)
        controls = QVBoxLayout()
        controls.addWidget(self._build_layer_group())
        controls.addWidget(self._build_layout_group())
        controls.addWidget(self._build_export_group())
        controls.addStretch(1)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save with the picture")
        self.save_button.setToolTip("Keep the text layers with the gallery image (the picture is not changed)")
        self.save_button.setEnabled(gallery is not None and record_id is not None)
        self.save_button.clicked.connect(self.save)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        controls.addLayout(buttons)
        side = QWidget()
        side.setLayout(controls)
        side.setFixedWidth(380)
        root = QHBoxLayout(self)
        root.addWidget(self.canvas, 1)
        root.addWidget(side)
        self.select_layer("title")
        self._update_print_check()
        self.relayout()

    # -- building ----------------------------------------------------------------------------

    def _build_layer_group(self) -> QGroupBox:
        group = QGroupBox("Text")
        form = QFormLayout(group)
        self.layer_combo = QComboBox()
        for role in ROLES:
            self.layer_combo.addItem(role.capitalize(), role)
        self.layer_combo.currentIndexChanged.connect(lambda _i: self.select_layer(self.layer_combo.currentData()))
        self.text_edit = QPlainTextEdit()
        self.text_edit.setFixedHeight(50)
        self.text_edit.setPlaceholderText("Type the text; Enter starts a new line")
        self.font_combo = QFontComboBox()
        self.weight_combo = QComboBox()
        for name, value in WEIGHTS.items():
            self.weight_combo.addItem(name, value)
        self.italic_check = QCheckBox("Italic")
        self.size_spin = _spin(0.5, 50, 0.5, " % of short side", 1)
        self.colour_button = QPushButton()
        self.colour_auto = QCheckBox("Auto")
        self.colour_auto.setToolTip("Black or white, whichever reaches the best contrast on the pixels beneath")
        self.align_combo = QComboBox()
        for align in ALIGNS:
            self.align_combo.addItem(align.capitalize(), align)
        self.spacing_spin = _spin(-20, 100, 1, " % of size", 0)
        self.line_spin = _spin(0.6, 3.0, 0.05, " × size", 2)
        self.effect_combo = QComboBox()
        for effect in EFFECTS:
            self.effect_combo.addItem(effect.capitalize(), effect)
        self.band_check = QCheckBox("Show")
        self.band_check.setToolTip("A band behind the text")
        self.band_spin = _spin(0, 100, 5, " % opaque", 0)
        colour_row = QHBoxLayout()
        colour_row.addWidget(self.colour_button)
        colour_row.addWidget(self.colour_auto)
        weight_row = QHBoxLayout()
        weight_row.addWidget(self.weight_combo)
        weight_row.addWidget(self.italic_check)
        band_row = QHBoxLayout()
        band_row.addWidget(self.band_check)
        band_row.addWidget(self.band_spin)
        form.addRow("Layer", self.layer_combo)
        form.addRow("Text", self.text_edit)
        form.addRow("Font", self.font_combo)
        form.addRow("Weight", weight_row)
        form.addRow("Size", self.size_spin)
        form.addRow("Colour", colour_row)
        form.addRow("Align", self.align_combo)
        form.addRow("Letter spacing", self.spacing_spin)
        form.addRow("Line height", self.line_spin)
        form.addRow("Effect", self.effect_combo)
        form.addRow("Band", band_row)
        self.text_edit.textChanged.connect(self._edited)
        for widget in (self.font_combo, self.weight_combo, self.align_combo, self.effect_combo):
            widget.currentIndexChanged.connect(self._edited)
        for spin in (self.size_spin, self.spacing_spin, self.line_spin, self.band_spin):
            spin.valueChanged.connect(self._edited)
        for check in (self.italic_check, self.colour_auto, self.band_check):
            check.toggled.connect(self._edited)
        self.colour_button.clicked.connect(self.choose_colour)
        return group

    def _build_layout_group(self) -> QGroupBox:
        group = QGroupBox("Layout")
        form = QFormLayout(group)
        self.safe_combo = QComboBox()
        for area, label in zip(SAFE_AREAS, ("Print margins", "Phone (status bar, clock)", "None")):
            self.safe_combo.addItem(label, area)
        self.safe_combo.setCurrentIndex(SAFE_AREAS.index(self.poster.safe_area))
        self.safe_combo.currentIndexChanged.connect(self._safe_area_changed)
        self.auto_button = QPushButton("Automatic layout")
        self.auto_button.setToolTip("Place every layer in the calmest part of the picture again")
        self.auto_button.clicked.connect(self.auto_layout)
        self.contrast_label = QLabel()
        self.contrast_label.setWordWrap(True)
        self.contrast_label.setTextFormat(Qt.TextFormat.RichText)
        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip("Use the look (fonts, colours, positions) a preset carries; your texts stay")
        self.preset_combo.activated.connect(lambda index: self.apply_layout(self.preset_combo.itemData(index)))
        self.save_layout_button = QPushButton("Save as preset…")
        self.save_layout_button.clicked.connect(self._choose_preset_name)
        self.refresh_layout_presets()
        preset_row = QHBoxLayout()
        preset_row.addWidget(self.preset_combo, 1)
        preset_row.addWidget(self.save_layout_button)
        form.addRow("Safe area", self.safe_combo)
        form.addRow(self.auto_button)
        form.addRow("Look", preset_row)
        form.addRow("Contrast", self.contrast_label)
        return group

    def _build_export_group(self) -> QGroupBox:
        group = QGroupBox("Export")
        form = QFormLayout(group)
        self.paper_combo = QComboBox()
        for key, label in PAPER_LABELS.items():
            self.paper_combo.addItem(label, key)
        self.paper_combo.setCurrentIndex(list(PAPER_LABELS).index("a3"))
        self.orientation_combo = QComboBox()
        self.orientation_combo.addItems(["portrait", "landscape"])
        if self.image.width > self.image.height:
            self.orientation_combo.setCurrentText("landscape")
        self.bleed_spin = _spin(0, 10, 0.5, " mm bleed", 1)
        self.bleed_spin.setValue(3.0)
        self.crop_check = QCheckBox("Crop marks")
        self.print_label = QLabel()
        self.print_label.setWordWrap(True)
        paper_row = QHBoxLayout()
        paper_row.addWidget(self.paper_combo)
        paper_row.addWidget(self.orientation_combo)
        bleed_row = QHBoxLayout()
        bleed_row.addWidget(self.bleed_spin)
        bleed_row.addWidget(self.crop_check)
        self.pdf_button = QPushButton("Export PDF…")
        self.image_button = QPushButton("Export image…")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        for button in (self.pdf_button, self.image_button, self.cancel_button):
            buttons.addWidget(button)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Paper", paper_row)
        form.addRow("", bleed_row)
        form.addRow(self.print_label)
        form.addRow(buttons)
        form.addRow(self.progress)
        form.addRow(self.result_label)
        for combo in (self.paper_combo, self.orientation_combo):
            combo.currentIndexChanged.connect(self._update_print_check)
        self.bleed_spin.valueChanged.connect(self._update_print_check)
        self.pdf_button.clicked.connect(self._choose_pdf)
        self.image_button.clicked.connect(self._choose_image)
        self.cancel_button.clicked.connect(self.cancel_export)
        return group

    def _initial_poster(self) -> Poster:
        """The poster kept with the picture (editable again), else empty default layers."""
        try:
            poster = poster_from_params(self.params)
        except PosterError:
            poster = None
        if poster is None:
            return Poster(layers=[default_layer(role) for role in ROLES])
        have = {layer.role for layer in poster.layers}
        poster.layers += [default_layer(role) for role in ROLES if role not in have]
        poster.layers.sort(key=lambda layer: ROLES.index(layer.role))
        return poster

    # -- editing -----------------------------------------------------------------------------

    @property
    def current(self):
        return self.poster.layer(self.layer_combo.currentData())

    def select_layer(self, role: str) -> None:
        """Show one layer's settings in the controls."""
        self._loading = True
        try:
            self.layer_combo.setCurrentIndex(ROLES.index(role))
            layer = self.poster.layer(role)
            self.text_edit.setPlainText(layer.text)
            self.font_combo.setCurrentFont(QFont(layer.family))
            self.weight_combo.setCurrentIndex(max(0, self.weight_combo.findData(layer.weight)))
            self.italic_check.setChecked(layer.italic)
            self.size_spin.setValue(layer.size * 100)
            self.colour_auto.setChecked(layer.colour == "auto")
            self._show_colour(layer.colour)
            self.align_combo.setCurrentIndex(ALIGNS.index(layer.align))
            self.spacing_spin.setValue(layer.letter_spacing * 100)
            self.line_spin.setValue(layer.line_height)
            self.effect_combo.setCurrentIndex(EFFECTS.index(layer.effect))
            self.band_check.setChecked(layer.band)
            self.band_spin.setValue(layer.band_opacity * 100)
        finally:
            self._loading = False
        self.canvas.set_selected(role)

    def _show_colour(self, colour: str) -> None:
        shown = colour if colour != "auto" else "#ffffff"
        self.colour_button.setText(colour)
        self.colour_button.setStyleSheet(f"background: {shown}; color: {'#000' if QColor(shown).lightness() > 128 else '#fff'}")

    def choose_colour(self) -> None:
        layer = self.current
        start = QColor(layer.colour if layer.colour != "auto" else "#ffffff")
        colour = QColorDialog.getColor(start, self, "Text colour")
        if colour.isValid():
            layer.colour = colour.name()
            self._loading = True
            self.colour_auto.setChecked(False)
            self._loading = False
            self._show_colour(layer.colour)
            self.schedule_relayout()

    def _edited(self, *_args: Any) -> None:
        """Copy the controls into the selected layer and redraw soon."""
        if self._loading:
            return
        layer = self.current
        align = self.align_combo.currentData()
        if layer.placed and align != layer.align:
            layer.x = None  # the anchor changes meaning with the alignment: place it again
            layer.y = None
        layer.text = self.text_edit.toPlainText()
        layer.family = self.font_combo.currentFont().family()
        layer.weight = int(self.weight_combo.currentData())
        layer.italic = self.italic_check.isChecked()
        layer.size = self.size_spin.value() / 100
        if self.colour_auto.isChecked():
            layer.colour = "auto"
        elif layer.colour == "auto":
            layer.colour = "#ffffff"
        self._show_colour(layer.colour)
        layer.align = align
        layer.letter_spacing = self.spacing_spin.value() / 100
        layer.line_height = self.line_spin.value()
        layer.effect = self.effect_combo.currentData()
        layer.band = self.band_check.isChecked()
        layer.band_opacity = self.band_spin.value() / 100
        self.schedule_relayout()

    def _safe_area_changed(self, *_args: Any) -> None:
        self.poster.safe_area = self.safe_combo.currentData()
        self.schedule_relayout()

    def _layer_moved(self, role: str, x: float, y: float) -> None:
        layer = self.poster.layer(role)
        shown = next((p.block.layer for p in self.placements if p.role == role), layer)
        layer.x, layer.y, layer.align = x, y, shown.align  # x is the anchor of the alignment shown
        self.select_layer(role)
        self.relayout()

    def auto_layout(self) -> None:
        """Forget every position the user gave: the automatic layout places all layers again."""
        for layer in self.poster.layers:
            layer.x = layer.y = None
        self.relayout()

    def schedule_relayout(self) -> None:
        self._relayout_timer.start()

    def relayout(self) -> None:
        """Lay the poster out at the picture's size on the preview's pixels and redraw."""
        try:
            self.placements = layout(self.preview, self.poster, *self.design)
        except FontError as exc:
            self.contrast_label.setText(f"<span style='color:#d9534f'>{exc}</span>")
            return
        self.canvas.set_content(self.preview_qimage, self.design, self.placements, self.poster.safe_area)
        lines = []
        for place in self.placements:
            colour = "#2e7d32" if place.contrast.ok else "#d9534f"
            lines.append(f"<span style='color:{colour}'>{'✓' if place.contrast.ok else '✗'} {place.contrast.message}</span>")
        self.contrast_label.setText("<br>".join(lines) or "Type a title to start.")

    # -- looks kept in presets ---------------------------------------------------------------

    def refresh_layout_presets(self) -> None:
        """The user's presets that carry a poster layout, in the Look list."""
        self.preset_combo.clear()
        self.preset_combo.addItem("From a preset…", None)
        for path in sorted(paths.user_presets_dir().glob("*.preset.json")):
            try:
                found = load_presets(path)
            except PresetError:
                continue
            for preset in found:
                if preset.poster:
                    self.preset_combo.addItem(preset.name, preset.poster)

    def apply_layout(self, poster_data: dict | None) -> None:
        """Take a preset's look: every layer's style and position; the texts typed here stay."""
        if not poster_data:
            return
        look = Poster.from_dict(poster_data)
        for layer in look.layers:
            mine = self.poster.layer(layer.role)
            if mine is not None and mine.text.strip():
                layer.text = mine.text
        have = {layer.role for layer in look.layers}
        look.layers += [layer for layer in self.poster.layers if layer.role not in have]
        look.layers.sort(key=lambda layer: ROLES.index(layer.role))
        self.poster = look
        self.safe_combo.setCurrentIndex(SAFE_AREAS.index(look.safe_area))
        self.select_layer(self.layer_combo.currentData())
        self.relayout()

    def _choose_preset_name(self) -> None:
        name, ok = QInputDialog.getText(self, "Save look as preset", "Preset name:")
        if ok and name.strip():
            self.save_layout_preset(name.strip())

    def save_layout_preset(self, name: str) -> Path:
        """Keep this poster's look in a preset (with the picture's prompt) in the user's presets."""
        params = self.params
        preset = Preset(name=name, prompt=str(params.get("prompt") or name), negative=str(params.get("negative") or ""),
                        poster=self.poster_for_saving().to_dict())
        path = save_preset(preset, paths.user_presets_dir() / preset_filename(name))
        self.refresh_layout_presets()
        self.result_label.setText(f"Saved the look as the preset “{name}”.")
        return path

    # -- keeping -----------------------------------------------------------------------------

    def poster_for_saving(self) -> Poster:
        """The poster without empty layers."""
        return dataclasses.replace(self.poster, layers=[dataclasses.replace(layer) for layer in self.poster.layers if layer.text.strip()])

    def save(self) -> Any:
        """Keep the text layers with the gallery record (database and PNG metadata)."""
        if self.gallery is None or self.record_id is None:
            return None
        record = self.gallery.set_poster(self.record_id, self.poster_for_saving().to_dict())
        self.params = dict(record.params)
        self.result_label.setText("Saved with the picture: re-open the poster from the gallery to edit it.")
        self.saved.emit(record)
        return record

    # -- exporting ---------------------------------------------------------------------------

    def paper(self):
        return parse_paper(f"{self.paper_combo.currentData()}-{self.orientation_combo.currentText()}",
                           self.bleed_spin.value())

    def _update_print_check(self, *_args: Any) -> None:
        """The paper's print check, and the preview cropped to the paper as the exports are."""
        paper = self.paper()
        self.design = paper.pixels(PRINT_DPI)
        self.preview = analysis_picture(self.source_preview, self.design)
        self.preview_qimage = pil_to_qimage(self.preview)
        if self.placements:
            self.schedule_relayout()
        check = print_check(self.image.size, paper)
        self.print_label.setText(check.message)
        self.print_label.setStyleSheet("" if check.ok else "color: #b26a00")

    def _choose_pdf(self) -> None:
        name = f"{self.image_path.stem}_{self.paper().name}.pdf"
        path, _ = QFileDialog.getSaveFileName(self, "Export PDF", str(self.image_path.parent / name), "PDF (*.pdf)")
        if path:
            self.export_pdf(path)

    def _choose_image(self) -> None:
        name = f"{self.image_path.stem}_poster.png"
        path, _ = QFileDialog.getSaveFileName(self, "Export image", str(self.image_path.parent / name), IMAGE_FILTER)
        if path:
            self.export_image(path)

    def export_pdf(self, path: str | Path) -> Any:
        """Write the PDF on a pool thread; export_finished reports the path or the error."""
        poster, paper, crop = self.poster_for_saving(), self.paper(), self.crop_check.isChecked()
        return self._start(lambda ctx: export_pdf(self.image, poster, paper, path, crop, on_progress=ctx.progress,
                                                  should_cancel=ctx.should_cancel)[0])

    def export_image(self, path: str | Path, size: tuple[int, int] | None = None) -> Any:
        """Write PNG/JPEG/WebP (from the suffix) at size (default the paper at 300 DPI) on a pool thread."""
        poster, params, size = self.poster_for_saving(), self.params, size or self.design
        return self._start(lambda ctx: export_raster(self.image, poster, path, size, params, on_progress=ctx.progress,
                                                     should_cancel=ctx.should_cancel)[0])

    def _start(self, work: Any) -> Any:
        if self._task is not None:
            return None
        started = time.perf_counter()
        self._set_running(True)

        def run(ctx: TaskContext) -> tuple[Path, float]:
            return work(ctx), time.perf_counter() - started

        self._task = run_task(run, on_result=self._done, on_error=self._failed, on_progress=self._on_progress,
                              on_finished=lambda: self._set_running(False), owner=self)
        return self._task

    def cancel_export(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self.result_label.setText("Cancelling…")

    def _set_running(self, running: bool) -> None:
        if not running:
            self._task = None
        self.progress.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.pdf_button.setEnabled(not running)
        self.image_button.setEnabled(not running)

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{text}…")

    def _done(self, result: tuple[Path, float]) -> None:
        path, seconds = result
        self._set_running(False)  # before export_finished: listeners see the panel idle again
        self.result_label.setText(f"Wrote {path} in {seconds:.1f} s")
        self.export_finished.emit(Path(path))

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            message = "Export cancelled; nothing was written."
        elif isinstance(exc, (PosterExportError, FontError, PosterError, OSError)):
            message = str(exc)
        else:
            message = f"Export failed: {exc}"
        self._set_running(False)
        self.result_label.setText(f"<span style='color:#d9534f'>{message}</span>")
        self.export_finished.emit(message)

    def reject(self) -> None:
        self.cancel_export()
        super().reject()


def open_poster_panel(parent: QWidget, record: Any, gallery: Any, keep: Any, on_saved: Any, banner: Any) -> PosterPanel | None:
    """Show the poster panel for a gallery record (kept alive by keep); problems go to the banner."""
    try:
        dialog = PosterPanel(record.path, record.params, gallery, record.id, parent)
    except OSError as exc:
        banner.show_message(f"Cannot open {record.path} for a poster: {exc}")
        return None
    dialog.saved.connect(lambda _record: on_saved())
    keep(dialog).show()
    return dialog


def _spin(low: float, high: float, step: float, suffix: str, decimals: int) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(decimals)
    spin.setSuffix(suffix)
    spin.setKeyboardTracking(False)
    return spin
