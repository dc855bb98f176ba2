"""Training stages and their ONE registry: stage kind -> Stage object (see docs/TRAINING.md).

- ``vae``: model/training/stages/vae.py
- ``text``: model/training/stages/text.py
- ``base`` and ``resolution``: model/training/stages/dit.py
- ``kv``: model/training/stages/kv.py

A new kind of stage is a Stage subclass added to STAGES below; nothing else dispatches on kinds.
May import: the stage modules. Never Qt, app/ or ui/.
"""

from __future__ import annotations

from .base import Stage
from .dit import DiTStage
from .kv import KVStage
from .text import TextStage
from .vae import VAEStage

STAGES: dict[str, Stage] = {
    stage.kind: stage for stage in (VAEStage(), TextStage(), DiTStage("base"), DiTStage("resolution"), KVStage())
}


def stage_for(kind: str) -> Stage:
    """The registered stage of `kind` (KeyError naming the known kinds)."""
    try:
        return STAGES[kind]
    except KeyError:
        raise KeyError(f"no stage kind {kind!r} (known: {', '.join(STAGES)})") from None
