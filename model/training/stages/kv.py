"""The ``kv`` stage: KV token compression (learned conv compressors, attached through
model.inference.kv_compress.attach) fine-tuned with the DiT loss, some batches uncompressed; the
compressors are saved as a sidecar next to the transformer.

May import: model.inference.kv_compress, model.training.config, .stages.dit. Never Qt, app/ or ui/.
"""

from __future__ import annotations

from ...inference.kv_compress import attach
from ..config import StageConfig
from .dit import DiTStage


class KVStage(DiTStage):
    """A DiT stage that trains conv KV compressors on `kv_blocks` (default: the second half)."""

    def __init__(self) -> None:
        """Registered as ``kv``."""
        super().__init__("kv")

    def compression(self, pipe, stage: StageConfig) -> dict:
        """Attach fresh (average-initialised) or existing compressors; the trainer's kv settings."""
        settings = attach(pipe.transformer, stage.kv_factor, stage.kv_blocks, mode="conv")
        return {"factor": stage.kv_factor, "blocks": settings["blocks"], "off": stage.kv_uncompressed}
