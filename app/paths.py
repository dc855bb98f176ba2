"""Where Sigma Studio keeps its files: platformdirs locations, created on first use.

Set SIGMA_STUDIO_HOME to keep everything in one folder (portable installs, tests): config, data,
cache and Pictures then live in its `config`, `data`, `cache` and `Pictures` subfolders. Otherwise
the platform's locations are used (on Linux they follow XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_CACHE_HOME).

May import: platformdirs and the standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "SigmaStudio"
OUTPUT_FOLDER_NAME = "Sigma Studio"  # inside the user's Pictures folder
HOME_ENV = "SIGMA_STUDIO_HOME"


def _home() -> Path | None:
    """The single-folder home from SIGMA_STUDIO_HOME, or None to use the platform locations."""
    home = os.environ.get(HOME_ENV, "").strip()
    return Path(home).expanduser() if home else None


def _ensure(path: Path) -> Path:
    """Create path (and its parents) if missing and return it."""
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """Settings, prompt history and user presets."""
    home = _home()
    return _ensure(home / "config" if home else platformdirs.user_config_path(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """The gallery and downloaded or converted models."""
    home = _home()
    return _ensure(home / "data" if home else platformdirs.user_data_path(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Files that can be rebuilt: thumbnails and prompt embeddings."""
    home = _home()
    return _ensure(home / "cache" if home else platformdirs.user_cache_path(APP_NAME, appauthor=False))


def gallery_dir() -> Path:
    """The gallery database and its image files."""
    return _ensure(data_dir() / "gallery")


def thumbnail_dir() -> Path:
    """Gallery thumbnails."""
    return _ensure(cache_dir() / "thumbnails")


def embedding_cache_dir() -> Path:
    """Cached T5 prompt embeddings."""
    return _ensure(cache_dir() / "embeddings")


def models_dir() -> Path:
    """Models the user installed, converted or fine-tuned."""
    return _ensure(data_dir() / "models")


def user_presets_dir() -> Path:
    """Prompt presets the user saved in the app."""
    return _ensure(config_dir() / "presets")


def settings_file() -> Path:
    """The settings JSON file (may not exist yet)."""
    return config_dir() / "settings.json"


def prompt_history_file() -> Path:
    """The prompt history JSON file (may not exist yet)."""
    return config_dir() / "prompt_history.json"


def default_output_dir() -> Path:
    """Where images are saved unless the user picks a folder: Pictures/Sigma Studio (not created here)."""
    home = _home()
    pictures = home / "Pictures" if home else platformdirs.user_pictures_path()
    return pictures / OUTPUT_FOLDER_NAME


def resources_dir() -> Path:
    """The bundled resources folder (demo model, default presets, styles, icons), wherever installed."""
    import resources

    return resources.root()
