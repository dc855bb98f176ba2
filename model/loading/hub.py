"""Hub downloads: the Hugging Face cache, what is downloaded, and downloading with progress and cancel.

Downloads go through huggingface_hub into the normal HF cache, so models downloaded by other tools
are reused. Progress callbacks have the form ``on_progress(stage: str, done: int, total: int)``.

May import: model.errors, model.loading.catalog, huggingface_hub, tqdm. Never torch, Qt, app/ or ui/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ..errors import Cancelled, SourceError, first_line
from . import catalog
from .catalog import (
    BASE_DOWNLOAD_GB,
    BASE_PATTERNS,
    BASE_REPO,
    DEMO_NAME,
    TRANSFORMER_PATTERNS,
    VARIANTS,
    Variant,
    find_variant,
    is_hub_id,
    resolve_source,
)

Progress = Callable[[str, int, int], None]


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
    if not is_hub_id(repo):
        raise SourceError(f"{repo!r} is not a hub id: expected owner/name or one of 512, 1024, 2K")
    if role == "base" or (role is None and repo == BASE_REPO):
        return repo, BASE_PATTERNS, BASE_DOWNLOAD_GB if repo == BASE_REPO else None
    return repo, TRANSFORMER_PATTERNS, None


def cached_snapshot(repo: str, patterns: list[str]) -> Path | None:
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
    return cached_snapshot(repo, patterns) is not None


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
        f"downloading {repo} failed ({type(exc).__name__}: {first_line(exc)}): check your connection and "
        "try again; finished files are kept"
    )


def _not_downloaded(repo: str) -> SourceError:
    """The error for a model that is neither in the cache nor reachable."""
    why = " (offline mode: HF_HUB_OFFLINE is set)" if _offline() else ""
    return SourceError(
        f"{repo} is not downloaded and the hub cannot be reached{why}: connect to the internet "
        "or choose a local model"
    )


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
    cached = cached_snapshot(repo, patterns)
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
    if cached_snapshot(repo, patterns) is None:
        what = "text_encoder/config.json" if patterns is BASE_PATTERNS else "a transformer config.json"
        raise SourceError(f"{repo} was downloaded but has no {what}: it is not a PixArt-Σ model repo")
    return path


def hub_folder(
    repo: str,
    patterns: list[str],
    on_progress: Progress | None,
    should_cancel: Callable[[], bool] | None = None,
) -> Path:
    """A complete local snapshot of a hub repo: from the cache, else downloaded (SourceError if offline)."""
    cached = cached_snapshot(repo, patterns)
    if cached is not None:
        return cached
    if _offline():
        raise _not_downloaded(repo)
    role = "base" if patterns is BASE_PATTERNS else "transformer"
    return download(repo, on_progress=on_progress, should_cancel=should_cancel, role=role)


def installed_models(local_paths: list[str] | None = None) -> list[dict]:
    """Known and installed models for `python main.py models`: variants, base, demo and local models.

    Each row has kind (variant | base | demo | local), name, hub_id, download_gb, downloaded and
    path (the cached snapshot or folder, None when not downloaded); local rows add spec (as given) and
    layout (a ModelSource kind) or error.
    """
    rows: list[dict] = []
    for variant in VARIANTS:
        snap = cached_snapshot(variant.hub_id, TRANSFORMER_PATTERNS)
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
    snap = cached_snapshot(BASE_REPO, BASE_PATTERNS)
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
    if (catalog.DEMO_DIR / "model_index.json").is_file():
        rows.append(
            {
                "kind": "demo",
                "name": DEMO_NAME,
                "hub_id": None,
                "download_gb": 0.0,
                "description": "small built-in model: works offline, low quality",
                "downloaded": True,
                "path": str(catalog.DEMO_DIR),
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
