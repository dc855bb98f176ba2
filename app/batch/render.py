"""Renderer: one engine, loaded once, that makes many batch jobs (the local run and every Ray worker).

It loads a job's model when it differs from the one loaded (jobs are sorted by model, so a batch
with one model loads it once), asks the engine for one image at the size the model makes, and
writes it through `app.cli.save_output`, the `generate` path (exact size, Contract-2 metadata, temp
file then rename), adding `batch: {key, line}` to the metadata.

May import: app.model_service, app.sizes, app.settings, app.cli (save_output), app.batch.*; no Qt.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .jobs import BatchJob
from .output import worker_name


@dataclass(frozen=True)
class EngineSettings:
    """How each worker makes its engine (the `generate` options that are not per job)."""

    device: str = "auto"
    memory: str = "auto"
    base: str | None = None


def _default_factory(settings: EngineSettings) -> Any:
    from app.model_service import make_engine
    from app.paths import cache_dir

    return make_engine(settings.device, settings.memory, cache_dir(), leave_a_core=False)


class Renderer:
    """Owns one engine and makes jobs with it, one at a time (not thread-safe, like the engine)."""

    def __init__(self, settings: EngineSettings, engine_factory: Callable[[EngineSettings], Any] | None = None):
        self.settings = settings
        self.engine = (engine_factory or _default_factory)(settings)
        self.loaded: tuple[str | None, Any] | None = None  # (model source, ModelInfo)

    def load(self, model: str | None) -> Any:
        """Load `model` unless it is the one loaded; returns its ModelInfo."""
        if self.loaded is None or self.loaded[0] != model:
            self.loaded = (model, self.engine.load(model, self.settings.base))
        return self.loaded[1]

    def render(self, job: BatchJob, path: Path) -> dict[str, Any]:
        """Make one job's image at `path`; returns what the manifest records about how it was made."""
        from app.model_service import GenerationRequest
        from app.settings import DEFAULT_GUIDANCE
        from app.sizes import resolve_size

        from ..cli import save_output

        info = self.load(job.model)
        guidance = job.guidance
        if guidance is None:
            guidance = (info.defaults or {}).get("guidance") or DEFAULT_GUIDANCE
        plan = resolve_size(job.size)
        request = GenerationRequest(prompt=job.prompt, negative=job.negative, width=plan.made[0],
                                    height=plan.made[1], steps=job.steps, guidance=guidance, seed=job.seed,
                                    count=1, kv_compress=job.kv_compress, tileable=job.tileable)
        started = time.perf_counter()
        result = self.engine.generate(request)
        item = result.images[0]
        save_output(item, plan, path, batch={"key": job.key, "line": job.line})
        return {"seconds": time.perf_counter() - started, "guidance": guidance, "model": info.name,
                "worker": worker_name()}

    def render_bytes(self, job: BatchJob) -> tuple[bytes, dict[str, Any]]:
        """Make one job's image and return the file's bytes (a Ray worker sends them to the driver)."""
        with tempfile.TemporaryDirectory(prefix="sigma-batch-") as folder:
            path = Path(folder) / job.filename
            info = self.render(job, path)
            return path.read_bytes(), info


class BatchActor:
    """The Ray actor's class (wrapped with ray.remote in farm.py): loads one engine in its constructor,
    so a restarted actor loads it again, then renders many jobs."""

    def __init__(self, settings: EngineSettings, first_model: str | None) -> None:
        self.renderer = Renderer(settings)
        self.renderer.load(first_model)

    def ready(self) -> int:
        """This worker's process id, once its engine is loaded."""
        return os.getpid()

    def render(self, job: BatchJob) -> tuple[BatchJob, bytes | None, dict[str, Any]]:
        """(job, file bytes, how it was made), or (job, None, {"error": message}) for a job the engine
        refused; a dead worker is Ray's to handle (restart and retry)."""
        from app.model_service import BadRequest, EngineError, SourceError

        try:
            data, info = self.renderer.render_bytes(job)
        except (EngineError, SourceError, BadRequest) as error:
            return job, None, {"error": " ".join(str(error).split())}
        return job, data, info
