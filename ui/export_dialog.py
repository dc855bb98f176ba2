"""Batch export dialog: several sizes and formats at once, crop/fit/smart, progress, cancel, summary.

Tileable images can fill each size by repeating the tile (and export the single tile as it is);
"Span across my screens" (ui/span_box.py) writes one file per screen; after an export with one
file per image (or a span) "Set as wallpaper" (ui/wallpaper_button.py) is offered.

May import: PySide6, ui.tasks, ui.span_box, ui.wallpaper_button, app.export, app.span_export,
app.export_wallpaper, app.screens, app.paths, app.sizes; never torch or model/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import paths
from app.export import (
    DEFAULT_TEMPLATE,
    FORMATS,
    TEMPLATE_FIELDS,
    ExportError,
    ExportOptions,
    ExportReport,
    ExportTarget,
    is_tileable,
    normalise_formats,
    plan_export,
    render_name,
    run_export,
    tile_note,
)
from app.export_wallpaper import pick_wallpaper
from app.refine_export import describe_upscales, refine_jobs
from app.screens import Screen, read_screens
from app.sizes import groups
from app.span_export import plan_span, run_span, span_file_names, span_target
from ui.span_box import SpanBox
from ui.tasks import Task, TaskContext, run_task
from ui.wallpaper_button import WallpaperButton

FIT_CHOICES = (("crop", "Center crop"), ("fit", "Fit with padding"), ("smart", "Smart crop (keeps detail)"))
TILE_CHOICE = ("tile", "Fill by repeating the tile (no resize, stays crisp)")
FORMAT_LABELS = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}
CUSTOM_GROUP = "Custom"
PLAN_DEBOUNCE_MS = 150
TargetRole = Qt.ItemDataRole.UserRole + 1


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class ExportDialog(QDialog):
    """Export gallery records to chosen sizes and formats without ever overwriting a file silently."""

    finished_export = Signal(object)  # ExportReport
    refine_requested = Signal(list)  # [(JobRequest, SizePlan)]: "refine to each size", for the job queue

    def __init__(self, records: list[Any], settings: Any = None, parent: QWidget | None = None,
                 screens: list[Screen] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export {_plural(len(records), 'image')}")
        self.records = list(records)
        self.settings = settings
        self.pad_color: tuple[int, int, int] = (0, 0, 0)
        self.report: ExportReport | None = None
        self._task: Task | None = None
        self._close_when_done = False

        # Sizes: presets by group plus custom rows
        self.sizes = QTreeWidget(self)
        self.sizes.setHeaderLabels(["Size", "Pixels", "DPI"])
        self.sizes.setRootIsDecorated(True)
        header = self.sizes.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # the names, never cut to "4K …"
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self._group_items: dict[str, QTreeWidgetItem] = {}
        for group, presets in groups().items():
            parent_item = self._group(group)
            for preset in presets:
                self._add_size_item(parent_item, ExportTarget(preset.width, preset.height, preset.label, preset.dpi),
                                    key=preset.key)
        self.custom_w = QSpinBox(self)
        self.custom_h = QSpinBox(self)
        for spin, value in ((self.custom_w, 1920), (self.custom_h, 1080)):
            spin.setRange(1, 16384)
            spin.setValue(value)
            spin.setSuffix(" px")
        self.add_custom_button = QPushButton("Add size", self)
        custom_row = QHBoxLayout()
        custom_row.addWidget(QLabel("Custom:", self))
        custom_row.addWidget(self.custom_w)
        custom_row.addWidget(QLabel("×", self))
        custom_row.addWidget(self.custom_h)
        custom_row.addWidget(self.add_custom_button)
        custom_row.addStretch(1)
        sizes_box = QGroupBox("Sizes", self)
        sizes_layout = QVBoxLayout(sizes_box)
        sizes_layout.addWidget(self.sizes, 1)
        sizes_layout.addLayout(custom_row)

        # Fit, formats, quality
        self.fit_combo = QComboBox(self)
        for mode, label in FIT_CHOICES:
            self.fit_combo.addItem(label, mode)
        self.pad_button = QPushButton("Padding colour…", self)
        fit_row = QHBoxLayout()
        fit_row.addWidget(self.fit_combo, 1)
        fit_row.addWidget(self.pad_button)
        self.format_boxes: dict[str, QCheckBox] = {}
        format_row = QHBoxLayout()
        for fmt in FORMATS:
            box = QCheckBox(FORMAT_LABELS.get(fmt, fmt.upper()), self)
            self.format_boxes[fmt] = box
            format_row.addWidget(box)
        format_row.addStretch(1)
        self.format_boxes["png"].setChecked(True)
        self.quality = QSlider(Qt.Orientation.Horizontal, self)
        self.quality.setRange(1, 100)
        self.quality.setValue(92)
        self.quality_label = QLabel(self)
        quality_row = QHBoxLayout()
        quality_row.addWidget(self.quality, 1)
        quality_row.addWidget(self.quality_label)

        # Folder and names
        default_dir = getattr(settings, "output_dir", None) or str(paths.default_output_dir())
        self.out_dir = QLineEdit(str(default_dir), self)
        self.browse_button = QPushButton("Choose…", self)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.out_dir, 1)
        folder_row.addWidget(self.browse_button)
        self.template = QLineEdit(DEFAULT_TEMPLATE, self)
        self.template.setToolTip("Fields: " + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS))
        self.example = QLabel(self)
        self.example.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.refine_box = QCheckBox("Refine to each size (remake with the model; queued as jobs)", self)
        self.refine_box.setObjectName("refineToSize")
        self.refine_box.setToolTip(
            "Instead of resizing, make each image again at each size from its own prompt and seed: "
            "composed at the model's resolution, refined at the size. Slow; the results go to the gallery."
        )
        self.upscale_label = QLabel(self)
        self.upscale_label.setObjectName("upscaleInfo")
        self.upscale_label.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Method", self.refine_box)
        form.addRow("", self.upscale_label)
        form.addRow("Fit", fit_row)
        self._build_tile_rows(form)
        form.addRow("Formats", format_row)
        form.addRow("Quality", quality_row)
        form.addRow("Folder", folder_row)
        form.addRow("File names", self.template)
        form.addRow("", self.example)

        # Plan, progress, result
        self.plan_label = QLabel(self)
        self.plan_label.setWordWrap(True)
        self.progress = QProgressBar(self)
        self.progress.hide()
        self.result_label = QLabel(self)
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.wallpaper = WallpaperButton(self)
        self.span_box = SpanBox(read_screens(QGuiApplication.instance()) if screens is None else screens, self)
        self.export_button = QPushButton("Export", self)
        self.export_button.setDefault(True)
        self.cancel_button = QPushButton("Close", self)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.addWidget(sizes_box, 1)
        layout.addLayout(form)
        layout.addWidget(self.span_box)
        layout.addWidget(self.plan_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.result_label)
        layout.addWidget(self.wallpaper)
        layout.addLayout(buttons)
        self.resize(640, 820)

        self._plan_timer = QTimer(self)
        self._plan_timer.setSingleShot(True)
        self._plan_timer.setInterval(PLAN_DEBOUNCE_MS)
        self._plan_timer.timeout.connect(self.update_plan)
        self.sizes.itemChanged.connect(lambda *_: self._options_changed())
        self.fit_combo.currentIndexChanged.connect(self._options_changed)
        for box in self.format_boxes.values():
            box.toggled.connect(self._options_changed)
        self.quality.valueChanged.connect(self._options_changed)
        self.out_dir.textChanged.connect(self._options_changed)
        self.template.textChanged.connect(self._options_changed)
        self.refine_box.toggled.connect(self._options_changed)
        self.tile_fallback.currentIndexChanged.connect(self._options_changed)
        self.single_tile_box.toggled.connect(self._options_changed)
        self.span_box.changed.connect(self._options_changed)
        self.add_custom_button.clicked.connect(
            lambda: self.add_custom_size(self.custom_w.value(), self.custom_h.value())
        )
        self.pad_button.clicked.connect(self.choose_pad_color)
        self.browse_button.clicked.connect(self.choose_folder)
        self.export_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self._cancel_clicked)
        self.update_plan()
        self.sizes.setCurrentItem(None)  # no focus frame on the first group before the user picks anything

    def _build_tile_rows(self, form: QFormLayout) -> None:
        """The tile choices, offered only when a selected image is tileable."""
        self._tileable = sum(is_tileable(record) for record in self.records)
        if self._tileable:
            self.fit_combo.addItem(TILE_CHOICE[1], TILE_CHOICE[0])
            self.fit_combo.setCurrentIndex(self.fit_combo.count() - 1)
        self.tile_fallback = QComboBox(self)
        self.tile_fallback.setObjectName("tileFallback")
        for mode, label in FIT_CHOICES:
            self.tile_fallback.addItem(label, mode)
        self.single_tile_box = QCheckBox("Also export the single tile (the original pixels, unchanged)", self)
        self.single_tile_box.setObjectName("singleTile")
        form.addRow("Not tileable", self.tile_fallback)
        form.addRow("Tile", self.single_tile_box)
        self._form = form

    # -- size list ----------------------------------------------------------------------------

    def _group(self, name: str) -> QTreeWidgetItem:
        item = self._group_items.get(name)
        if item is None:
            item = QTreeWidgetItem(self.sizes, [name])
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            item.setExpanded(name != "Poster")
            self._group_items[name] = item
        return item

    def _add_size_item(self, parent: QTreeWidgetItem, target: ExportTarget, key: str = "",
                       checked: bool = False) -> QTreeWidgetItem:
        item = QTreeWidgetItem(parent, [target.label or "Custom", f"{target.width}×{target.height}",
                                        str(target.dpi or "")])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsSelectable)
        item.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        item.setData(0, TargetRole, (key, target))
        return item

    def _size_items(self) -> list[QTreeWidgetItem]:
        return [group.child(i) for group in self._group_items.values() for i in range(group.childCount())]

    def add_custom_size(self, width: int, height: int, checked: bool = True) -> ExportTarget:
        """Add (or re-check) a custom W×H row."""
        for item in self._size_items():
            key, target = item.data(0, TargetRole)
            if not key and (target.width, target.height) == (width, height):
                item.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                return target
        target = ExportTarget(int(width), int(height), f"{width}x{height}")
        group = self._group(CUSTOM_GROUP)
        group.setExpanded(True)
        self._add_size_item(group, target, checked=checked)
        self._options_changed()
        return target

    def set_sizes(self, keys: list[str]) -> None:
        """Check exactly the size presets with these keys (custom rows are unchecked)."""
        known = {item.data(0, TargetRole)[0] for item in self._size_items()}
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise ValueError(f"Unknown size preset(s): {', '.join(unknown)}")
        for item in self._size_items():
            key, _target = item.data(0, TargetRole)
            checked = bool(key and key in keys)
            item.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            if checked and item.parent() is not None:
                item.parent().setExpanded(True)  # a checked size is never hidden in a folded group

    def targets(self) -> list[ExportTarget]:
        """The checked sizes, in list order."""
        return [item.data(0, TargetRole)[1] for item in self._size_items()
                if item.checkState(0) == Qt.CheckState.Checked]

    # -- other options ------------------------------------------------------------------------

    def set_fit(self, mode: str, pad_color: tuple[int, int, int] | None = None) -> None:
        """Choose crop, fit (with an optional padding colour) or smart."""
        index = self.fit_combo.findData(mode)
        if index < 0:
            offered = ", ".join(str(self.fit_combo.itemData(i)) for i in range(self.fit_combo.count()))
            raise ValueError(f"Fit mode {mode!r} is not offered here; choose {offered}"
                             + ("" if self._tileable else " (tile needs a tileable image)"))
        self.fit_combo.setCurrentIndex(index)
        if pad_color is not None:
            self.pad_color = tuple(int(c) for c in pad_color)[:3]  # type: ignore[assignment]
        self._options_changed()

    def set_formats(self, formats: list[str]) -> None:
        """Check exactly these formats (png, jpeg/jpg, webp)."""
        wanted = normalise_formats(formats)
        for fmt, box in self.format_boxes.items():
            box.setChecked(fmt in wanted)

    def set_quality(self, quality: int) -> None:
        """JPEG/WebP quality, 1-100."""
        self.quality.setValue(int(quality))

    def set_out_dir(self, folder: str | Path) -> None:
        """The folder files are written to."""
        self.out_dir.setText(str(folder))

    def set_template(self, template: str) -> None:
        """The file-name template, e.g. '{name}_{w}x{h}_{seed}'."""
        self.template.setText(template)

    def choose_pad_color(self) -> None:
        """Pick the padding colour used by "fit"."""
        colour = QColorDialog.getColor(QColor(*self.pad_color), self, "Padding colour")
        if colour.isValid():
            self.set_fit("fit", (colour.red(), colour.green(), colour.blue()))

    def choose_folder(self) -> None:
        """Pick the export folder."""
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", self.out_dir.text())
        if folder:
            self.set_out_dir(folder)

    def formats(self) -> list[str]:
        """The checked formats."""
        return [fmt for fmt, box in self.format_boxes.items() if box.isChecked()]

    def options(self) -> ExportOptions:
        """The export options as chosen in the dialog."""
        return ExportOptions(
            targets=self.targets(),
            out_dir=Path(self.out_dir.text().strip()).expanduser(),
            fit=self.fit_combo.currentData(),
            pad_color=self.pad_color,
            fmt=self.formats(),
            quality=self.quality.value(),
            template=self.template.text(),
            overwrite=False,
            tile_fallback=self.tile_fallback.currentData(),
            single_tile=bool(self._tileable) and self.single_tile_box.isChecked() and not self.spanning(),
        )

    def spanning(self) -> bool:
        """True when "Span across my screens" is chosen (and not "Refine to each size")."""
        return self.span_box.isChecked() and not self.refine_box.isChecked()

    # -- plan ---------------------------------------------------------------------------------

    def _options_changed(self, *_args: Any) -> None:
        self._update_controls()
        self._plan_timer.start()

    def _update_controls(self) -> None:
        lossy = any(self.format_boxes[f].isChecked() for f in ("jpeg", "webp") if f in self.format_boxes)
        self.quality.setEnabled(lossy)
        self.quality_label.setText(f"{self.quality.value()}" if lossy else "(PNG is lossless)")
        self.pad_button.setEnabled(self.fit_combo.currentData() == "fit")
        tiling = self.fit_combo.currentData() == "tile"
        self._form.setRowVisible(self.tile_fallback, tiling and self._tileable < len(self.records))
        self._form.setRowVisible(self.single_tile_box, bool(self._tileable) and not self.spanning())
        for widget in (self.sizes, self.custom_w, self.custom_h, self.add_custom_button):
            widget.setEnabled(not self.spanning() and not self.is_running())
        for fmt, box in self.format_boxes.items():
            box.setEnabled(fmt == "png" or not self.spanning())
        self.span_box.setEnabled(not self.refine_box.isChecked() and not self.is_running())
        r, g, b = self.pad_color
        self.pad_button.setStyleSheet(f"QPushButton {{ border-left: 14px solid rgb({r},{g},{b}); }}")

    def plan(self) -> list[Any]:
        """The files the export would write now (ExportError when the options are unusable)."""
        if not self.out_dir.text().strip():
            raise ExportError("Choose a folder to export to.")
        if self.spanning():
            try:
                layout = self.span_box.canvas_layout()
            except ValueError as exc:
                raise ExportError(f"Cannot span across the screens: {exc}") from exc
            return plan_span(self.records, layout, self.options())
        return plan_export(self.records, self.options())

    def update_plan(self) -> int:
        """Refresh the example name and the planned file count; returns the count (0 when unusable)."""
        self._plan_timer.stop()
        self._update_controls()
        options = self.options()
        try:
            items = self.plan()
            self.example.setText(self._example(items, options))
        except ExportError as exc:
            self.example.setText("")
            self._show_plan(str(exc), error=True)
            self.export_button.setEnabled(False)
            return 0
        resized = [record for record in self.records if options.fit_for(record) != "tile"]  # tiles: no resize
        targets = [span_target(items[0].layout)] if self.spanning() and items else options.targets
        self.upscale_label.setText(describe_upscales(resized, targets))
        if self.refine_box.isChecked():
            count = len(self.records) * len(options.targets)
            self._show_plan(f"{_plural(count, 'refine job')} will be queued; the images go to the gallery", False)
            self.export_button.setEnabled(count > 0 and not self.is_running())
            return count
        count = sum(len(item.file_names()) for item in items) if self.spanning() else len(items)
        text = f"{_plural(count, 'file')} will be written to {options.out_dir}"
        if self.spanning() and items:
            screens = len(items[0].layout.crops)
            text += f" (per image: one PNG for each of the {screens} screens, and the span picture)"
        renamed = self._renamed(items, options)
        if renamed:
            text += f"; {_plural(renamed, 'file')} get a number added so existing files are not overwritten"
        note = tile_note(self.records, options)
        self._show_plan(text + (f"; {note}" if note else ""), error=False)
        self.export_button.setEnabled(bool(items) and not self.is_running())
        return count

    def _example(self, items: list[Any], options: ExportOptions) -> str:
        return f"Example: {self._names(items[0], options)[0]}" if items else ""

    def _names(self, item: Any, options: ExportOptions) -> tuple[str, str]:
        """(the name of the item's first file without a number added, the name it gets)."""
        if self.spanning():
            stem = render_name(options.template, item.record, span_target(item.layout), "png")
            return span_file_names(stem, item.layout)[0], item.file_names()[0]
        return render_name(options.template, item.record, item.target, item.fmt) + FORMATS[item.fmt], item.dest.name

    def _renamed(self, items: list[Any], options: ExportOptions) -> int:
        """How many planned files get a number added (all of an image's span files at once)."""
        per_item = (lambda item: len(item.file_names())) if self.spanning() else (lambda _item: 1)
        return sum(per_item(item) for item in items if len(set(self._names(item, options))) == 2)

    def _show_plan(self, text: str, error: bool) -> None:
        self.plan_label.setText(text)
        self.plan_label.setStyleSheet("color: #d9534f;" if error else "")

    # -- running ------------------------------------------------------------------------------

    def is_running(self) -> bool:
        """True while an export is in progress."""
        return self._task is not None and not self._task.done

    def start(self) -> bool:
        """Plan and start the export off the UI thread; False (with the reason shown) when it cannot."""
        if self.is_running():
            return False
        if self.refine_box.isChecked():
            return self._queue_refines()
        options = self.options()
        try:
            items = self.plan()
        except ExportError as exc:
            self._show_result(str(exc), error=True)
            return False
        if not items:
            self._show_result("Nothing to export: choose at least one size and one format.", error=True)
            return False
        renamed = self._renamed(items, options)
        self.report = None
        self.wallpaper.offer(None)
        self.progress.setRange(0, len(items))
        self.progress.setValue(0)
        self.progress.show()
        spanning, bezel = self.spanning(), self.span_box.bezel_mm()
        what = _plural(len(items), "image") + " across the screens" if spanning else _plural(len(items), "file")
        self._show_result(f"Exporting {what}…", error=False)
        self._set_running(True)

        def work(ctx: TaskContext) -> ExportReport:
            if spanning:
                return run_span(items, options, bezel, on_progress=ctx.progress, should_cancel=ctx.should_cancel)
            return run_export(items, options, on_progress=ctx.progress, should_cancel=ctx.should_cancel)

        self._task = run_task(
            work,
            on_progress=self._on_progress,
            on_result=lambda report: self._on_done(report, renamed),
            on_error=self._on_error,
            owner=self,
        )
        return True

    def _queue_refines(self) -> bool:
        """"Refine to each size": hand one job per image and size to the studio's queue."""
        jobs, problems = refine_jobs(self.records, self.targets())
        if not jobs:
            self._show_result("Nothing to refine: " + ("; ".join(problems) or "choose at least one size."), True)
            return False
        self.refine_requested.emit(jobs)
        text = f"Queued {_plural(len(jobs), 'refine job')}: progress and cancel in the queue, results in the gallery."
        self._show_result(text + ("\n" + "\n".join(problems[:5]) if problems else ""), error=bool(problems))
        return True

    def cancel(self) -> None:
        """Stop the running export after the file being written."""
        if self.is_running() and self._task is not None:
            self._task.cancel()
            self.cancel_button.setEnabled(False)
            self._show_result("Cancelling after the current file…", error=False)

    def _cancel_clicked(self) -> None:
        if self.is_running():
            self.cancel()
        else:
            self.reject()

    def _set_running(self, running: bool) -> None:
        self.export_button.setEnabled(not running)
        self.cancel_button.setText("Cancel" if running else "Close")
        self.cancel_button.setEnabled(True)
        for widget in (self.sizes, self.fit_combo, self.pad_button, self.quality, self.out_dir, self.browse_button,
                       self.template, self.add_custom_button, self.tile_fallback, self.single_tile_box,
                       self.span_box, self.refine_box, *self.format_boxes.values()):
            widget.setEnabled(not running)
        if not running:
            self._update_controls()

    def _on_progress(self, done: int, total: int, path: Path | None) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(done)
        if path is not None:
            self.progress.setFormat(f"%v / %m — {Path(path).name}")

    def _on_done(self, report: ExportReport, renamed: int) -> None:
        self.report = report
        parts = [f"Wrote {_plural(len(report.written), 'file')}"]
        if renamed:
            parts.append(f"{_plural(renamed, 'file')} renamed to avoid overwriting existing files")
        if report.cancelled:
            parts.append("cancelled before the rest")
        problems = [*report.skipped, *report.failed]
        if problems:
            parts.append(f"{_plural(len(problems), 'file')} not written")
        text = "; ".join(parts) + "."
        if problems:
            text += "\n" + "\n".join(reason for _item, reason in problems[:5])
            if len(problems) > 5:
                text += f"\n…and {len(problems) - 5} more"
        self._show_result(text, error=bool(problems))
        self.wallpaper.offer(pick_wallpaper(report))
        self._finish()
        self.finished_export.emit(report)

    def _on_error(self, exc: BaseException) -> None:
        self.report = ExportReport()
        self._show_result(f"Export failed: {exc}", error=True)
        self._finish()
        self.finished_export.emit(self.report)

    def _finish(self) -> None:
        self._task = None
        self._set_running(False)
        self.update_plan()
        if self._close_when_done:
            super().reject()

    def _show_result(self, text: str, error: bool) -> None:
        self.result_label.setText(text)
        self.result_label.setStyleSheet("color: #d9534f;" if error else "")

    def reject(self) -> None:
        """Close, or cancel first when an export is running (the dialog closes when it stops)."""
        if self.is_running():
            self._close_when_done = True
            self.cancel()
            return
        super().reject()
