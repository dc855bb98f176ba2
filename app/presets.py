"""Prompt preset files (docs/DESIGN.md, Contract 3): read and validate, write atomically; and the prompt styles.

A preset file is UTF-8 JSON named `NAME.preset.json` holding one preset object or a list of them:
{"format": "sigma-studio-preset", "version": 1, "name": ..., "prompt": ..., "negative": "",
 "size": "3840x2160", "steps": 20, "guidance": 4.5, "seed": null, "style": null}
and optionally "poster": a poster layout (text layers, safe area), as in Contract 2's `poster`.

May import: app.paths, app.atomic, app.safejson, app.settings, app.sizes, app.poster.model,
app.model_service (limits, tileable choices); no Qt, no torch.
"""

from __future__ import annotations

import functools
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths, safejson
from .atomic import atomic_write_text
from .model_service import SEED_LIMITS
from .settings import DEFAULT_GUIDANCE, DEFAULT_STEPS, GUIDANCE_RANGE, STEPS_RANGE
from .sizes import DEFAULT_SIZE, SizeError, resolve_size

PRESET_FORMAT = "sigma-studio-preset"
PRESET_VERSION = 1
PRESET_SUFFIX = ".preset.json"
STYLES_FORMAT = "sigma-studio-styles"
MAX_PRESET_FILE_BYTES = 1_000_000  # far above any real preset file; stops a dropped video being read
MAX_SEED = SEED_LIMITS[1]  # the engine's (model/request.py, through app.model_service)
MAX_FILENAME_CHARS = 100
_WINDOWS_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}


class PresetError(ValueError):
    """A preset or styles file (or text) that cannot be used; the message names it and the problem."""


@dataclass
class Preset:
    """A saved prompt with the settings to make it."""

    name: str
    prompt: str
    negative: str = ""
    size: str = DEFAULT_SIZE
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    seed: int | None = None
    style: str | None = None
    poster: dict | None = None  # a poster layout (app.poster.model.Poster.to_dict), issue 13
    tileable: str = "off"  # seamless axes: off | x | y | both (issue 14)

    def settings(self) -> dict[str, Any]:
        """The generation settings it sets (GenerationSettings.set_values keywords)."""
        return {"steps": self.steps, "guidance": self.guidance, "seed": self.seed, "tileable": self.tileable}


# ---------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    """A JSON-flavoured name for value's type, for error messages."""
    names = {
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "an object",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _is_int(value: Any) -> bool:
    """True for int values, not bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _text(data: dict[str, Any], key: str, where: str, default: str | None) -> str:
    """data[key] as text; default when absent (or null, for optional text); PresetError otherwise."""
    value = data.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise PresetError(f'{where}: "{key}" must be text, not {_type_name(value)}')
    return value


def _preset_from_dict(data: dict[str, Any], where: str, default_name: str) -> Preset:
    """A validated Preset from one JSON object; PresetError naming where and the problem."""
    fmt = data.get("format")
    if fmt is None:
        raise PresetError(f'{where}: missing "format": "{PRESET_FORMAT}"; this is not a Sigma Studio preset')
    if fmt != PRESET_FORMAT:
        raise PresetError(
            f'{where}: "format" is {fmt!r}, not "{PRESET_FORMAT}"; this is not a Sigma Studio preset'
        )
    version = data.get("version", PRESET_VERSION)
    if not _is_int(version) or version < 1:
        raise PresetError(f'{where}: "version" must be a whole number from 1, not {version!r}')
    if version > PRESET_VERSION:
        raise PresetError(
            f"{where}: written by a newer Sigma Studio (preset version {version}; this version reads up to "
            f"{PRESET_VERSION}); update Sigma Studio to use it"
        )
    if "prompt" not in data:
        raise PresetError(f'{where}: missing "prompt"; a preset needs the text to generate from')
    prompt = _text(data, "prompt", where, None)
    if not prompt.strip():
        raise PresetError(f'{where}: "prompt" is empty; write what the image should show')
    name = _text(data, "name", where, default_name).strip() or default_name

    size = _text(data, "size", where, DEFAULT_SIZE)
    try:
        resolve_size(size)
    except SizeError as exc:
        raise PresetError(f'{where}: "size": {exc}') from None

    steps = data.get("steps", DEFAULT_STEPS)
    low, high = STEPS_RANGE
    if not _is_int(steps) or not low <= steps <= high:
        raise PresetError(f'{where}: "steps" must be a whole number from {low} to {high}, not {steps!r}')

    guidance = data.get("guidance", DEFAULT_GUIDANCE)
    low_g, high_g = GUIDANCE_RANGE
    if not (_is_int(guidance) or isinstance(guidance, float)) or not low_g <= guidance <= high_g:
        raise PresetError(
            f'{where}: "guidance" must be a number from {low_g:g} to {high_g:g}, not {guidance!r}'
        )

    seed = data.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= MAX_SEED):
        raise PresetError(
            f'{where}: "seed" must be null (random) or a whole number from 0 to {MAX_SEED}, not {seed!r}'
        )

    style = data.get("style")
    if style is not None:
        if not isinstance(style, str):
            raise PresetError(f'{where}: "style" must be null or a style name, not {_type_name(style)}')
        style = _style_name(style, where) if style.strip() else None

    negative = _text(data, "negative", where, "")
    return Preset(name, prompt, negative, size, steps, float(guidance), seed, style, _poster(data, where),
                  _tileable(data, where))


def _tileable(data: dict[str, Any], where: str) -> str:
    """The preset's tileable axes (issue 14), "off" when absent."""
    from .model_service import TILEABLE_CHOICES

    value = data.get("tileable", "off")
    if value is None:
        return "off"
    if value not in TILEABLE_CHOICES:
        raise PresetError(f'{where}: "tileable" must be one of {", ".join(TILEABLE_CHOICES)}, not {value!r}')
    return value


def _poster(data: dict[str, Any], where: str) -> dict | None:
    """The preset's poster layout, validated (app.poster.model), or None."""
    from .poster.model import Poster, PosterError

    if data.get("poster") is None:
        return None
    try:
        return Poster.from_dict(data["poster"]).to_dict()
    except PosterError as exc:
        raise PresetError(f'{where}: "poster": {exc}') from None


def _stem(source_name: str) -> str:
    """'Neon city.preset.json' -> 'Neon city'."""
    base = Path(source_name).name
    for suffix in (PRESET_SUFFIX, ".json"):
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def parse_presets(text: str, source_name: str) -> list[Preset]:
    """The presets in preset JSON text (one object or a list); PresetError naming source_name."""
    try:
        data = safejson.loads(text, MAX_PRESET_FILE_BYTES)
    except ValueError as exc:
        raise PresetError(
            f"{source_name}: {exc}; a preset file holds one JSON object or a list of them"
        ) from None
    try:
        return _presets_from_data(data, source_name)
    except PresetError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever else is wrong with the file, it is refused by name
        raise PresetError(f"{source_name}: cannot be used as a preset ({type(exc).__name__}: {exc})") from None


def _presets_from_data(data: Any, source_name: str) -> list[Preset]:
    """parse_presets' checks on the parsed JSON."""
    stem = _stem(source_name) or "Preset"
    if isinstance(data, dict):
        return [_preset_from_dict(data, source_name, stem)]
    if not isinstance(data, list):
        raise PresetError(
            f"{source_name}: holds {_type_name(data)}, not a preset object or a list of presets"
        )
    if not data:
        raise PresetError(f"{source_name}: holds an empty list; there is no preset to load")
    presets = []
    for number, item in enumerate(data, start=1):
        where = f"{source_name}, preset {number} of {len(data)}"
        if not isinstance(item, dict):
            raise PresetError(f"{where}: is {_type_name(item)}, not a preset object")
        presets.append(_preset_from_dict(item, where, f"{stem} {number}"))
    return presets


def load_presets(path: str | os.PathLike[str]) -> list[Preset]:
    """The presets in a preset file; PresetError naming the file and the problem."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_PRESET_FILE_BYTES + 1)
    except OSError as exc:
        raise PresetError(
            f"{path.name}: cannot be read ({exc.strerror or exc}); "
            "check that the file exists and you may open it"
        ) from None
    if len(raw) > MAX_PRESET_FILE_BYTES:
        raise PresetError(
            f"{path.name}: is larger than {MAX_PRESET_FILE_BYTES // 1_000_000} MB; not a preset file"
        )
    if b"\0" in raw:
        raise PresetError(f"{path.name}: is a binary file, not a preset (preset files are JSON text)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PresetError(f"{path.name}: is not UTF-8 text; save the preset file as UTF-8") from None
    return parse_presets(text, path.name)


def default_presets() -> list[Preset]:
    """The presets shipped in resources/presets, ordered by file name."""
    folder = paths.resources_dir() / "presets"
    return [preset for file in sorted(folder.glob(f"*{PRESET_SUFFIX}")) for preset in load_presets(file)]


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------


def preset_to_dict(preset: Preset) -> dict[str, Any]:
    """The preset as a Contract-3 JSON object."""
    return {
        "format": PRESET_FORMAT,
        "version": PRESET_VERSION,
        "name": preset.name,
        "prompt": preset.prompt,
        "negative": preset.negative,
        "size": preset.size,
        "steps": preset.steps,
        "guidance": preset.guidance,
        "seed": preset.seed,
        "style": preset.style,
        **({"poster": preset.poster} if preset.poster else {}),
        **({"tileable": preset.tileable} if preset.tileable != "off" else {}),
    }


def preset_filename(name: str) -> str:
    """A file name safe on every OS for a preset name: 'Neon city: 4K' -> 'Neon city- 4K.preset.json'."""
    text = unicodedata.normalize("NFC", name)
    text = "".join(c if c.isalnum() or c in " -_.,()'&+!" else "-" for c in text)
    text = re.sub(r"-{2,}", "-", re.sub(r"\s+", " ", text)).strip(" .-")[:MAX_FILENAME_CHARS].rstrip(" .")
    if not text:
        text = "preset"
    if text.split(".")[0].lower() in _WINDOWS_RESERVED:
        text += "_"
    return text + PRESET_SUFFIX


def _target_path(path: str | os.PathLike[str], name: str) -> Path:
    """path itself, or NAME.preset.json inside it when path is a folder."""
    path = Path(path)
    return path / preset_filename(name) if path.is_dir() else path


def _checked_dicts(presets: list[Preset], where: str) -> list[dict[str, Any]]:
    """The presets as JSON objects, refusing any that load_presets would refuse."""
    dicts = [preset_to_dict(p) for p in presets]
    for number, data in enumerate(dicts, start=1):
        _preset_from_dict(data, f"{where}, preset {number} ({data['name']!r})", data["name"])
    return dicts


def save_preset(preset: Preset, path: str | os.PathLike[str]) -> Path:
    """Write one preset atomically to path (a file, or a folder to put NAME.preset.json in)."""
    target = _target_path(path, preset.name)
    (data,) = _checked_dicts([preset], target.name)
    return atomic_write_text(target, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def save_presets(presets: list[Preset], path: str | os.PathLike[str]) -> Path:
    """Write several presets atomically to one file as a list."""
    target = Path(path)
    if not presets:
        raise PresetError(f"{target.name}: no presets to save; choose at least one")
    data = _checked_dicts(presets, target.name)
    return atomic_write_text(target, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------------
# Styles
# ---------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _read_styles(path: Path, stamp: tuple[int, int] | None) -> tuple[tuple[str, str], ...]:
    """The (name, text) pairs of a styles file, read again only when its stamp (mtime, size) changes."""
    try:
        data = safejson.loads(path.read_bytes(), MAX_PRESET_FILE_BYTES)
    except (OSError, ValueError) as exc:
        raise PresetError(f"{path}: cannot read the styles ({exc}); reinstall Sigma Studio") from None
    styles = data.get("styles") if isinstance(data, dict) and data.get("format") == STYLES_FORMAT else None
    if not isinstance(styles, dict) or not all(isinstance(v, str) for v in styles.values()):
        raise PresetError(
            f'{path}: not a styles file ({{"format": "{STYLES_FORMAT}", "styles": {{name: text}}}})'
        )
    return tuple(styles.items())


def load_styles(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Style name -> text added to the prompt (a '{prompt}' in the text marks where the prompt goes)."""
    path = Path(path) if path else paths.resources_dir() / "styles.json"
    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = None  # _read_styles reports the problem
    return dict(_read_styles(path, stamp))


def _style_name(style: str, where: str = "style") -> str:
    """The styles' own spelling of style (case-insensitive); PresetError listing the styles if unknown."""
    styles = load_styles()
    by_lower = {name.lower(): name for name in styles}
    name = by_lower.get(style.strip().lower())
    if name is None:
        raise PresetError(f"{where}: unknown style {style!r}; choose one of: " + ", ".join(styles))
    return name


def apply_style(prompt: str, style: str | None) -> str:
    """prompt with the style's text added (None or '' leaves it unchanged)."""
    if not style or not style.strip():
        return prompt
    text = load_styles()[_style_name(style)]
    if "{prompt}" in text:
        return text.replace("{prompt}", prompt.strip())
    base = prompt.strip().rstrip(",").rstrip()
    return f"{base}, {text}" if base else text
