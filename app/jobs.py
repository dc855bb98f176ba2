"""Generation jobs: the request (no torch), explicit states, and the queue the UI listens to.

May import: QtCore, app.model_service (the request type); no widgets, no torch.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum
from typing import Any

from PySide6.QtCore import QObject, Signal

from .model_service import GenerationRequest


class JobState(Enum):
    """Where a job is in its life: queued -> running -> done | cancelled | failed."""

    queued = "queued"
    running = "running"
    done = "done"
    cancelled = "cancelled"
    failed = "failed"

    @property
    def is_finished(self) -> bool:
        """True for the three end states."""
        return self in (JobState.done, JobState.cancelled, JobState.failed)


@dataclass
class JobRequest(GenerationRequest):
    """A GenerationRequest plus what the app needs around it (print DPI, style, size preset)."""

    dpi: int | None = None
    style: str | None = None  # already applied to `prompt`; kept for the image's metadata
    preset: str | None = None

    def engine_kwargs(self, made: tuple[int, int] | None = None) -> dict[str, Any]:
        """Keyword arguments for model.inference.engine.GenerationRequest (size = what the model makes)."""
        width, height = made or (self.width, self.height)
        kwargs = {f.name: getattr(self, f.name) for f in fields(GenerationRequest)}
        return {**kwargs, "width": width, "height": height}


_ids = itertools.count(1)


@dataclass
class Job:
    """One queued generation and what became of it."""

    request: JobRequest
    plan: Any = None  # app.sizes.SizePlan for the request's target size (None: make it as asked)
    id: str = field(default_factory=lambda: f"job-{next(_ids)}")
    state: JobState = JobState.queued
    step: int = 0
    total: int = 0
    image_index: int = 0
    eta_s: float | None = None
    error: str = ""
    record_ids: list[int] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    created: datetime = field(default_factory=datetime.now)

    @property
    def progress(self) -> float:
        """Fraction done across all images of the batch (0..1)."""
        if self.state is JobState.done:
            return 1.0
        if not self.total:
            return 0.0
        count = max(1, self.request.count)
        return min(1.0, (self.image_index + self.step / self.total) / count)

    @property
    def title(self) -> str:
        """A short label for lists: size and the prompt's start."""
        prompt = " ".join(self.request.prompt.split())
        short = prompt if len(prompt) <= 40 else prompt[:39] + "…"
        return f"{self.request.width}×{self.request.height}  {short}"


class JobQueue(QObject):
    """Waiting, running and finished jobs in run order; emits a signal for every change."""

    job_added = Signal(object)
    job_started = Signal(object)
    job_progress = Signal(object)
    job_finished = Signal(object)  # done, cancelled or failed: read job.state
    job_removed = Signal(object)
    order_changed = Signal()
    count_changed = Signal()
    cancel_requested = Signal(str)  # a running job should stop: the worker listens

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []

    # ------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._jobs))

    def __getitem__(self, index: int) -> Job:
        return self._jobs[index]

    def find(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        return next((job for job in self._jobs if job.id == job_id), None)

    def count(self, state: JobState | None = None) -> int:
        """Number of jobs, or of jobs in one state."""
        return len(self._jobs) if state is None else sum(1 for job in self._jobs if job.state is state)

    def pending(self) -> list[Job]:
        """Queued jobs in the order they will run."""
        return [job for job in self._jobs if job.state is JobState.queued]

    def running(self) -> Job | None:
        """The job being generated now, if any."""
        return next((job for job in self._jobs if job.state is JobState.running), None)

    def next_job(self) -> Job | None:
        """The first queued job, or None when nothing waits."""
        return next((job for job in self._jobs if job.state is JobState.queued), None)

    # ------------------------------------------------------------ changing

    def add(self, request: JobRequest, plan: Any = None) -> Job:
        """Queue a request at the end and return its job."""
        return self.add_job(Job(request=request, plan=plan))

    def add_job(self, job: Job) -> Job:
        """Queue an existing job at the end."""
        self._jobs.append(job)
        self.job_added.emit(job)
        self.count_changed.emit()
        return job

    def move_to(self, job_id: str, index: int) -> bool:
        """Move a queued job to a position in run order; False when it cannot move."""
        job = self.find(job_id)
        if job is None or job.state is not JobState.queued:
            return False
        old = self._jobs.index(job)
        index = max(0, min(len(self._jobs) - 1, index))
        if index == old:
            return False
        self._jobs.pop(old)
        self._jobs.insert(index, job)
        self.order_changed.emit()
        return True

    def move_up(self, job_id: str) -> bool:
        """Run a queued job one place earlier (never before the running or finished ones)."""
        return self._step(job_id, -1)

    def move_down(self, job_id: str) -> bool:
        """Run a queued job one place later."""
        return self._step(job_id, +1)

    def _step(self, job_id: str, delta: int) -> bool:
        """Swap a queued job with its queued neighbour in direction delta."""
        pending = self.pending()
        ids = [job.id for job in pending]
        if job_id not in ids:
            return False
        pos = ids.index(job_id) + delta
        if not 0 <= pos < len(pending):
            return False
        return self.move_to(job_id, self._jobs.index(pending[pos]))

    def cancel(self, job_id: str) -> bool:
        """Cancel a job: a queued one at once, a running one by asking the worker (cancel_requested)."""
        job = self.find(job_id)
        if job is None or job.state.is_finished:
            return False
        if job.state is JobState.queued:
            job.state = JobState.cancelled
            self.job_finished.emit(job)
            self.count_changed.emit()
            return True
        self.cancel_requested.emit(job.id)
        return True

    def cancel_running(self) -> bool:
        """Ask the worker to stop the running job; False when nothing runs."""
        job = self.running()
        return self.cancel(job.id) if job else False

    def remove(self, job_id: str) -> bool:
        """Drop a finished job from the list (running and queued jobs are cancelled instead)."""
        job = self.find(job_id)
        if job is None or not job.state.is_finished:
            return False
        self._jobs.remove(job)
        self.job_removed.emit(job)
        self.count_changed.emit()
        return True

    def clear_finished(self) -> None:
        """Drop every finished job."""
        for job in [job for job in self._jobs if job.state.is_finished]:
            self.remove(job.id)

    # ------------------------------------------------------------ worker reports

    def notify_started(self, job_id: str) -> None:
        """The worker began this job."""
        job = self.find(job_id)
        if job is None or job.state is not JobState.queued:
            return
        job.state = JobState.running
        self.job_started.emit(job)
        self.count_changed.emit()

    def notify_progress(self, job_id: str, image_index: int, step: int, total: int, eta_s: float | None) -> None:
        """The worker finished a step of this job."""
        job = self.find(job_id)
        if job is None or job.state is not JobState.running:
            return
        job.image_index, job.step, job.total, job.eta_s = image_index, step, total, eta_s
        self.job_progress.emit(job)

    def notify_done(self, job_id: str, record_ids: list[int], seeds: list[int], notes: list[str]) -> None:
        """The worker stored this job's images."""
        self._finish(job_id, JobState.done, record_ids=list(record_ids), seeds=list(seeds), notes=list(notes))

    def notify_failed(self, job_id: str, message: str) -> None:
        """The worker could not make this job."""
        self._finish(job_id, JobState.failed, error=message)

    def notify_cancelled(self, job_id: str) -> None:
        """The worker stopped this job between steps."""
        self._finish(job_id, JobState.cancelled)

    def _finish(self, job_id: str, state: JobState, **values: Any) -> None:
        """Move a job to an end state and tell listeners."""
        job = self.find(job_id)
        if job is None or job.state.is_finished:
            return
        job.state = state
        job.eta_s = None
        for name, value in values.items():
            setattr(job, name, value)
        self.job_finished.emit(job)
        self.count_changed.emit()
