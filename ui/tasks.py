"""Run a function off the UI thread in a QThreadPool and report progress, result and errors as signals.

May import: PySide6 only.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot


class TaskContext:
    """What a task function receives: a way to report progress and to see whether it was cancelled."""

    def __init__(self, task: Task) -> None:
        self._task = task

    def progress(self, *args: Any) -> None:
        """Report progress; the arguments reach `Task.progress` on the UI thread as one tuple."""
        self._task._progress.emit(args)

    def should_cancel(self) -> bool:
        """True once `Task.cancel()` was called."""
        return self._task.cancelled


class Task(QObject):
    """A handle for one background call; its public signals are delivered on the thread that made it.

    A task has no Qt parent (a parent's deletion would delete it under the running thread); it
    stays referenced until `finished` is delivered. With an `owner`, the callbacks stop and the
    task is cancelled once the owner is destroyed, so a closed dialog is never called back.
    """

    progress = Signal(tuple)
    result = Signal(object)
    error = Signal(object)
    finished = Signal()

    # Emitted from the worker thread; relayed by the slots below, which run on this object's thread.
    _progress = Signal(tuple)
    _result = Signal(object)
    _error = Signal(object)
    _finished = Signal()

    def __init__(self, fn: Callable[[TaskContext], Any], owner: QObject | None = None) -> None:
        super().__init__()
        self._fn = fn
        self._cancel = threading.Event()
        self._orphaned = False
        self.done = False
        self.traceback = ""
        self._progress.connect(self._relay_progress)
        self._result.connect(self._relay_result)
        self._error.connect(self._relay_error)
        self._finished.connect(self._relay_finished)
        if owner is not None:
            owner.destroyed.connect(self._owner_destroyed)

    @property
    def cancelled(self) -> bool:
        """True once `cancel()` was called."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the function to stop; it sees this through `TaskContext.should_cancel()`."""
        self._cancel.set()

    def execute(self) -> None:
        """Run the function on the calling thread (the pool calls this on a worker thread)."""
        try:
            value = self._fn(TaskContext(self))
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, never lost in a thread
            self.traceback = traceback.format_exc()
            self._error.emit(exc)
        else:
            self._result.emit(value)
        finally:
            self._finished.emit()

    @Slot()
    def _owner_destroyed(self) -> None:
        self._orphaned = True
        self.cancel()

    @Slot(tuple)
    def _relay_progress(self, args: tuple) -> None:
        if not self._orphaned:
            self.progress.emit(args)

    @Slot(object)
    def _relay_result(self, value: object) -> None:
        if not self._orphaned:
            self.result.emit(value)

    @Slot(object)
    def _relay_error(self, exc: object) -> None:
        if not self._orphaned:
            self.error.emit(exc)

    @Slot()
    def _relay_finished(self) -> None:
        self.done = True
        _RUNNING.discard(self)
        if not self._orphaned:
            self.finished.emit()


# Every task stays alive here until its `finished` is delivered.
_RUNNING: set[Task] = set()


def run_task(
    fn: Callable[[TaskContext], Any],
    *,
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_progress: Callable[..., None] | None = None,
    on_finished: Callable[[], None] | None = None,
    pool: QThreadPool | None = None,
    owner: QObject | None = None,
    priority: int = 0,
) -> Task:
    """Start `fn(ctx)` on `pool` (the global pool by default); callbacks run on the calling thread.

    Callbacks stop (and the task is cancelled) when `owner` is destroyed.
    """
    task = Task(fn, owner)
    if on_result is not None:
        task.result.connect(on_result)
    if on_error is not None:
        task.error.connect(on_error)
    if on_progress is not None:
        task.progress.connect(lambda args: on_progress(*args))
    if on_finished is not None:
        task.finished.connect(on_finished)
    _RUNNING.add(task)
    (pool or QThreadPool.globalInstance()).start(task.execute, priority)
    return task
