"""User-facing errors raised by the engine: each message says what was wrong and what to do.

May import: nothing (the standard library). Never torch, Qt, app/ or ui/.
"""


class EngineError(Exception):
    """A problem the user can act on (bad input, bad checkpoint, offline, out of memory)."""


class SourceError(EngineError):
    """A model source (hub id, folder, checkpoint file) that cannot be loaded."""


class BadRequest(EngineError):
    """A generation request with an invalid value (size, steps, guidance, prompt)."""


class Cancelled(Exception):
    """Generation was cancelled between steps; the engine stays usable."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception message, shortened for one-line errors."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"
