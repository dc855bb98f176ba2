"""Steps, guidance, seed (random or locked, re-roll, last used), batch count, KV compression, memory mode.

May import: PySide6, app.settings (ranges and choices), app.model_service (SEED_LIMITS).
"""

from __future__ import annotations

import random
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QStyle,
    QToolButton,
    QWidget,
)

from app.model_service import HIRES_MODES, SEED_LIMITS, UPSCALERS
from app.settings import GUIDANCE_RANGE, KV_COMPRESS_CHOICES, MEMORY_CHOICES, STEPS_RANGE
from app.tiles import TILEABLE_CHOICES, TILEABLE_LABELS  # issue 14: seamless

MAX_SEED = SEED_LIMITS[1]  # the engine's (beyond a QSpinBox's C int: a 0-decimal QDoubleSpinBox holds it)
MAX_BATCH = 16

KV_LABELS = {"auto": "Auto (on for large sizes)", "off": "Off", "2": "2× (faster)", "4": "4× (fastest)"}
# One wording for the memory modes, shared by the settings dialog (model/memory.py has the table).
MEMORY_LABELS = {
    "auto": "Auto (from free GPU memory)",
    "gpu": "All on GPU (fastest)",
    "offload": "Text encoder on the CPU",
    "sequential": "Sequential offload (least memory)",
}


# The high-resolution path (model/inference/refine.py): compose at the model's size, refine at the target.
HIRES_LABELS = {
    "auto": "Auto (refine beyond the model's size)",
    "direct": "Direct (one pass at the size)",
    "refine": "Compose, then refine",
}
UPSCALER_LABELS = {"latent": "Latent (faster)", "pixel": "Pixel (decode, resize, encode)"}


class SeedSpinBox(QDoubleSpinBox):
    """The seed; while it is not locked it reads "random" rather than a number that will not be used."""

    RANDOM_TEXT = "random"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._random = False

    def set_random(self, on: bool) -> None:
        """Show "random" (on) or the seed value (off)."""
        self._random = on
        self.lineEdit().setText(self.textFromValue(self.value()))

    def textFromValue(self, value: float) -> str:
        """The seed as digits, or "random" while unlocked."""
        return self.RANDOM_TEXT if self._random else super().textFromValue(value)

    def valueFromText(self, text: str) -> float:
        """Digits to a seed; "random" keeps the current value."""
        return self.value() if text.strip() == self.RANDOM_TEXT else super().valueFromText(text)


class GenerationSettings(QWidget):
    """Form with the sampling settings; `values()` gives them as a dict of plain values."""

    seed_reused = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.last_seed: int | None = None

        self.steps = QSpinBox()
        self.steps.setObjectName("steps")
        self.steps.setRange(*STEPS_RANGE)
        self.steps.setValue(20)
        self.steps.setToolTip("Denoising steps: 20 is the released default; fewer is faster")
        self.guidance = QDoubleSpinBox()
        self.guidance.setObjectName("guidance")
        self.guidance.setRange(*GUIDANCE_RANGE)
        self.guidance.setSingleStep(0.5)
        self.guidance.setDecimals(1)
        self.guidance.setValue(4.5)
        self.guidance.setToolTip("How closely to follow the prompt (CFG scale); 4.5 is the default")

        self.seed = SeedSpinBox()
        self.seed.setObjectName("seed")
        self.seed.setDecimals(0)
        self.seed.setRange(0, MAX_SEED)
        self.seed.setGroupSeparatorShown(False)
        self.seed.setToolTip("The seed used when 'Lock' is on")
        self.seed_lock = QCheckBox("Lock")
        self.seed_lock.setObjectName("seedLock")
        self.seed_lock.setToolTip("Off: a new random seed each time. On: always this seed")
        self.reroll = QToolButton()
        self.reroll.setObjectName("reroll")
        self.reroll.setText("Re-roll")
        self.reroll.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
        self.reroll.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.reroll.setToolTip("Pick a new random seed and lock it")
        self.last_seed_button = QPushButton("none yet")
        self.last_seed_button.setObjectName("lastSeed")
        self.last_seed_button.setFlat(True)
        self.last_seed_button.setStyleSheet("text-align: left;")
        self.last_seed_button.setEnabled(False)
        self.last_seed_button.setToolTip("The seed of the last image; click to reuse it")
        seed_row = QHBoxLayout()
        seed_row.setContentsMargins(0, 0, 0, 0)
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.seed_lock)
        seed_row.addWidget(self.reroll)

        self.count = QSpinBox()
        self.count.setObjectName("count")
        self.count.setRange(1, MAX_BATCH)
        self.count.setToolTip("Images per generation (seeds S, S+1, …)")
        self.kv_compress = self._choice_combo("kvCompress", KV_COMPRESS_CHOICES, KV_LABELS)
        self.kv_compress.setToolTip("Merge attention keys/values: faster at 2K–4K with little visible change")
        self.memory = self._choice_combo("memory", MEMORY_CHOICES, MEMORY_LABELS)
        self.memory.setToolTip("Where the model's parts live; leaner modes are slower but need less GPU memory")

        self._build_hires()
        self.tileable = self._choice_combo("tileable", TILEABLE_CHOICES, TILEABLE_LABELS)  # issue 14
        self.tileable.setToolTip("Seamless: the image wraps around these axes, for patterns (T: 3×3 preview)")

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Steps", self.steps)
        form.addRow("Guidance", self.guidance)
        form.addRow("Seed", seed_row)
        form.addRow("Last seed", self.last_seed_button)
        form.addRow("Batch", self.count)
        form.addRow("KV compression", self.kv_compress)
        form.addRow("Memory", self.memory)
        form.addRow("High-res path", self.hires)
        form.addRow("Refine strength", self.refine_strength)
        form.addRow("Refine stages", self.refine_stages)
        form.addRow("Upscaler", self.upscaler)
        form.addRow("Tileable", self.tileable)

        self.seed_lock.toggled.connect(self._lock_toggled)
        self.reroll.clicked.connect(self.reroll_seed)
        self.last_seed_button.clicked.connect(self.reuse_last_seed)
        self._lock_toggled(False)

    def _build_hires(self) -> None:
        """Path, strength (0 = the engine's default), stages (0 = from the size jump), upscaler."""
        self.hires = self._choice_combo("hires", HIRES_MODES, HIRES_LABELS)
        self.hires.setToolTip(
            "Large sizes look better composed at the model's own resolution and refined at the target"
        )
        self.refine_strength = QDoubleSpinBox()
        self.refine_strength.setObjectName("refineStrength")
        self.refine_strength.setRange(0.0, 1.0)
        self.refine_strength.setSingleStep(0.05)
        self.refine_strength.setSpecialValueText("default")
        self.refine_strength.setToolTip("How much each refine stage may change (0.05 keeps it, 1 redraws)")
        self.refine_stages = QSpinBox()
        self.refine_stages.setObjectName("refineStages")
        self.refine_stages.setRange(0, 4)
        self.refine_stages.setSpecialValueText("auto")
        self.refine_stages.setToolTip("Refine stages after composing; auto: more for larger jumps")
        self.upscaler = self._choice_combo("upscaler", UPSCALERS, UPSCALER_LABELS)

    @staticmethod
    def _choice_combo(name: str, choices: tuple[str, ...], labels: dict[str, str]) -> QComboBox:
        combo = QComboBox()
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(12)
        combo.setObjectName(name)
        for choice in choices:
            combo.addItem(labels.get(choice, choice), choice)
        return combo

    # ------------------------------------------------------------ seed

    def _lock_toggled(self, on: bool) -> None:
        self.seed.setEnabled(on)
        self.seed.set_random(not on)

    def reroll_seed(self) -> int:
        """Pick a random seed and lock it."""
        value = random.randint(0, MAX_SEED)
        self.seed.setValue(value)
        self.seed_lock.setChecked(True)
        return value

    def set_last_seed(self, seed: int) -> None:
        """Show the seed of the last image made."""
        self.last_seed = seed
        self.last_seed_button.setText(f"{seed} (click to reuse)")
        self.last_seed_button.setEnabled(0 <= seed <= MAX_SEED)

    def reuse_last_seed(self) -> None:
        """Lock the seed of the last image."""
        if self.last_seed is not None and 0 <= self.last_seed <= MAX_SEED:
            self.seed.setValue(self.last_seed)
            self.seed_lock.setChecked(True)
            self.seed_reused.emit(self.last_seed)

    def chosen_seed(self) -> int | None:
        """The locked seed, or None for a random one."""
        return int(self.seed.value()) if self.seed_lock.isChecked() else None

    # ------------------------------------------------------------ values

    def values(self) -> dict[str, Any]:
        """steps, guidance, seed, count, kv_compress, memory and the high-res path as plain values."""
        return {
            "steps": self.steps.value(),
            "guidance": round(self.guidance.value(), 2),
            "seed": self.chosen_seed(),
            "count": self.count.value(),
            "kv_compress": self.kv_compress.currentData(),
            "memory": self.memory.currentData(),
            "hires": self.hires.currentData(),
            "refine_strength": round(self.refine_strength.value(), 2) if self.refine_strength.value() >= 0.05 else None,
            "refine_stages": self.refine_stages.value() or None,
            "upscaler": self.upscaler.currentData(),
            "tileable": self.tileable.currentData(),
        }

    def set_values(self, **values: Any) -> None:
        """Set any of steps, guidance, seed (None = random), count, kv_compress, memory, hires,
        refine_strength, refine_stages (None = default/auto), upscaler."""
        if values.get("steps") is not None:
            self.steps.setValue(int(values["steps"]))
        if values.get("guidance") is not None:
            self.guidance.setValue(float(values["guidance"]))
        if "seed" in values:
            seed = values["seed"]
            if seed is None:
                self.seed_lock.setChecked(False)
            elif 0 <= int(seed) <= MAX_SEED:
                self.seed.setValue(int(seed))
                self.seed_lock.setChecked(True)
        if values.get("count") is not None:
            self.count.setValue(int(values["count"]))
        if "refine_strength" in values:
            self.refine_strength.setValue(float(values["refine_strength"] or 0.0))
        if "refine_stages" in values:
            self.refine_stages.setValue(int(values["refine_stages"] or 0))
        combos = (("kv_compress", self.kv_compress), ("memory", self.memory), ("hires", self.hires),
                  ("upscaler", self.upscaler), ("tileable", self.tileable))
        for key, combo in combos:
            if values.get(key) is not None:
                index = combo.findData(str(values[key]))
                if index >= 0:
                    combo.setCurrentIndex(index)
