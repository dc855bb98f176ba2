"""User-facing errors raised by the engine: each message says what was wrong and what to do."""


class EngineError(Exception):
    """A problem the user can act on (bad input, bad checkpoint, offline, out of memory)."""


class SourceError(EngineError):
    """A model source (hub id, folder, checkpoint file) that cannot be loaded."""


class BadRequest(EngineError):
    """A generation request with an invalid value (size, steps, guidance, prompt)."""


class Cancelled(Exception):
    """Generation was cancelled between steps; the engine stays usable."""
