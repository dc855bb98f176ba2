"""Which axes a tileable (seamless) image wraps around, as plain values (no torch).

Shared by model/request.py (validation), model/inference/seamless.py and, through
app/model_service.py, the command line, metadata and studio.

May import: model.errors. Never torch, Qt, app/ or ui/.
"""

from __future__ import annotations

from .errors import BadRequest

TILEABLE_CHOICES = ("off", "x", "y", "both")


def check_tileable(value: object) -> str:
    """The normalised choice ("off", "x", "y", "both"); anything else -> BadRequest naming the choices."""
    text = "off" if value in (None, "", False) else str(value).strip().lower()
    if text in ("xy", "true", "on"):
        text = "both"
    if text not in TILEABLE_CHOICES:
        raise BadRequest(f"tileable {value!r} is not one of {', '.join(TILEABLE_CHOICES)}")
    return text


def wrap_axes(value: object) -> tuple[bool, bool]:
    """(wraps horizontally, wraps vertically) for a tileable choice."""
    text = check_tileable(value)
    return text in ("x", "both"), text in ("y", "both")
