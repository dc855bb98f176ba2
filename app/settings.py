"""Typed settings persisted as versioned JSON in the config folder, and the prompt history.

May import: app.paths, app.atomic, app.safejson, app.sizes, app.model_service (its limits); no Qt, no torch.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from . import paths, safejson
from .atomic import atomic_write_text
from .model_service import GUIDANCE_LIMITS, STEPS_LIMITS
from .sizes import DEFAULT_SIZE, SizeError, resolve_size

SETTINGS_VERSION = 1
DEFAULT_STEPS = 20  # DPM-Solver++ default of the released PixArt-Sigma pipelines
DEFAULT_GUIDANCE = 4.5
STEPS_RANGE = STEPS_LIMITS  # one set of limits: model/request.py, through app.model_service
GUIDANCE_RANGE = GUIDANCE_LIMITS
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
MEMORY_CHOICES = ("auto", "gpu", "offload", "sequential")
KV_COMPRESS_CHOICES = ("auto", "off", "2", "4")
THEME_CHOICES = ("system", "light", "dark")
HISTORY_LIMIT = 200
MAX_FILE_BYTES = 8_000_000  # settings and history are a few KB; a larger file is not ours


def _keep_backup(path: Path) -> str:
    """Copy an unreadable file to PATH.bak (whatever it holds); a sentence saying so."""
    backup = path.with_name(path.name + ".bak")
    try:
        shutil.copyfile(path, backup)
        return f"The bad file was kept as {backup}."
    except OSError:
        return "A copy of the bad file could not be kept."


def _read_json(path: Path, what: str, expect: type | tuple[type, ...] = object) -> tuple[Any, str | None]:
    """(data, None) from a JSON file; (None, None) when missing; (None, warning) when unreadable,
    too large, nested too deep, corrupt or not of the `expect`ed type, after keeping a copy of the
    bad file as PATH.bak so the user can repair it."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"Could not read the {what} file {path} ({exc.strerror or exc}); using defaults."
    try:
        data = safejson.loads(raw, MAX_FILE_BYTES)
        if not isinstance(data, expect):
            raise ValueError(f"does not hold a JSON object but a {type(data).__name__}")
        return data, None
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with the file, the defaults are used
        problem = str(exc) or type(exc).__name__
    return None, f"The {what} file {path} is damaged ({problem}); using defaults. {_keep_backup(path)}"


def _migrate_v0(data: dict[str, Any]) -> dict[str, Any]:
    """Files without a version (early builds) named the model `model` and the size `size`."""
    renamed = {"model": "default_model", "size": "last_size"}
    return {renamed.get(key, key): value for key, value in data.items()}


# version found in the file -> function that turns it into the next version
_MIGRATIONS = {0: _migrate_v0}


def _is_number(value: Any) -> bool:
    """True for int and float values, not bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class Settings:
    """The user's settings; load() never fails, save() writes atomically."""

    version: int = SETTINGS_VERSION
    device: str = "auto"
    memory_mode: str = "auto"
    kv_compress: str = "auto"
    default_model: str | None = None
    output_dir: str = field(default_factory=lambda: str(paths.default_output_dir()))
    theme: str = "system"
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    last_size: str = DEFAULT_SIZE
    local_models: list[str] = field(default_factory=list)
    path: Path | None = field(default=None, compare=False, repr=False)  # where it loads from and saves to
    load_warning: str | None = field(default=None, compare=False, repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Settings:
        """Settings from path (default: the config folder); defaults plus load_warning when it is bad."""
        path = Path(path) if path is not None else paths.settings_file()
        data, warning = _read_json(path, "settings", dict)
        settings = cls(path=path)
        if data is None:
            settings.load_warning = warning
            return settings
        problems: list[str] = []
        try:
            data = cls._migrate(data, problems)
            problems += settings._apply(data)
        except Exception as exc:  # noqa: BLE001 - load() never fails: defaults, a message and a .bak
            settings = cls(path=path)
            problems = [f"cannot be used ({exc}); using defaults. {_keep_backup(path)}"]
        if problems:
            settings.load_warning = f"Settings file {path}: " + "; ".join(problems) + "."
        return settings

    @staticmethod
    def _migrate(data: dict[str, Any], problems: list[str]) -> dict[str, Any]:
        """data brought to SETTINGS_VERSION; a newer file is read as far as it is understood."""
        version = data.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            problems.append(f"version {version!r} is not a whole number, read as the current version")
            version = SETTINGS_VERSION
        if version > SETTINGS_VERSION:
            problems.append(
                f"the file is from a newer Sigma Studio (settings version {version}); "
                "settings this version does not know are ignored"
            )
        while version < SETTINGS_VERSION:
            data = _MIGRATIONS[version](data)
            version += 1
        return {**data, "version": SETTINGS_VERSION}

    def _apply(self, data: dict[str, Any]) -> list[str]:
        """Take the known, valid values from data; returns what was wrong with the rest."""
        problems: list[str] = []
        for f in fields(self):
            if f.name in ("version", "path", "load_warning") or f.name not in data:
                continue
            value = data[f.name]
            problem = _check_value(f.name, value)
            if problem:
                problems.append(f"{f.name} {value!r} {problem}, using {getattr(self, f.name)!r}")
            else:
                setattr(self, f.name, float(value) if f.name == "guidance" else value)
        return problems

    def to_dict(self) -> dict[str, Any]:
        """The settings as saved (no path or warning)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("path", "load_warning")}

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the settings atomically to path, else where they were loaded from, else the config folder."""
        target = Path(path) if path is not None else self.path or paths.settings_file()
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        atomic_write_text(target, text)
        self.path = target
        return target


_CHOICES = {
    "device": DEVICE_CHOICES,
    "memory_mode": MEMORY_CHOICES,
    "kv_compress": KV_COMPRESS_CHOICES,
    "theme": THEME_CHOICES,
}


def _check_value(name: str, value: Any) -> str | None:
    """What is wrong with a settings value, or None when it is usable."""
    if name in _CHOICES:
        return None if value in _CHOICES[name] else "is not one of " + ", ".join(_CHOICES[name])
    if name == "default_model":
        return None if value is None or (isinstance(value, str) and value.strip()) else "is not a model name"
    if name == "output_dir":
        return None if isinstance(value, str) and value.strip() else "is not a folder"
    if name == "steps":
        low, high = STEPS_RANGE
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return None if ok else f"is not a whole number from {low} to {high}"
    if name == "guidance":
        low, high = GUIDANCE_RANGE
        return (
            None
            if _is_number(value) and low <= value <= high
            else f"is not a number from {low:g} to {high:g}"
        )
    if name == "last_size":
        try:
            resolve_size(value)
        except SizeError:
            return "is not a size (WxH or a size preset name)"
        return None
    if name == "local_models":
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        return None if ok else "is not a list of folder names"
    return None


# ---------------------------------------------------------------------------------------------------
# Prompt history
# ---------------------------------------------------------------------------------------------------


class HistoryEntry(NamedTuple):
    """One prompt used before, with its negative prompt."""

    prompt: str
    negative: str = ""


class PromptHistory:
    """Prompts used before, most recent first, without duplicates, at most `limit`; saved on each add."""

    def __init__(self, path: str | os.PathLike[str] | None = None, limit: int = HISTORY_LIMIT) -> None:
        self.path = Path(path) if path is not None else paths.prompt_history_file()
        self.limit = limit
        self.load_warning: str | None = None
        self._items = self._load()

    def _load(self) -> list[HistoryEntry]:
        """The entries in the file; empty (with load_warning) when it is missing or damaged."""
        data, self.load_warning = _read_json(self.path, "prompt history", (dict, list))
        if isinstance(data, dict):
            data = data.get("items")
        if data is None:
            return []
        if not isinstance(data, list):
            self.load_warning = (f"The prompt history file {self.path} holds no list of prompts; starting a "
                                 f"new history. {_keep_backup(self.path)}")
            return []
        entries = []
        for item in data:
            if isinstance(item, dict) and isinstance(item.get("prompt"), str):
                negative = item.get("negative")
                entries.append(HistoryEntry(item["prompt"], negative if isinstance(negative, str) else ""))
        return self._dedup(entries)

    def _dedup(self, entries: list[HistoryEntry]) -> list[HistoryEntry]:
        """entries without repeats (first kept), limited to `limit`."""
        return list(dict.fromkeys(entries))[: self.limit]

    def add(self, prompt: str, negative: str = "") -> None:
        """Put prompt (with negative) first, dropping an earlier identical entry; blank prompts are skipped."""
        entry = HistoryEntry(prompt.strip(), negative.strip())
        if not entry.prompt:
            return
        self._items = self._dedup([entry, *self._items])
        self.save()

    def items(self) -> list[HistoryEntry]:
        """All entries, most recent first."""
        return list(self._items)

    def search(self, text: str) -> list[HistoryEntry]:
        """Entries whose prompt or negative contains every word of text (case-insensitive)."""
        words = text.lower().split()
        return [e for e in self._items if all(w in f"{e.prompt}\n{e.negative}".lower() for w in words)]

    def clear(self) -> None:
        """Forget every entry."""
        self._items = []
        self.save()

    def save(self) -> Path:
        """Write the history atomically."""
        data = {"version": 1, "items": [entry._asdict() for entry in self._items]}
        return atomic_write_text(self.path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
