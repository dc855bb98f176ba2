"""Model defaults: the generation defaults a model folder carries in sigma_studio.json, and JSON reading.

The file: {"format": "sigma-studio-model", "version": 1, "defaults": {"guidance": 1.5, "steps": 20}}.

May import: model.errors, model.request. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import SourceError
from ..request import GUIDANCE_LIMITS, STEPS_LIMITS

MODEL_DEFAULTS_FILE = "sigma_studio.json"
MODEL_DEFAULTS_FORMAT = "sigma-studio-model"
_DEFAULT_LIMITS = {"guidance": GUIDANCE_LIMITS, "steps": STEPS_LIMITS}


def read_model_defaults(folder: Path) -> dict:
    """Generation defaults a model folder asks for, e.g. {"guidance": 1.5}; {} without the file.

    The file: {"format": "sigma-studio-model", "version": 1, "defaults": {"guidance": 1.5, "steps": 20}}.
    A small model trained for a low guidance scale carries it here, so the app and CLI start there.
    """
    path = Path(folder) / MODEL_DEFAULTS_FILE
    if not path.is_file():
        return {}
    data = read_json(path)
    if data.get("format") != MODEL_DEFAULTS_FORMAT or not isinstance(data.get("defaults", {}), dict):
        raise SourceError(f"{path} is not a Sigma Studio model file (format {MODEL_DEFAULTS_FORMAT!r} expected)")
    return check_model_defaults(data.get("defaults", {}), str(path))


def check_model_defaults(defaults: dict, where: str) -> dict:
    """Validated generation defaults (steps as int, guidance as float); SourceError naming `where`."""
    if not isinstance(defaults, dict):
        raise SourceError(f"{where}: defaults must be an object, e.g. {{\"guidance\": 1.5}}")
    out = {}
    for key, value in defaults.items():
        low, high = _DEFAULT_LIMITS.get(key, (None, None))
        if low is None:
            raise SourceError(f"{where}: unknown default {key!r} (known: {', '.join(_DEFAULT_LIMITS)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise SourceError(f"{where}: default {key} must be a number from {low} to {high}, got {value!r}")
        out[key] = int(value) if key == "steps" else float(value)
    return out


def write_model_defaults(folder: Path, defaults: dict) -> None:
    """Write a model folder's MODEL_DEFAULTS_FILE (checked first; temp file, then rename)."""
    defaults = check_model_defaults(defaults, str(folder))
    target = Path(folder) / MODEL_DEFAULTS_FILE
    tmp = target.with_suffix(".tmp")
    body = {"format": MODEL_DEFAULTS_FORMAT, "version": 1, "defaults": defaults}
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def read_json(path: Path) -> dict:
    """A JSON object from `path`, or SourceError saying what is wrong with the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path} cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path} holds {type(data).__name__}, expected a JSON object")
    return data
