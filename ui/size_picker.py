"""Target size: grouped presets with their W×H, or a custom size with ratio lock, plus what the model makes.

May import: PySide6, app.sizes.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QLabel,
    QSpinBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

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
DEFAULT_PRESET = "4k-uhd"
MIN_CUSTOM_SIDE = 256


class _IndentedDelegate(QStyledItemDelegate):
    """Indents the sizes under their bold group headers in the popup (the closed combo shows no indent)."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        if index.data(Qt.ItemDataRole.UserRole) not in (None, CUSTOM):
            option.text = "    " + option.text


class SizePicker(QWidget):
    """Preset combo (grouped, each with W×H), custom W×H with ratio lock, and the size plan in words."""

    size_changed = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._updating = False
        self._ratio = 16 / 9

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
        layout.addWidget(self.plan_label, 2, 0, 1, 5)
        layout.setColumnStretch(1, 1)
        layout.setColumnStretch(3, 1)

        self.combo.currentIndexChanged.connect(self._preset_chosen)
        self.width_spin.valueChanged.connect(lambda _v: self._side_edited(self.width_spin))
        self.height_spin.valueChanged.connect(lambda _v: self._side_edited(self.height_spin))
        self.lock.toggled.connect(self._lock_toggled)
        self.select_preset(DEFAULT_PRESET)

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
        preset = find_preset(key) if key and key != CUSTOM else None
        if preset is not None:
            self._updating = True
            try:
                self.width_spin.setValue(preset.width)
                self.height_spin.setValue(preset.height)
            finally:
                self._updating = False
            self._ratio = preset.width / preset.height
        self._changed()

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

    def _lock_toggled(self, _on: bool) -> None:
        self._ratio = self.width_spin.value() / self.height_spin.value()

    def _changed(self) -> None:
        try:
            plan = self.plan()
        except SizeError as exc:
            self.plan_label.setText(str(exc))
            return
        icon = "✓" if plan.action == "exact" else "↔"
        self.plan_label.setText(f"{icon} {plan.message}")
        self.plan_label.setToolTip(
            "The model makes sides of 256–4096 px in steps of 16; other sizes are resized or cropped on save."
        )
        self.size_changed.emit(*self.size())
