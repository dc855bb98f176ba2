"""Component loading: the five parts of a PixArt-Σ pipeline (transformer, T5, tokenizer, VAE, scheduler)
from a resolved ModelSource, downloading first when needed; every failure is one SourceError.

Progress callbacks have the form ``on_progress(stage: str, done: int, total: int)``: bytes while
downloading, parts (1..N) while loading.

May import: model.errors, model.loading.*, model.inference.kv_compress (learned KV sidecars), torch,
diffusers, transformers. Never Qt, app/ or ui/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import Cancelled, SourceError, first_line
from ..inference.kv_compress import load_kv_compression
from .catalog import (
    BASE_PARTS,
    BASE_PATTERNS,
    TRANSFORMER_PATTERNS,
    ModelSource,
    check_parts,
    check_transformer_config,
)
from .defaults import read_json, read_model_defaults
from .hub import Progress, hub_folder
from .single_file import load_single_file


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
        raise SourceError(f"could not load {what} from {where}: {first_line(exc)}") from None


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
        snap = hub_folder(source.location, TRANSFORMER_PATTERNS, on_progress, should_cancel)
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
        return hub_folder(source.location, BASE_PATTERNS, on_progress, should_cancel)
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

    check_transformer_config(where)
    model = _guard(
        "the transformer", where, lambda: PixArtTransformer2DModel.from_pretrained(where, torch_dtype=dtype)
    )
    kv = None
    if any(where.glob("kv_compress.*")):
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

    name = read_json(folder / "scheduler_config.json").get("_class_name", "")
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
    check_parts(base_at, BASE_PARTS)
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
