"""The app's one door into model/: request and error types, size rules, engines and model sources.

Everything in app/ and ui/ that needs the model package comes through here, so a change to
model/'s layout is fixed in this one file. The names imported at module level come from model/'s
torch-free modules (request, errors, resolution); the engine and the model sources import torch,
so they are imported inside the functions below, on the thread that calls them.

May import: model/ (torch-free modules at the top, the rest lazily); no Qt, no ui/.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model.errors import BadRequest, Cancelled, EngineError, SourceError
from model.request import (
    COUNT_LIMITS,
    GUIDANCE_LIMITS,
    HIRES_MODES,
    REFINE_STAGE_LIMITS,
    REFINE_STRENGTH_LIMITS,
    SEED_LIMITS,
    STEPS_LIMITS,
    UPSCALERS,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    StepInfo,
    validate_request,
)
from model.resolution import GRID, MAX_SIDE, MIN_SIDE, check_size, largest_makeable, parse_size, snap_to_grid
from model.tiling_axes import TILEABLE_CHOICES, check_tileable  # seamless (issue 14)

__all__ = [
    "check_model_source",
    "GeneratedImage", "GenerationResult", "ModelInfo", "StepInfo",
    "HIRES_MODES", "UPSCALERS", "REFINE_STRENGTH_LIMITS", "REFINE_STAGE_LIMITS",
    "BadRequest", "Cancelled", "EngineError", "SourceError", "GenerationRequest",
    "STEPS_LIMITS", "GUIDANCE_LIMITS", "SEED_LIMITS", "COUNT_LIMITS", "TILEABLE_CHOICES", "check_tileable",
    "GRID", "MAX_SIDE", "MIN_SIDE", "check_size", "largest_makeable", "parse_size", "snap_to_grid",
    "make_engine", "validate_request", "prompt_cache_usage", "clear_prompt_cache",
    "list_models", "download_model", "validate_import", "runtime_summary",
]


# ------------------------------------------------------------ engines (import torch: worker thread / CLI)

def make_engine(device: str = "auto", memory_mode: str = "auto", cache_dir: Path | None = None,
                leave_a_core: bool = True) -> Any:
    """A model.inference.engine.Engine; the worker's default engine factory (this is where torch gets imported).

    leave_a_core: the studio keeps one CPU core for the window; the command line uses them all.
    """
    from model.inference.engine import Engine

    if leave_a_core:
        _leave_a_core_for_the_ui()
    return Engine(device=device, memory_mode=memory_mode, cache_dir=cache_dir)


def runtime_summary() -> str:
    """Load the engine's libraries (torch, diffusers) and say what they found: the installer's check
    that the binary wheels of a new installation load. Raises whatever a broken library raises."""
    import diffusers  # noqa: F401
    import torch

    return f"torch {torch.__version__}, CUDA {'yes' if torch.cuda.is_available() else 'no'}"


def _leave_a_core_for_the_ui() -> None:
    """Run torch's CPU work on all cores but one, so the window stays smooth while it generates."""
    import torch

    cores = os.cpu_count() or 1
    if cores > 1 and torch.get_num_threads() >= cores:
        torch.set_num_threads(cores - 1)


# ------------------------------------------------------------ the prompt-embedding cache (torch-free)

def prompt_cache_usage(folder: Path) -> tuple[int, int, int]:
    """(files, bytes, cap in bytes) of the prompt-embedding cache in folder (paths.embedding_cache_dir())."""
    from model.inference import cache_files

    files, size = cache_files.usage(folder)
    return files, size, cache_files.DISK_CAP_BYTES


def clear_prompt_cache(folder: Path) -> int:
    """Delete the cached prompt embeddings; returns how many files went."""
    from model.inference import cache_files

    return cache_files.clear(folder)


# ------------------------------------------------------------ model sources (the model manager; pool threads)

def list_models(local_models: list[str]) -> tuple[list[dict], str]:
    """Known and installed models (rows of model.loading.installed_models) and the hub cache folder."""
    from model import loading as sources

    return sources.installed_models(list(local_models)), str(sources.hub_cache_dir())


def download_model(repo: str, on_progress: Callable[..., None] | None = None,
                   should_cancel: Callable[[], bool] | None = None) -> Path:
    """Download a released variant or the base repo into the hub cache; returns its folder."""
    from model import loading as sources

    return sources.download(repo, on_progress=on_progress, should_cancel=should_cancel)


def check_model_source(spec: str) -> None:
    """SourceError when a --model value names no model (a missing path, a malformed hub id); nothing is
    loaded or downloaded (a well-formed hub id passes: whether it exists is known only online)."""
    from model.loading.catalog import resolve_source

    resolve_source(spec)


def validate_import(path: str) -> dict:
    """Check that a folder or checkpoint is a usable PixArt-Σ model; returns its name, kind and location."""
    from model import loading as sources

    source = sources.resolve_source(path)
    if source.kind == "single_file":
        # resolve_source only looks at the suffix: read the tensors to be sure it is a PixArt transformer
        tensors, hint = sources.read_checkpoint(Path(source.location))
        converted, _kv = sources.convert_official_state_dict(tensors)
        sources.infer_transformer_config(converted, hint or None, Path(source.location).name)
    return {"name": source.name, "kind": source.kind, "location": source.location}
