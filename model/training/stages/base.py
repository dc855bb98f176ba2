"""The stage interface: what the run needs from every kind of training stage.

May import: model.training.config / .loop (types only). Never Qt, app/ or ui/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import StageConfig
    from ..loop import RunContext


class Stage:
    """One kind of training stage. Subclasses set `kind` and implement `run`."""

    kind: str = ""
    # `--train-text-encoder` sets train_text_encoder on stages of this kind
    joint_text_encoder: bool = True

    def run(self, ctx: RunContext, stage: StageConfig, pipe, deadline: float, resume: bool) -> dict:
        """Train `pipe` in place until `deadline` (time.monotonic()); returns the stage log."""
        raise NotImplementedError

    def makes_images(self, stage: StageConfig) -> bool:
        """True when the stage's output can draw a sample grid (its pipeline generates images)."""
        return True
