"""Files shipped with Sigma Studio: the built-in demo model, default presets, styles and icons.

A package so that a wheel carries them and `importlib.resources` finds them wherever the app is
installed (checkout, site-packages, frozen bundle). Imports nothing of the project; app/ and model/
both ask `root()` for the folder.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def root() -> Path:
    """The folder that holds the shipped files (a real directory: wheels install unzipped)."""
    return Path(str(files(__name__)))
