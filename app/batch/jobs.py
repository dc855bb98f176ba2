"""Jobs files for `batch`: read JSONL, CSV or a folder of presets, check every line, one job per image.

A line holds: prompt (required), negative, size (WxH or a size-preset name) or preset (a size-preset
name, as `generate --preset`), seed, count, steps, guidance, model, tileable (off|x|y|both, as
`generate --tileable`, checked by the same app.model_service.check_tileable). `count` N makes N images with
seeds S, S+1, …; without a seed the seed is derived from the line's settings, so a re-run makes the
same images. Each image is a BatchJob whose `key` is a hash of everything that decides its pixels;
its file name comes from that key (resume and exactly-once rest on it).

May import: app.sizes, app.settings, app.presets, app.model_service (all torch-free); no Qt, no torch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..model_service import TILEABLE_CHOICES, BadRequest, check_tileable
from ..presets import PRESET_SUFFIX, PresetError, apply_style, load_presets
from ..settings import DEFAULT_STEPS, GUIDANCE_RANGE, STEPS_RANGE
from ..sizes import SizeError, resolve_size

FIELDS = ("prompt", "negative", "size", "preset", "seed", "count", "steps", "guidance", "model", "tileable")
DEFAULT_SIZE = "1024x1024"  # as `generate` without --size
MAX_COUNT = 10_000
MAX_SEED = 2**32 - 1  # the engine's seed range
MAX_FILE_BYTES = 50_000_000
KEY_CHARS = 16


class JobsError(ValueError):
    """A jobs file or line that cannot be used; the message names the line (or file) and the field."""


@dataclass(frozen=True)
class BatchJob:
    """One image to make: its settings, where it came from, and the key its file is named after."""

    line: int  # 1-based line of the jobs file (for presets: the preset's place in the folder)
    prompt: str
    negative: str
    size: str  # what the line asked for: WxH or a size-preset name
    width: int  # the exact size of the saved image
    height: int
    seed: int
    steps: int
    guidance: float | None  # None: the model's own default, else 4.5
    model: str | None  # None: the configured model, else the demo model
    kv_compress: str = "auto"
    tileable: str = "off"  # seamless axes (issue 14): off | x | y | both

    @property
    def key(self) -> str:
        """Hash of everything that decides the image (not where the job came from); `tileable` only
        when on, so the images of batches made before it existed keep their names (a re-run skips them)."""
        settings = {k: v for k, v in asdict(self).items()
                    if k != "line" and not (k == "tileable" and v == "off")}
        text = json.dumps(settings, sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_CHARS]

    @property
    def filename(self) -> str:
        """The output file: size, seed and key, e.g. 3840x2160_42_0123456789abcdef.png."""
        return f"{self.width}x{self.height}_{self.seed}_{self.key}.png"


@dataclass
class JobsFile:
    """What a jobs file holds: the jobs of its good lines and one message per bad line."""

    jobs: list[BatchJob]
    errors: list[str]
    repeats: int = 0  # images asked for twice (same key): made once


def _derived_seed(fields: dict[str, Any]) -> int:
    """A seed from a line's settings, for lines without one (the same line gives the same seed)."""
    text = json.dumps(fields, sort_keys=True, ensure_ascii=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big")


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise JobsError(f'"{name}" must be a whole number from {low} to {high}, not {value!r}')
    return value


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise JobsError(f'"{name}" must be a number from {low:g} to {high:g}, not {value!r}') from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise JobsError(f'"{name}" must be a number from {low:g} to {high:g}, not {value!r}')
    return float(value)


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise JobsError(f'"{name}" must be text, not {value!r}')
    if "\x00" in value:
        raise JobsError(f'"{name}" contains a NUL character')
    return value


def _tileable(value: Any) -> str:
    """The line's tileable axes, checked as `generate --tileable` is (app.model_service.check_tileable)."""
    if not isinstance(value, str):  # JSON true/1 would be a guess at the axes
        raise JobsError(f'"tileable" must be one of {", ".join(TILEABLE_CHOICES)}, not {value!r}')
    try:
        return check_tileable(value)
    except BadRequest as error:
        raise JobsError(str(error)) from None


def _present(data: dict[str, Any], name: str) -> bool:
    """Whether a field has a value (CSV leaves empty cells for fields a line does not set)."""
    value = data.get(name)
    return value is not None and not (isinstance(value, str) and not value.strip())


def jobs_from_fields(data: Any, line: int, defaults: dict[str, Any]) -> list[BatchJob]:
    """The images one line asks for; JobsError (without the line number) for a bad value."""
    if not isinstance(data, dict):
        raise JobsError(f"expected an object with a prompt, not {type(data).__name__}")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise JobsError(f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
    prompt = _text(data, "prompt")
    if not prompt.strip():
        raise JobsError('"prompt" is missing or empty: describe the image you want')
    if _present(data, "size") and _present(data, "preset"):
        raise JobsError('give "size" or "preset", not both')
    size = str(data.get("size") if _present(data, "size") else data.get("preset") or DEFAULT_SIZE).strip()
    try:
        plan = resolve_size(size)
    except SizeError as error:
        raise JobsError(str(error)) from None
    steps = _whole(data["steps"], "steps", *STEPS_RANGE) if _present(data, "steps") else DEFAULT_STEPS
    guidance = _number(data["guidance"], "guidance", *GUIDANCE_RANGE) if _present(data, "guidance") else None
    count = _whole(data["count"], "count", 1, MAX_COUNT) if _present(data, "count") else 1
    model = _text(data, "model").strip() or defaults.get("model")
    fields = dict(prompt=prompt, negative=_text(data, "negative"), size=size, width=plan.target[0],
                  height=plan.target[1], steps=steps, guidance=guidance, model=model,
                  kv_compress=defaults.get("kv_compress", "auto"),
                  tileable=_tileable(data["tileable"]) if _present(data, "tileable") else "off")
    if _present(data, "seed"):
        seed = _whole(data["seed"], "seed", 0, MAX_SEED)
    else:
        seed = _derived_seed({k: v for k, v in fields.items() if not (k == "tileable" and v == "off")})
    if seed + count - 1 > MAX_SEED:
        raise JobsError(f'"seed" {seed} + "count" {count} goes past the largest seed, {MAX_SEED}')
    return [BatchJob(line=line, seed=seed + k, **fields) for k in range(count)]


def _jsonl_lines(text: str) -> list[tuple[int, Any]]:
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            rows.append((number, json.loads(raw)))
        except json.JSONDecodeError as error:
            rows.append((number, JobsError(f"not JSON ({error.msg} at column {error.colno})")))
    return rows


def _csv_lines(text: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "prompt" not in [name.strip() for name in reader.fieldnames]:
        raise JobsError('a CSV jobs file starts with a header line naming its columns, one of them "prompt"')
    rows = []
    for row in reader:
        if None in row:
            rows.append((reader.line_num, JobsError("more cells than the header has columns")))
            continue
        cleaned = {k.strip(): v for k, v in row.items() if k is not None}
        if not any((v or "").strip() for v in cleaned.values()):
            continue
        rows.append((reader.line_num, {k: v for k, v in cleaned.items() if (v or "").strip()}))
    return rows


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise JobsError(f"{path.name}: is larger than {MAX_FILE_BYTES // 1_000_000} MB")
        return path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise JobsError(f"{path}: cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise JobsError(f"{path.name}: is not UTF-8 text") from None


def _collect(rows: list[tuple[int, Any]], name: str, defaults: dict[str, Any]) -> JobsFile:
    """Jobs of every good row, one message per bad one, and each image once."""
    jobs: dict[str, BatchJob] = {}
    errors: list[str] = []
    repeats = 0
    for number, data in rows:
        try:
            if isinstance(data, JobsError):
                raise data
            made = jobs_from_fields(data, number, defaults)
        except JobsError as error:
            errors.append(f"{name} line {number}: {error}")
            continue
        for job in made:
            if job.key in jobs:
                repeats += 1
            else:
                jobs[job.key] = job
    return JobsFile(list(jobs.values()), errors, repeats)


def read_jobs(path: str | Path, defaults: dict[str, Any] | None = None, seeds: range | None = None) -> JobsFile:
    """Read a .jsonl/.csv jobs file, or a folder of .preset.json files crossed with `seeds`.

    defaults: "model" (when a line names none) and "kv_compress". JobsError when the file as a
    whole cannot be used; bad lines come back in JobsFile.errors, naming their line.
    """
    path = Path(path).expanduser()
    defaults = defaults or {}
    if path.is_dir():
        return _preset_folder(path, defaults, seeds)
    if seeds is not None:
        raise JobsError("--seeds goes with a folder of presets; in a jobs file give each line a seed and count")
    if not path.is_file():
        raise JobsError(f"{path}: no such jobs file or preset folder")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise JobsError(f"{path.name}: use a .jsonl or .csv jobs file, or a folder of {PRESET_SUFFIX} files")
    text = _read_text(path)
    rows = _jsonl_lines(text) if suffix == ".jsonl" else _csv_lines(text)
    return _collect(rows, path.name, defaults)


def _preset_folder(folder: Path, defaults: dict[str, Any], seeds: range | None) -> JobsFile:
    """Every preset in the folder's .preset.json files, once per seed (the preset's own seed without --seeds)."""
    files = sorted(folder.glob(f"*{PRESET_SUFFIX}"))
    if not files:
        raise JobsError(f"{folder}: holds no {PRESET_SUFFIX} files")
    rows: list[tuple[int, Any]] = []
    errors: list[str] = []
    for file in files:
        try:
            presets = load_presets(file)
        except PresetError as error:
            errors.append(str(error))
            continue
        for preset in presets:
            fields = dict(prompt=apply_style(preset.prompt, preset.style), negative=preset.negative,
                          size=preset.size, steps=preset.steps, guidance=preset.guidance,
                          tileable=preset.tileable)
            for seed in seeds if seeds is not None else [preset.seed]:
                rows.append((len(rows) + 1, {**fields, "seed": seed}))
    found = _collect(rows, folder.name, defaults)
    found.errors[:0] = errors
    return found


def parse_seed_range(text: str) -> range:
    """'0-99' -> range(0, 100); '7' -> range(7, 8); JobsError otherwise."""
    low, _, high = text.partition("-")
    try:
        first = int(low)
        last = int(high) if high else first
    except ValueError:
        raise JobsError(f"--seeds {text!r}: use FIRST-LAST, for example 0-99") from None
    if not 0 <= first <= last <= MAX_SEED:
        raise JobsError(f"--seeds {text!r}: use FIRST-LAST with 0 <= FIRST <= LAST <= {MAX_SEED}")
    return range(first, last + 1)
