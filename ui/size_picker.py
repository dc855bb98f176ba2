"""Target size: grouped presets with their W×H, "Span all screens" (the desktop's screens as one
picture, with a bezel gap in mm), or a custom size with ratio lock, plus what the model makes.

With one screen the span entry is "This screen — W×H" (its native pixels) and has no bezel field;
with none (no QGuiApplication) it is left out. `set_screens` replaces the screens (tests, screens
plugged in or out).

May import: PySide6, app.sizes, app.screens.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QGuiApplication, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QSpinBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from app.screens import Screen, SpanTarget, read_screens, span_target
from app.sizes import (
    MAX_TARGET_SIDE,
    SIZE_PRESETS,
    SizeError,
    SizePlan,
    SizePreset,
    find_preset,
    groups,
    plan_size,
)

CUSTOM = "custom"
SPAN = "span"  # the "Span all screens" entry's data
SPAN_GROUP = "Desktop wallpaper"  # the group the span entry closes
MAX_BEZEL_MM = 50.0
DEFAULT_PRESET = "4k-uhd"
MIN_CUSTOM_SIDE = 256


class _IndentedDelegate(QStyledItemDelegate):
    """Indents the sizes under their bold group headers in the popup (the closed combo shows no indent)."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        if index.data(Qt.ItemDataRole.UserRole) not in (None, CUSTOM):  # sizes and the span entry
            option.text = "    " + option.text


class SizePicker(QWidget):
    """Preset combo (grouped, each with W×H), custom W×H with ratio lock, and the size plan in words."""

    size_changed = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._updating = False
        self._ratio = 16 / 9
        self._screens: list[Screen] = []
        self._span: SpanTarget | None = None  # None: no screens, or none that can be made
        self._span_error = ""

        self.combo = QComboBox()
        self.combo.setObjectName("sizePreset")
        self.combo.setMaxVisibleItems(24)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(16)
        model = QStandardItemModel(self.combo)
        for group, presets in groups().items():
            header = QStandardItem(group)
            header.setFlags(Qt.ItemFlag.NoItemFlags)
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            model.appendRow(header)
            for preset in presets:
                item = QStandardItem(f"{preset.label} — {preset.width}×{preset.height}")
                item.setData(preset.key, Qt.ItemDataRole.UserRole)
                item.setToolTip(preset.note)
                model.appendRow(item)
            if group == SPAN_GROUP:
                self._span_anchor = model.rowCount()  # where the span entry goes while there are screens
        custom = QStandardItem("Custom size…")
        custom.setData(CUSTOM, Qt.ItemDataRole.UserRole)
        model.appendRow(custom)
        self.combo.setModel(model)
        self.combo.setItemDelegate(_IndentedDelegate(self.combo))

        self.width_spin = self._side_spin("width")
        self.height_spin = self._side_spin("height")
        self.lock = QCheckBox("Keep ratio")
        self.lock.setObjectName("ratioLock")
        self.lock.setToolTip("Keep the aspect ratio when changing width or height")
        self.bezel_label = QLabel("Bezel gap")
        self.bezel = QDoubleSpinBox()
        self.bezel.setObjectName("spanBezel")
        self.bezel.setRange(0.0, MAX_BEZEL_MM)
        self.bezel.setDecimals(1)
        self.bezel.setSingleStep(0.5)
        self.bezel.setSuffix(" mm")
        self.bezel.setKeyboardTracking(False)
        self.bezel.setAccessibleName("Bezel gap between screens")
        self.bezel.setToolTip("The frames between neighbouring screens: this much of the picture is left out "
                              "behind them, so lines run straight from one screen to the next")
        self.plan_label = QLabel()
        self.plan_label.setObjectName("sizePlan")
        self.plan_label.setWordWrap(True)

        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Size</b>"), 0, 0)
        layout.addWidget(self.combo, 0, 1, 1, 4)
        layout.addWidget(self.width_spin, 1, 1)
        layout.addWidget(QLabel("×"), 1, 2, alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.height_spin, 1, 3)
        layout.addWidget(self.lock, 1, 4)
        layout.addWidget(self.bezel_label, 2, 0, 1, 1)
        layout.addWidget(self.bezel, 2, 1)
        layout.addWidget(self.plan_label, 3, 0, 1, 5)
        self.bezel_label.hide()
        self.bezel.hide()
        layout.setColumnStretch(1, 1)
        layout.setColumnStretch(3, 1)

        self.combo.currentIndexChanged.connect(self._preset_chosen)
        self.width_spin.valueChanged.connect(lambda _v: self._side_edited(self.width_spin))
        self.height_spin.valueChanged.connect(lambda _v: self._side_edited(self.height_spin))
        self.lock.toggled.connect(self._lock_toggled)
        self.bezel.valueChanged.connect(lambda _v: self._update_span())
        self.select_preset(DEFAULT_PRESET)
        app = QGuiApplication.instance()
        if app is not None:
            self.set_screens(read_screens(app))
            app.screenAdded.connect(self._screens_changed)
            app.screenRemoved.connect(self._screens_changed)

    def _side_spin(self, name: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setObjectName(name)
        spin.setRange(MIN_CUSTOM_SIDE, MAX_TARGET_SIDE)
        spin.setSingleStep(16)
        spin.setSuffix(" px")
        spin.setKeyboardTracking(False)
        spin.setAccessibleName(f"Image {name}")
        return spin

    # ------------------------------------------------------------ reading

    def size(self) -> tuple[int, int]:
        """The target (width, height)."""
        return self.width_spin.value(), self.height_spin.value()

    def preset(self) -> SizePreset | None:
        """The chosen size preset, or None for a custom size."""
        key = self.combo.currentData()
        return find_preset(key) if key and key != CUSTOM else None

    def dpi(self) -> int | None:
        """Print DPI of the chosen poster preset."""
        preset = self.preset()
        return preset.dpi if preset else None

    def plan(self) -> SizePlan:
        """How the target will be made (app.sizes.plan_size)."""
        plan = plan_size(*self.size(), self.dpi())
        plan.preset = self.preset()
        return plan

    def size_text(self) -> str:
        """The preset key, or WxH for a custom size (the settings' last_size)."""
        preset = self.preset()
        return preset.key if preset else "{}x{}".format(*self.size())

    # ------------------------------------------------------------ choosing

    def select_preset(self, name: str) -> bool:
        """Choose a size preset by key or label; False when unknown."""
        preset = find_preset(name)
        if preset is None:
            return False
        index = self.combo.findData(preset.key, Qt.ItemDataRole.UserRole)
        if index < 0:
            return False
        self.combo.setCurrentIndex(index)
        self._preset_chosen(index)
        return True

    def _combo_index_for(self, width: int, height: int) -> int:
        """Combo row of the preset of exactly this size (no print DPI), else of 'Custom size…'."""
        same = next((p for p in SIZE_PRESETS if (p.width, p.height) == (width, height) and not p.dpi), None)
        index = self.combo.findData(same.key, Qt.ItemDataRole.UserRole) if same is not None else -1
        if index < 0 and self._span is not None and self._span.size == (width, height):
            index = self.combo.findData(SPAN, Qt.ItemDataRole.UserRole)
        return index if index >= 0 else self.combo.findData(CUSTOM, Qt.ItemDataRole.UserRole)

    def set_size(self, width: int, height: int) -> None:
        """Use this size: the preset of exactly this size (no print DPI) when there is one, else Custom."""
        index = self._combo_index_for(width, height)
        if self.combo.itemData(index, Qt.ItemDataRole.UserRole) != CUSTOM:
            self.combo.setCurrentIndex(index)
            self._preset_chosen(index)
            return
        self._updating = True
        try:
            self.width_spin.setValue(width)
            self.height_spin.setValue(height)
            self.combo.setCurrentIndex(self.combo.findData(CUSTOM, Qt.ItemDataRole.UserRole))
            self._ratio = width / height
        finally:
            self._updating = False
        self._changed()

    def set_size_text(self, text: str) -> bool:
        """Apply 'WxH' or a preset name (as in preset files and settings); False when unusable."""
        if self.select_preset(text):
            return True
        parts = text.lower().replace("×", "x").split("x")
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
            width, height = int(parts[0]), int(parts[1])
            if MIN_CUSTOM_SIDE <= width <= MAX_TARGET_SIDE and MIN_CUSTOM_SIDE <= height <= MAX_TARGET_SIDE:
                self.set_size(width, height)
                return True
        return False

    # ------------------------------------------------------------ events

    def _preset_chosen(self, index: int) -> None:
        if self._updating:
            return
        key = self.combo.itemData(index, Qt.ItemDataRole.UserRole)
        preset = find_preset(key) if key and key not in (CUSTOM, SPAN) else None
        if preset is not None:
            self._set_spins(preset.width, preset.height)
        elif key == SPAN and self._span is not None:
            self._set_spins(*self._span.size)
        self._show_bezel()
        self._changed()

    def _set_spins(self, width: int, height: int) -> None:
        self._updating = True
        try:
            self.width_spin.setValue(width)
            self.height_spin.setValue(height)
        finally:
            self._updating = False
        self._ratio = width / height

    def _side_edited(self, spin: QSpinBox) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            if self.lock.isChecked():
                if spin is self.width_spin:
                    self.height_spin.setValue(round(self.width_spin.value() / self._ratio))
                else:
                    self.width_spin.setValue(round(self.height_spin.value() * self._ratio))
            else:
                self._ratio = self.width_spin.value() / self.height_spin.value()
            # typing a preset's exact size shows that preset; anything else is a custom size
            self.combo.setCurrentIndex(self._combo_index_for(*self.size()))
        finally:
            self._updating = False
        self._changed()

    # ------------------------------------------------------------ screens (issue 14)

    def set_screens(self, screens: list[Screen]) -> None:
        """Use these screens for the span entry (by default the running app's, re-read when one is
        plugged in or out); an empty list leaves the entry out."""
        self._screens = list(screens)
        self._update_span()

    def screens(self) -> list[Screen]:
        """The screens the span entry is computed from."""
        return list(self._screens)

    def span(self) -> SpanTarget | None:
        """The span's size to make and its full canvas, or None (no screens, or none that can be made)."""
        return self._span

    def is_span(self) -> bool:
        """True while the span entry is chosen."""
        return self.combo.currentData() == SPAN

    def select_span(self) -> bool:
        """Choose the span entry; False when there is none to choose."""
        index = self.combo.findData(SPAN, Qt.ItemDataRole.UserRole)
        if index < 0 or self._span is None:
            return False
        self.combo.setCurrentIndex(index)
        self._preset_chosen(index)
        return True

    def _screens_changed(self, *_args: object) -> None:
        self.set_screens(read_screens(QGuiApplication.instance()))

    def _update_span(self) -> None:
        """Recompute the span for the screens and bezel gap; its entry, and the size while it is chosen."""
        self._span, self._span_error = None, ""
        if self._screens:
            try:
                self._span = span_target(self._screens, self.bezel.value(), MAX_TARGET_SIDE, MIN_CUSTOM_SIDE)
            except ValueError as exc:
                self._span_error = str(exc)
        was_span = self.is_span()
        self._updating = True  # inserting or removing the entry moves the current row: not a choice
        try:
            self._update_span_item()
        finally:
            self._updating = False
        if was_span:
            self._preset_chosen(self.combo.currentIndex())

    def _update_span_item(self) -> None:
        model = self.combo.model()
        index = self.combo.findData(SPAN, Qt.ItemDataRole.UserRole)
        if self._span is None and self.is_span():  # nothing left to span: keep the size as a custom one
            self.combo.setCurrentIndex(self.combo.findData(CUSTOM, Qt.ItemDataRole.UserRole))
        if not self._screens:
            if index >= 0:
                model.removeRow(index)
            return
        if index < 0:
            index = self._span_anchor
            item = QStandardItem()
            item.setData(SPAN, Qt.ItemDataRole.UserRole)
            model.insertRow(index, item)
        item = model.item(index)
        item.setText(self._span_text())
        item.setToolTip(self._span_tooltip())
        item.setEnabled(self._span is not None)

    def _span_text(self) -> str:
        name = "Span all screens" if len(self._screens) > 1 else "This screen"
        if self._span is None:
            return f"{name} — too narrow to make"
        text = "{} — {}×{}".format(name, *self._span.size)
        if self._span.scaled:
            text += " (scaled down from {}×{})".format(*self._span.full)
        return text

    def _span_tooltip(self) -> str:
        lines = ["{}: {}×{} at {}, {} ({:g}×)".format(s.name or "screen", *s.native, s.x, s.y, s.dpr)
                 for s in self._screens]
        if self._span_error:
            lines.append(self._span_error)
        elif self._span is not None and self._span.scaled:
            lines.append(f"Scaled down with the same shape: the app makes at most {MAX_TARGET_SIDE} px a side")
        return "\n".join(lines)

    def _show_bezel(self) -> None:
        shown = self.is_span() and len(self._screens) > 1
        self.bezel_label.setVisible(shown)
        self.bezel.setVisible(shown)

    def _lock_toggled(self, _on: bool) -> None:
        self._ratio = self.width_spin.value() / self.height_spin.value()

    def _changed(self) -> None:
        try:
            plan = self.plan()
        except SizeError as exc:
            self.plan_label.setText(str(exc))
            return
        icon = "✓" if plan.action == "exact" else "↔"
        text = f"{icon} {plan.message}"
        if self.is_span() and self._span is not None and self._span.scaled:
            text += ("\nThe span is {}×{}: scaled down to {} px on its longest side (the most the app "
                     "makes), same shape").format(*self._span.full, MAX_TARGET_SIDE)
        self.plan_label.setText(text)
        self.plan_label.setToolTip(
            "The model makes sides of 256–4096 px in steps of 16; other sizes are resized or cropped on save."
        )
        self.size_changed.emit(*self.size())
