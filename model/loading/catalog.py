"""Model sources: released PixArt-Σ variants, hub ids, local diffusers folders and official single files.

A *source* says where the transformer comes from; its *base* gives the parts it is used with
(T5 text encoder, tokenizer, VAE, scheduler). Hub downloads go through huggingface_hub into the
normal HF cache, so models downloaded by other tools are reused.

Progress callbacks have the form ``on_progress(stage: str, done: int, total: int)``: bytes while
downloading, parts (1..N) while loading.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import resources

from .errors import Cancelled, SourceError
from .request import GUIDANCE_LIMITS, STEPS_LIMITS

Progress = Callable[[str, int, int], None]

DEMO_DIR = resources.root() / "demo_model"
DEMO_NAME = "Demo model (built-in)"
BASE_REPO = "PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers"
# Honest on-disk figure: the hub stores the T5-v1.1-XXL encoder in fp32 (9.99 + 9.06 GB shards) next to
# the 0.33 GB SDXL VAE; loaded in fp16/bf16 the encoder takes about half of that in memory.
BASE_DOWNLOAD_GB = 19.4
HEAD_DIM = 72  # attention head size of the released XL/2 models (1152 = 16 x 72)

TRANSFORMER_PATTERNS = [
    "transformer/config.json",
    "transformer/diffusion_pytorch_model*.safetensors",
    "transformer/diffusion_pytorch_model.safetensors.index.json",
    "transformer/kv_compress.*",
    "config.json",
    "diffusion_pytorch_model*.safetensors",
    "diffusion_pytorch_model.safetensors.index.json",
    "kv_compress.*",
]
BASE_PATTERNS = [
    "model_index.json",
    "text_encoder/*.json",
    "text_encoder/*.safetensors",
    "tokenizer/*",
    "vae/*.json",
    "vae/diffusion_pytorch_model.safetensors",
    "scheduler/*.json",
]
TRANSFORMER_CLASSES = ("PixArtTransformer2DModel", "Transformer2DModel")
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors")
# folder part -> (file that must be there, what it is)
PARTS = {
    "transformer": ("config.json", "the PixArt transformer"),
    "text_encoder": ("config.json", "the T5 text encoder"),
    "tokenizer": (None, "the T5 tokenizer"),
    "vae": ("config.json", "the VAE"),
    "scheduler": ("scheduler_config.json", "the scheduler"),
}
BASE_PARTS = ("text_encoder", "tokenizer", "vae", "scheduler")
# resolution -> (sample_size, interpolation_scale) of the released configs
RESOLUTION_CONFIG = {256: (32, 0.5), 512: (64, 1), 1024: (128, 2), 2048: (256, 4)}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass(frozen=True)
class Variant:
    """A released PixArt-Σ transformer on the Hugging Face hub."""

    name: str
    hub_id: str
    resolution: int
    download_gb: float  # transformer/ only: one fp32 safetensors file
    description: str


VARIANTS: list[Variant] = [
    Variant(
        "PixArt-Sigma-XL-2-512-MS",
        "PixArt-alpha/PixArt-Sigma-XL-2-512-MS",
        512,
        2.44,
        "512 px model: fastest, least detail; good for drafts",
    ),
    Variant(
        "PixArt-Sigma-XL-2-1024-MS",
        "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS",
        1024,
        2.44,
        "1024 px model: the recommended default; 4K with KV compression",
    ),
    Variant(
        "PixArt-Sigma-XL-2-2K-MS",
        "PixArt-alpha/PixArt-Sigma-XL-2-2K-MS",
        2048,
        2.44,
        "2048 px model: most detail for 2K-4K posters and wallpapers; slowest",
    ),
]


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: kind is hub, pipeline_folder, transformer_folder, single_file or demo."""

    kind: str
    location: str
    base: ModelSource | None = None
    name: str = ""


@dataclass
class LoadedModel:
    """The five parts of a PixArt-Σ pipeline, ready for the engine."""

    transformer: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any
    name: str
    source: ModelSource
    kv: dict | None = None  # {"factor", "blocks", "mode"} when learned KV-compression weights were loaded
    defaults: dict = field(default_factory=dict)  # the model's own generation defaults (MODEL_DEFAULTS_FILE)


# ---------------------------------------------------------------- variants and resolving


def _aliases(variant: Variant) -> set[str]:
    """Lower-case names a variant answers to: its name, hub id, resolution, and 1K/2K."""
    names = {variant.name.lower(), variant.hub_id.lower(), str(variant.resolution)}
    if variant.resolution >= 1024:
        names.add(f"{variant.resolution // 1024}k")
    return names


def find_variant(name: str) -> Variant | None:
    """The released variant called `name` ("512", "1024", "2K", its name or hub id), else None."""
    key = name.strip().lower()
    return next((v for v in VARIANTS if key in _aliases(v)), None)


def resolve_source(spec: str | None, base: str | None = None, default: str | None = None) -> ModelSource:
    """Turn a --model value into a validated ModelSource; None means `default`, else the demo model."""
    if spec is None or not str(spec).strip():
        if default:
            return resolve_source(default, base)
        return _demo_source()
    spec = str(spec).strip()
    if spec.lower() == "demo":
        return _demo_source()
    variant = find_variant(spec)
    if variant is not None:
        return ModelSource("hub", variant.hub_id, _resolve_base(base), variant.name)
    path = Path(spec).expanduser()
    if path.exists():
        return _local_source(path, base)
    if _looks_like_path(spec):
        raise SourceError(f"{spec}: no such file or folder")
    if _is_hub_id(spec):
        return ModelSource("hub", spec, _resolve_base(base), spec)
    raise SourceError(
        f"{spec!r} is not a model: expected a hub id (owner/name), a diffusers folder, "
        "a .pth or .safetensors file, 512/1024/2K or demo"
    )


def _demo_source() -> ModelSource:
    """The embedded demo model, if it is installed."""
    if not (DEMO_DIR / "model_index.json").is_file():
        raise SourceError(
            f"the built-in demo model is not installed (expected {DEMO_DIR}/model_index.json): "
            "choose a model with --model, for example 1024"
        )
    return ModelSource("demo", str(DEMO_DIR), None, DEMO_NAME)


def _is_hub_id(text: str) -> bool:
    """True for a syntactically valid `owner/name` hub id."""
    if not _HUB_ID.fullmatch(text):
        return False
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def _looks_like_path(text: str) -> bool:
    """True when `text` is meant as a file system path rather than a hub id."""
    return (
        text.startswith(("/", ".", "~"))
        or "\\" in text
        or text.count("/") > 1
        or re.match(r"[A-Za-z]:", text) is not None
        or Path(text).suffix.lower() in CHECKPOINT_SUFFIXES + (".bin", ".ckpt", ".gguf")
    )


def _local_source(path: Path, base: str | None) -> ModelSource:
    """Classify an existing file or folder, checking it has what its layout needs."""
    path = path.resolve()
    if path.is_file():
        if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
            raise SourceError(
                f"{path}: unsupported file type {path.suffix or '(no extension)'!r}: expected a .pth or "
                ".safetensors transformer checkpoint, or a diffusers folder"
            )
        return ModelSource("single_file", str(path), _resolve_base(base), path.name)
    if not path.is_dir():
        raise SourceError(f"{path}: not a regular file or folder")
    if (path / "model_index.json").is_file():
        _check_parts(path, tuple(PARTS))
        return ModelSource("pipeline_folder", str(path), _resolve_base(base) if base else None, path.name)
    if (path / "config.json").is_file():
        _check_transformer_config(path)
        return ModelSource("transformer_folder", str(path), _resolve_base(base), path.name)
    if (path / "transformer" / "config.json").is_file():  # a downloaded variant repo: only transformer/
        _check_transformer_config(path / "transformer")
        return ModelSource("transformer_folder", str(path / "transformer"), _resolve_base(base), path.name)
    raise SourceError(
        f"{path} is neither a diffusers pipeline folder (model_index.json with transformer/, text_encoder/, "
        "tokenizer/, vae/, scheduler/) nor a PixArt transformer folder (config.json + weights)"
    )


def _check_transformer_config(folder: Path) -> None:
    """Raise unless folder/config.json describes a PixArt transformer and weights are next to it."""
    config = _read_json(folder / "config.json")
    cls = config.get("_class_name")
    if cls not in TRANSFORMER_CLASSES:
        raise SourceError(
            f"{folder / 'config.json'} describes a {cls or 'model of unknown class'}, "
            "expected _class_name PixArtTransformer2DModel"
        )
    _check_weights(folder, "the PixArt transformer")


def _check_weights(folder: Path, what: str) -> None:
    """Raise unless `folder` holds safetensors (or .bin) weights."""
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise SourceError(f"{folder} has no weights for {what}: expected a .safetensors file there")


def _check_parts(folder: Path, parts: tuple[str, ...]) -> None:
    """Raise naming the first part of a diffusers folder that is missing or incomplete."""
    for part in parts:
        marker, what = PARTS[part]
        sub = folder / part
        if not sub.is_dir():
            raise SourceError(f"{folder} is missing {part}/ ({what}): the folder is incomplete")
        if marker is not None and not (sub / marker).is_file():
            raise SourceError(f"{sub} has no {marker} ({what}): the folder is incomplete")
        if marker is None and not any(sub.iterdir()):
            raise SourceError(f"{sub} is empty ({what}): the folder is incomplete")
        if part in ("transformer", "text_encoder", "vae"):
            _check_weights(sub, what)


def _resolve_base(base: str | None) -> ModelSource:
    """The source of T5, tokenizer, VAE and scheduler: a hub id or pipeline folder; default BASE_REPO."""
    spec = (base or BASE_REPO).strip()
    if spec.lower() == "demo":
        return _demo_source()
    path = Path(spec).expanduser()
    if path.is_dir():
        _check_parts(path.resolve(), BASE_PARTS)
        return ModelSource("pipeline_folder", str(path.resolve()), None, path.name)
    if path.exists() or _looks_like_path(spec):
        where = "is not a folder" if path.exists() else "does not exist"
        raise SourceError(
            f"base {spec} {where}: expected a diffusers pipeline folder (text_encoder/, tokenizer/, vae/, "
            f"scheduler/) or a hub id such as {BASE_REPO}"
        )
    if not _is_hub_id(spec):
        raise SourceError(f"base {spec!r}: expected a diffusers pipeline folder or a hub id (owner/name)")
    return ModelSource("hub", spec, None, spec)


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
    data = _read_json(path)
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


def _read_json(path: Path) -> dict:
    """A JSON object from `path`, or SourceError saying what is wrong with the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path} cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path} holds {type(data).__name__}, expected a JSON object")
    return data


# ---------------------------------------------------------------- hub cache and downloads


def _offline() -> bool:
    """True when the hub must not be contacted (HF_HUB_OFFLINE, read now rather than at import)."""
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return flag.strip().lower() in ("1", "true", "yes", "on") or constants.is_offline_mode()


def hub_cache_dir() -> Path:
    """The HF hub cache in use now (HF_HUB_CACHE, else HF_HOME/hub, else huggingface_hub's default)."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def _repo_plan(
    variant_or_repo: Variant | str, role: str | None = None
) -> tuple[str, list[str], float | None]:
    """(hub id, allow_patterns, known download size in GB or None) for a download."""
    if isinstance(variant_or_repo, Variant):
        return variant_or_repo.hub_id, TRANSFORMER_PATTERNS, variant_or_repo.download_gb
    variant = find_variant(variant_or_repo)
    if variant is not None:
        return variant.hub_id, TRANSFORMER_PATTERNS, variant.download_gb
    repo = variant_or_repo.strip()
    if not _is_hub_id(repo):
        raise SourceError(f"{repo!r} is not a hub id: expected owner/name or one of 512, 1024, 2K")
    if role == "base" or (role is None and repo == BASE_REPO):
        return repo, BASE_PATTERNS, BASE_DOWNLOAD_GB if repo == BASE_REPO else None
    return repo, TRANSFORMER_PATTERNS, None


def _cached_snapshot(repo: str, patterns: list[str]) -> Path | None:
    """The complete cached snapshot of `repo` for `patterns`, or None; never contacts the hub."""
    import huggingface_hub as hf
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = hf.snapshot_download(
            repo, allow_patterns=patterns, cache_dir=hub_cache_dir(), local_files_only=True
        )
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    path = Path(path)
    markers = (
        ["text_encoder/config.json"]
        if patterns is BASE_PATTERNS
        else ["transformer/config.json", "config.json"]
    )
    return path if any((path / m).is_file() for m in markers) else None


def is_downloaded(repo_id: str) -> bool:
    """True when the parts we use from `repo_id` (a hub id or variant name) are complete in the HF cache."""
    try:
        repo, patterns, _ = _repo_plan(repo_id)
    except SourceError:
        return False
    return _cached_snapshot(repo, patterns) is not None


def _free_space_dir(path: Path) -> Path:
    """The nearest existing folder at or above `path` (the cache may not exist yet)."""
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_disk_space(repo: str, size_gb: float, cache: Path) -> None:
    """Raise SourceError when the cache's disk has less free space than the download needs."""
    needed = int(size_gb * 1e9) + 500_000_000  # files plus 0.5 GB headroom
    free = shutil.disk_usage(_free_space_dir(cache)).free
    if free < needed:
        raise SourceError(
            f"downloading {repo} needs {needed / 1e9:.1f} GB free ({size_gb:.1f} GB of files + 0.5 GB headroom) "
            f"but only {free / 1e9:.1f} GB is free in {cache}: free some disk space or point HF_HOME at a "
            "larger disk"
        )


def _hub_error(repo: str, exc: BaseException) -> SourceError:
    """A SourceError a user can act on for a failed hub look-up or download."""
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return SourceError(
            f"{repo} is gated: accept its license on huggingface.co, then log in with `hf auth login`"
        )
    if isinstance(exc, RepositoryNotFoundError):
        return SourceError(
            f"{repo} was not found on the Hugging Face hub: check the id (owner/name); "
            "if it is private, log in with `hf auth login`"
        )
    if isinstance(exc, RevisionNotFoundError):
        return SourceError(f"{repo} has no 'main' revision on the hub: check the id")
    if isinstance(exc, LocalEntryNotFoundError | OfflineModeIsEnabled | ConnectionError):
        return _not_downloaded(repo)
    return SourceError(
        f"downloading {repo} failed ({type(exc).__name__}: {_first_line(exc)}): check your connection and "
        "try again; finished files are kept"
    )


def _not_downloaded(repo: str) -> SourceError:
    """The error for a model that is neither in the cache nor reachable."""
    why = " (offline mode: HF_HUB_OFFLINE is set)" if _offline() else ""
    return SourceError(
        f"{repo} is not downloaded and the hub cannot be reached{why}: connect to the internet "
        "or choose a local model"
    )


def _first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception message, shortened for one-line errors."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _NullFile:
    """A write-only sink so progress bars draw nothing."""

    def write(self, _text: str) -> None:
        """Discard text."""

    def flush(self) -> None:
        """Nothing to flush."""


def progress_tqdm(label: str, on_progress: Progress | None, should_cancel: Callable[[], bool] | None) -> type:
    """A silent tqdm class for huggingface_hub that reports byte progress and raises Cancelled on request."""
    from tqdm import tqdm

    class _Progress(tqdm):
        """Forwards byte counts to `on_progress`; checks `should_cancel` on every update."""

        def __init__(self, *args, **kwargs) -> None:
            """A bar that draws nothing (huggingface_hub's `name` argument is dropped)."""
            kwargs.pop("name", None)
            kwargs["file"] = _NullFile()
            kwargs["disable"] = False
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            """Advance, report bytes, or raise Cancelled when the caller asked to stop."""
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"download of {label} cancelled")
            result = super().update(n)
            if (
                on_progress is not None
                and self.unit == "B"
                and not str(self.desc).startswith("Downloading bytes")
            ):
                on_progress(f"Downloading {label}", int(self.n), int(self.total or 0))
            return result

    return _Progress


def download(
    variant_or_repo: Variant | str,
    on_progress: Progress | None = None,
    should_cancel: Callable[[], bool] | None = None,
    role: str | None = None,
) -> Path:
    """Download what we use of a variant or hub repo into the HF cache; returns the snapshot folder.

    `role` "transformer" or "base" says which parts to fetch from an unknown repo (default: the
    transformer, except for BASE_REPO). Checks free disk space first; raises SourceError or Cancelled.
    """
    import huggingface_hub as hf

    repo, patterns, size_gb = _repo_plan(variant_or_repo, role)
    cached = _cached_snapshot(repo, patterns)
    if cached is not None:
        return cached
    cache = hub_cache_dir()
    if size_gb is not None:
        _check_disk_space(repo, size_gb, cache)
    if _offline():
        raise _not_downloaded(repo)
    tqdm_class = progress_tqdm(repo, on_progress, should_cancel)
    try:
        if size_gb is None:
            plan = hf.snapshot_download(repo, allow_patterns=patterns, cache_dir=cache, dry_run=True)
            needed = sum(f.file_size or 0 for f in plan if f.will_download)
            _check_disk_space(repo, needed / 1e9, cache)
        path = hf.snapshot_download(repo, allow_patterns=patterns, cache_dir=cache, tqdm_class=tqdm_class)
    except (SourceError, Cancelled):
        raise
    except Exception as exc:  # noqa: BLE001 - the hub client raises many types; each becomes one line
        raise _hub_error(repo, exc) from None
    path = Path(path)
    if _cached_snapshot(repo, patterns) is None:
        what = "text_encoder/config.json" if patterns is BASE_PATTERNS else "a transformer config.json"
        raise SourceError(f"{repo} was downloaded but has no {what}: it is not a PixArt-Σ model repo")
    return path


# ---------------------------------------------------------------- official checkpoint conversion

_TOP = {
    "x_embedder.proj": "pos_embed.proj",
    "y_embedder.y_proj.fc1": "caption_projection.linear_1",
    "y_embedder.y_proj.fc2": "caption_projection.linear_2",
    "t_embedder.mlp.0": "adaln_single.emb.timestep_embedder.linear_1",
    "t_embedder.mlp.2": "adaln_single.emb.timestep_embedder.linear_2",
    "t_block.1": "adaln_single.linear",
    "final_layer.linear": "proj_out",
}
_BLOCK = {
    "attn.proj": "attn1.to_out.0",
    "cross_attn.q_linear": "attn2.to_q",
    "cross_attn.proj": "attn2.to_out.0",
    "mlp.fc1": "ff.net.0.proj",
    "mlp.fc2": "ff.net.2",
}
_SPLIT = {
    "attn.qkv": ("attn1.to_q", "attn1.to_k", "attn1.to_v"),
    "cross_attn.kv_linear": ("attn2.to_k", "attn2.to_v"),
}
_KV = {"attn.sr": "sr", "attn.norm": "norm"}
_DROPPED = ("pos_embed", "y_embedder.y_embedding")
_BLOCK_KEY = re.compile(r"blocks\.(\d+)\.(.+)")
_DIFFUSERS_BLOCK_KEY = re.compile(r"transformer_blocks\.(\d+)\.(.+)")
_KV_KEY = re.compile(r"transformer_blocks\.(\d+)\.attn1\.kv_compress\.(sr|norm)\.(weight|bias)")


def convert_official_state_dict(sd: dict) -> tuple[dict, dict]:
    """Official PixArt-Σ keys -> (diffusers transformer state dict, KV state in kv_compress naming).

    Keys outside the mapping (including keys already in diffusers naming) pass through unchanged;
    `pos_embed` and `y_embedder.y_embedding` are dropped (not weights of the diffusers model).
    """
    out: dict = {}
    kv: dict = {}
    for key, value in sd.items():
        if key in _DROPPED:
            continue
        if key == "final_layer.scale_shift_table":
            out["scale_shift_table"] = value
            continue
        if _KV_KEY.fullmatch(key):
            kv[key] = value
            continue
        match = _BLOCK_KEY.fullmatch(key)
        if match is None:
            module, _, param = key.rpartition(".")
            out[f"{_TOP[module]}.{param}" if module in _TOP else key] = value
            continue
        prefix, rest = f"transformer_blocks.{match[1]}", match[2]
        module, _, param = rest.rpartition(".")
        if rest == "scale_shift_table":
            out[f"{prefix}.scale_shift_table"] = value
        elif module in _BLOCK:
            out[f"{prefix}.{_BLOCK[module]}.{param}"] = value
        elif module in _SPLIT:
            names = _SPLIT[module]
            if value.ndim == 0 or value.shape[0] % len(names):
                raise SourceError(
                    f"{key} has shape {tuple(value.shape)}: its first dimension must split into "
                    f"{len(names)} equal parts"
                )
            for name, part in zip(names, value.chunk(len(names), dim=0), strict=True):
                out[f"{prefix}.{name}.{param}"] = part
        elif module in _KV:
            kv[f"{prefix}.attn1.kv_compress.{_KV[module]}.{param}"] = value
        else:
            out[key] = value
    return out, kv


def to_official_state_dict(diffusers_sd: dict, kv_state: dict | None = None) -> dict:
    """The exact inverse of convert_official_state_dict (no pos_embed / y_embedding: the diffusers model lacks them)."""
    top = {v: k for k, v in _TOP.items()}
    block = {v: k for k, v in _BLOCK.items()}
    split_of = {name: (module, names) for module, names in _SPLIT.items() for name in names}
    out: dict = {}
    pending: dict[tuple[str, str, str], dict[str, torch.Tensor]] = {}
    for key, value in diffusers_sd.items():
        if key == "scale_shift_table":
            out["final_layer.scale_shift_table"] = value
            continue
        match = _DIFFUSERS_BLOCK_KEY.fullmatch(key)
        if match is None:
            module, _, param = key.rpartition(".")
            out[f"{top[module]}.{param}" if module in top else key] = value
            continue
        prefix, rest = f"blocks.{match[1]}", match[2]
        module, _, param = rest.rpartition(".")
        if rest == "scale_shift_table":
            out[f"{prefix}.scale_shift_table"] = value
        elif module in block:
            out[f"{prefix}.{block[module]}.{param}"] = value
        elif module in split_of:
            pending.setdefault((prefix, split_of[module][0], param), {})[module] = value
        else:
            out[key] = value
    for (prefix, official, param), parts in pending.items():
        names = _SPLIT[official]
        if set(parts) == set(names):
            out[f"{prefix}.{official}.{param}"] = torch.cat([parts[n] for n in names], dim=0)
        else:  # an incomplete q/k/v set cannot be fused: keep the parts under their diffusers names
            index = prefix.split(".")[1]
            out.update({f"transformer_blocks.{index}.{n}.{param}": v for n, v in parts.items()})
    for key, value in (kv_state or {}).items():
        match = _KV_KEY.fullmatch(key)
        out[f"blocks.{match[1]}.attn.{match[2]}.{match[3]}" if match else key] = value
    return out


def _official_name(key: str) -> str:
    """The official checkpoint key a diffusers key comes from (for error messages)."""
    empty = torch.empty(0)
    if _KV_KEY.fullmatch(key):
        return next(iter(to_official_state_dict({}, {key: empty})))
    match = _DIFFUSERS_BLOCK_KEY.fullmatch(key)
    if match is not None:
        for module, names in _SPLIT.items():
            for part in names:
                if match[2].startswith(part + "."):
                    letter = part.rsplit("_", 1)[-1]
                    return f"blocks.{match[1]}.{module}.{match[2].rsplit('.', 1)[-1]} ({letter} part)"
    return next(iter(to_official_state_dict({key: empty})))


# ---------------------------------------------------------------- single-file checkpoints


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and config hint of a .pth/.safetensors file; refuses pickles that need code.

    The state dict may be the file itself or sit under "state_dict". The optional hint is a
    "config" dict entry (.pth) or a JSON "config" metadata string (.safetensors).
    """
    path = Path(path)
    hint: dict = {}
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import load_file

        try:
            raw: Any = load_file(path)
            with safe_open(path, framework="pt") as handle:
                meta = handle.metadata() or {}
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:  # header or data unreadable
            raise SourceError(
                f"{path} cannot be read as a safetensors file ({_first_line(exc)}): it may be truncated "
                "or not a checkpoint; download it again"
            ) from None
        if meta.get("config"):
            try:
                hint = json.loads(meta["config"])
            except json.JSONDecodeError:
                hint = None
            if not isinstance(hint, dict):
                raise SourceError(f"{path}: the 'config' metadata is not a JSON object") from None
    else:
        import pickle

        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if "weights only load failed" in str(exc).lower():
                raise SourceError(
                    f"{path} contains Python code, refusing to load it: only plain tensor checkpoints are "
                    "accepted (re-save it as a state dict of tensors or as .safetensors)"
                ) from None
            raise SourceError(f"{path} cannot be read ({_first_line(exc)}): it may be truncated") from None
        except Exception as exc:  # noqa: BLE001 - truncated zip, not a torch file, I/O error: all unreadable
            raise SourceError(
                f"{path} cannot be read as a PyTorch checkpoint ({type(exc).__name__}: {_first_line(exc)}): "
                "it may be truncated or not a checkpoint; download it again"
            ) from None
    if not isinstance(raw, dict):
        raise SourceError(f"{path} holds a {type(raw).__name__}, expected a dict of tensors (a state dict)")
    if isinstance(raw.get("config"), dict):
        hint = raw["config"]
    if isinstance(raw.get("state_dict"), dict):
        raw = raw["state_dict"]
    tensors = {str(k): v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise SourceError(f"{path} holds no tensors: expected a PixArt-Σ state dict")
    if all(k.startswith("module.") for k in tensors):  # saved from a DistributedDataParallel wrapper
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors, hint


def _sibling_hint(path: Path) -> dict:
    """Config next to a checkpoint: NAME.json or config.json describing a PixArt transformer."""
    for candidate in (path.with_suffix(".json"), path.parent / "config.json"):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(data, dict) and data.get("_class_name") in TRANSFORMER_CLASSES:
                return data
    return {}


def _resolution_from_name(name: str) -> int | None:
    """512/1024/2048 from a file name such as PixArt-Sigma-XL-2-2K-MS.pth, else None."""
    match = re.search(r"(?<![0-9])(256|512|1024|2048|1k|2k)(?![0-9])", name.lower())
    if match is None:
        return None
    return {"1k": 1024, "2k": 2048}.get(match[1]) or int(match[1])


def infer_transformer_config(sd: dict, hint: dict | None = None, file_name: str = "") -> dict:
    """PixArtTransformer2DModel config for a diffusers-named state dict.

    Sizes come from the weights: hidden from pos_embed.proj, depth from the block count, caption
    channels from caption_projection.linear_1, heads = hidden / 72 as in the released models. The
    hint (a checkpoint's "config" entry or a sibling config.json) may give `head_dim` (or
    `attention_head_dim`), `num_attention_heads`, `sample_size`, `interpolation_scale` or
    `resolution`; otherwise sample size follows the file name (512/1024/2K), default 1024.
    """
    from .configs import transformer_config

    hint = hint or {}
    weight = sd["pos_embed.proj.weight"]
    if weight.ndim != 4 or weight.shape[2] != weight.shape[3]:
        raise SourceError(
            f"x_embedder.proj.weight has shape {tuple(weight.shape)}, expected (hidden, 4, 2, 2)"
        )
    hidden, in_channels, patch = int(weight.shape[0]), int(weight.shape[1]), int(weight.shape[2])
    blocks = sorted({int(m[1]) for k in sd if (m := _DIFFUSERS_BLOCK_KEY.fullmatch(k))})
    if not blocks or blocks != list(range(len(blocks))):
        gap = next(i for i in range(len(blocks) + 1) if i not in blocks)
        raise SourceError(f"missing key blocks.{gap}.attn.qkv.weight: the transformer blocks are incomplete")
    head_dim = hint.get("head_dim") or hint.get("attention_head_dim")
    if not head_dim and hint.get("num_attention_heads"):
        head_dim = hidden // int(hint["num_attention_heads"])
    if not head_dim:
        if hidden % HEAD_DIM:
            raise SourceError(
                f"cannot tell the number of attention heads: hidden size {hidden} is not a multiple of "
                f"{HEAD_DIM}; add a 'config' entry {{'head_dim': N}} to the checkpoint"
            )
        head_dim = HEAD_DIM
    head_dim = int(head_dim)
    if head_dim <= 0 or hidden % head_dim:
        raise SourceError(f"head_dim {head_dim} does not divide the hidden size {hidden}")
    resolution = hint.get("resolution") or _resolution_from_name(file_name) or 1024
    sample, scale = RESOLUTION_CONFIG.get(int(resolution), RESOLUTION_CONFIG[1024])
    sample = hint.get("sample_size", sample)
    scale = hint.get("interpolation_scale", scale)
    caption = sd["caption_projection.linear_1.weight"]
    out_channels = int(sd["proj_out.weight"].shape[0]) // (patch * patch)
    config = transformer_config(
        hidden, len(blocks), hidden // head_dim, int(caption.shape[-1]), sample, scale
    )
    config.update(in_channels=in_channels, out_channels=out_channels, patch_size=patch)
    return config


_REQUIRED = (
    "pos_embed.proj.weight",
    "caption_projection.linear_1.weight",
    "adaln_single.linear.weight",
    "proj_out.weight",
    "transformer_blocks.0.attn1.to_q.weight",
)


def load_single_file(path: str | Path, dtype: torch.dtype = torch.float32) -> tuple[Any, dict | None]:
    """(PixArtTransformer2DModel, kv info or None) from an official or diffusers-named single file."""
    from accelerate import init_empty_weights
    from diffusers import PixArtTransformer2DModel

    path = Path(path)
    raw, hint = read_checkpoint(path)
    try:
        sd, kv_state = convert_official_state_dict(raw)
        missing = [k for k in _REQUIRED if k not in sd]
        if missing:
            sample = ", ".join(list(raw)[:3])
            raise SourceError(
                f"not a PixArt-Σ checkpoint: missing key {_official_name(missing[0])} (it holds keys like {sample})"
            )
        config = infer_transformer_config(sd, hint or _sibling_hint(path), path.name)
    except SourceError as exc:
        raise SourceError(f"{path}: {exc}") from None
    with init_empty_weights(include_buffers=False):  # parameters come from the file: skip random init
        model = PixArtTransformer2DModel(**config)
    expected = model.state_dict()
    _check_state(path, sd, expected, config)
    model.load_state_dict(sd, strict=True, assign=True)
    model = model.to(dtype).eval()
    kv = _load_kv_state(path, model, kv_state, config) if kv_state else None
    return model, kv


def _check_state(path: Path, sd: dict, expected: dict, config: dict) -> None:
    """Raise one SourceError naming a missing, unexpected or wrong-shaped tensor."""
    what = (
        f"a PixArt-Σ transformer with hidden size {config['num_attention_heads'] * config['attention_head_dim']}"
        f" and {config['num_layers']} blocks"
    )
    missing = [k for k in expected if k not in sd]
    if missing:
        raise SourceError(f"{path}: missing key {_official_name(missing[0])} for {what}")
    unexpected = [k for k in sd if k not in expected]
    if unexpected:
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        raise SourceError(
            f"{path}: unexpected key {_official_name(unexpected[0])}{more}: not {what} "
            "(PixArt-α or other DiT checkpoints are not supported)"
        )
    for key, tensor in sd.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise SourceError(
                f"{path}: {_official_name(key)} has shape {tuple(tensor.shape)}, expected "
                f"{tuple(expected[key].shape)} for {what}; the file may be damaged or from another model"
            )
        if not tensor.is_floating_point():
            raise SourceError(f"{path}: {_official_name(key)} holds {tensor.dtype}, expected floating point")


def _load_kv_state(path: Path, model: Any, kv_state: dict, config: dict) -> dict:
    """Install learned KV-compression weights (conv mode); the factor is the sr conv kernel size."""
    hidden = config["num_attention_heads"] * config["attention_head_dim"]
    factors = set()
    for key, tensor in kv_state.items():
        match = _KV_KEY.fullmatch(key)
        if match is None or int(match[1]) >= config["num_layers"]:
            raise SourceError(f"{path}: unexpected KV-compression key {_official_name(key)}")
        if match[2] == "sr" and match[3] == "weight":
            if tensor.ndim != 4 or tensor.shape[:2] != (hidden, 1) or tensor.shape[2] != tensor.shape[3]:
                raise SourceError(
                    f"{path}: {_official_name(key)} has shape {tuple(tensor.shape)}, expected "
                    f"({hidden}, 1, k, k) (a depthwise conv)"
                )
            factors.add(int(tensor.shape[2]))
        elif tuple(tensor.shape) != (hidden,):
            raise SourceError(
                f"{path}: {_official_name(key)} has shape {tuple(tensor.shape)}, expected ({hidden},)"
            )
    if len(factors) != 1:
        found = sorted(factors) or "none"
        raise SourceError(f"{path}: KV-compression blocks need one sr kernel size, found {found}")
    factor = factors.pop()
    try:
        from .kv_compress import load_kv_state
    except ImportError:
        raise SourceError(
            f"{path} holds KV-compression weights but this build lacks model/kv_compress.py"
        ) from None

    dtype = next(model.parameters()).dtype
    try:
        blocks = load_kv_state(model, {k: v.to(dtype) for k, v in kv_state.items()}, factor)
    except SourceError as exc:
        raise SourceError(f"{path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure means the weights do not fit the model
        raise SourceError(f"{path}: the KV-compression weights do not fit ({_first_line(exc)})") from None
    return {"factor": factor, "blocks": list(blocks), "mode": "conv"}


# ---------------------------------------------------------------- loading


def _report(on_progress: Progress | None, stage: str, done: int, total: int) -> None:
    """Call the progress callback if there is one."""
    if on_progress is not None:
        on_progress(stage, done, total)


def _guard(what: str, where: Path, load: Callable[[], Any]) -> Any:
    """Run a from_pretrained call, turning any failure into one SourceError naming the folder."""
    try:
        return load()
    except (SourceError, Cancelled):
        raise
    except Exception as exc:  # noqa: BLE001 - diffusers/transformers raise OSError, ValueError, ...
        raise SourceError(f"could not load {what} from {where}: {_first_line(exc)}") from None


def _hub_folder(
    repo: str,
    patterns: list[str],
    on_progress: Progress | None,
    should_cancel: Callable[[], bool] | None = None,
) -> Path:
    """A complete local snapshot of a hub repo: from the cache, else downloaded (SourceError if offline)."""
    cached = _cached_snapshot(repo, patterns)
    if cached is not None:
        return cached
    if _offline():
        raise _not_downloaded(repo)
    role = "base" if patterns is BASE_PATTERNS else "transformer"
    return download(repo, on_progress=on_progress, should_cancel=should_cancel, role=role)


def _transformer_location(
    source: ModelSource, on_progress: Progress | None, should_cancel: Callable[[], bool] | None = None
) -> Path:
    """The local folder (or file) holding the source's transformer."""
    location = Path(source.location)
    if source.kind in ("pipeline_folder", "demo"):
        return location / "transformer"
    if source.kind in ("transformer_folder", "single_file"):
        if not location.exists():
            raise SourceError(f"{location}: no such file or folder (was it moved or deleted?)")
        return location
    if source.kind == "hub":
        snap = _hub_folder(source.location, TRANSFORMER_PATTERNS, on_progress, should_cancel)
        folder = snap / "transformer" if (snap / "transformer" / "config.json").is_file() else snap
        if not (folder / "config.json").is_file():
            raise SourceError(
                f"{source.location} has no PixArt transformer (expected transformer/config.json or config.json)"
            )
        return folder
    raise SourceError(f"unknown model source kind {source.kind!r}")


def _base_location(
    source: ModelSource, on_progress: Progress | None, should_cancel: Callable[[], bool] | None = None
) -> Path:
    """The local folder holding text_encoder/, tokenizer/, vae/ and scheduler/."""
    if source.kind == "hub":
        return _hub_folder(source.location, BASE_PATTERNS, on_progress, should_cancel)
    if source.kind in ("pipeline_folder", "demo"):
        folder = Path(source.location)
        if not folder.is_dir():
            raise SourceError(f"{folder}: no such folder (was it moved or deleted?)")
        return folder
    raise SourceError(f"{source.location} cannot provide the T5 text encoder, tokenizer and VAE")


def _load_transformer(where: Path, kind: str, dtype: torch.dtype) -> tuple[Any, dict | None]:
    """The transformer (+ KV info) from a single file (kind "single_file") or a transformer folder."""
    if kind == "single_file":
        return load_single_file(where, dtype)
    from diffusers import PixArtTransformer2DModel

    _check_transformer_config(where)
    model = _guard(
        "the transformer", where, lambda: PixArtTransformer2DModel.from_pretrained(where, torch_dtype=dtype)
    )
    kv = None
    if any(where.glob("kv_compress.*")):
        from .kv_compress import load_kv_compression

        kv = _guard("the KV-compression weights", where, lambda: load_kv_compression(model, where))
    return model.eval(), kv


def _has_protobuf() -> bool:
    """True when google.protobuf can be imported (transformers needs it to read spiece.model)."""
    import importlib.util

    try:
        return importlib.util.find_spec("google.protobuf") is not None
    except ImportError:
        return False


def _load_tokenizer(folder: Path) -> Any:
    """AutoTokenizer from `folder` (T5 SentencePiece or ByT5), with a clear error for a missing protobuf."""
    from transformers import AutoTokenizer

    if (
        (folder / "spiece.model").is_file()
        and not (folder / "tokenizer.json").is_file()
        and not _has_protobuf()
    ):
        raise SourceError(
            f"reading the T5 tokenizer in {folder} (spiece.model) needs the protobuf package: "
            "run `pip install protobuf` and try again"
        )
    return _guard("the tokenizer", folder, lambda: AutoTokenizer.from_pretrained(folder))


def _load_scheduler(folder: Path) -> Any:
    """The scheduler class named in scheduler_config.json (DPM-Solver++ if diffusers does not know it)."""
    import diffusers

    name = _read_json(folder / "scheduler_config.json").get("_class_name", "")
    cls = getattr(diffusers, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.SchedulerMixin)):
        cls = diffusers.DPMSolverMultistepScheduler
    return _guard("the scheduler", folder, lambda: cls.from_pretrained(folder))


def load_components(
    source: ModelSource,
    dtype: torch.dtype = torch.float32,
    on_progress: Progress | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> LoadedModel:
    """Download if needed, then load the five parts of `source`; failures are one SourceError (or Cancelled)."""
    from diffusers import AutoencoderKL
    from transformers import T5EncoderModel

    transformer_at = _transformer_location(source, on_progress, should_cancel)
    base_at = _base_location(source.base or source, on_progress, should_cancel)
    _check_parts(base_at, BASE_PARTS)
    total = 5
    _report(on_progress, "Loading transformer", 1, total)
    transformer, kv = _load_transformer(transformer_at, source.kind, dtype)
    _report(on_progress, "Loading text encoder", 2, total)
    text_encoder = _guard(
        "the T5 text encoder",
        base_at / "text_encoder",
        lambda: T5EncoderModel.from_pretrained(base_at / "text_encoder", dtype=dtype).eval(),
    )
    _report(on_progress, "Loading tokenizer", 3, total)
    tokenizer = _load_tokenizer(base_at / "tokenizer")
    _report(on_progress, "Loading VAE", 4, total)
    vae = _guard(
        "the VAE",
        base_at / "vae",
        lambda: AutoencoderKL.from_pretrained(base_at / "vae", torch_dtype=dtype).eval(),
    )
    _report(on_progress, "Loading scheduler", 5, total)
    scheduler = _load_scheduler(base_at / "scheduler")
    defaults = read_model_defaults(Path(source.location)) if source.kind in ("pipeline_folder", "demo") else {}
    return LoadedModel(
        transformer=transformer,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        name=source.name or source.location,
        source=source,
        kv=kv,
        defaults=defaults,
    )


# ---------------------------------------------------------------- listing


def installed_models(local_paths: list[str] | None = None) -> list[dict]:
    """Known and installed models for `python main.py models`: variants, base, demo and local models.

    Each row has kind (variant | base | demo | local), name, hub_id, download_gb, downloaded and
    path (the cached snapshot or folder, None when not downloaded); local rows add spec (as given) and
    layout (a ModelSource kind) or error.
    """
    rows: list[dict] = []
    for variant in VARIANTS:
        snap = _cached_snapshot(variant.hub_id, TRANSFORMER_PATTERNS)
        rows.append(
            {
                "kind": "variant",
                "name": variant.name,
                "hub_id": variant.hub_id,
                "resolution": variant.resolution,
                "download_gb": variant.download_gb,
                "description": variant.description,
                "downloaded": snap is not None,
                "path": str(snap) if snap else None,
            }
        )
    snap = _cached_snapshot(BASE_REPO, BASE_PATTERNS)
    rows.append(
        {
            "kind": "base",
            "name": "T5 text encoder + SDXL VAE (needed by every variant)",
            "hub_id": BASE_REPO,
            "download_gb": BASE_DOWNLOAD_GB,
            "description": "T5-v1.1-XXL, stored in fp32 on the hub (19 GB), and the SDXL VAE",
            "downloaded": snap is not None,
            "path": str(snap) if snap else None,
        }
    )
    if (DEMO_DIR / "model_index.json").is_file():
        rows.append(
            {
                "kind": "demo",
                "name": DEMO_NAME,
                "hub_id": None,
                "download_gb": 0.0,
                "description": "small built-in model: works offline, low quality",
                "downloaded": True,
                "path": str(DEMO_DIR),
            }
        )
    for spec in local_paths or []:
        row = {"kind": "local", "name": Path(spec).name, "hub_id": None, "download_gb": 0.0, "spec": spec}
        try:
            source = resolve_source(spec)
            row.update(
                name=source.name, layout=source.kind, path=source.location, downloaded=True, error=None
            )
        except SourceError as exc:
            row.update(path=str(spec), downloaded=False, error=str(exc))
        rows.append(row)
    return rows
