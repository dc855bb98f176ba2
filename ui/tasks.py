"""Run a function off the UI thread in a QThreadPool and report progress, result and errors as signals."""

from __future__ import annotations

import ctypes
import sys
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, SignalInstance, Slot

# ---------------------------------------------------------------------------------------------
# PySide6 6.12.0 returns the result of SignalInstance.emit() (True) without a new reference, so on
# Python < 3.12 (where True is not immortal) every emit from Python drops one reference to True
# and the process aborts with "bool_dealloc: deallocating True" after a few hundred emits. Probe
# once at import and, when affected, give the reference back after every emit.
# ---------------------------------------------------------------------------------------------

_PROBE_EMITS = 8


class _EmitProbe(QObject):
    """A throwaway signal source used to detect the emit reference leak."""

    ping = Signal()


def _emit_leaks_reference() -> bool:
    """True when SignalInstance.emit() drops a reference to its return value."""
    probe = _EmitProbe()
    before = sys.getrefcount(True)
    for _ in range(_PROBE_EMITS):
        probe.ping.emit()
    return before - sys.getrefcount(True) >= _PROBE_EMITS // 2


def install_emit_refcount_fix() -> bool:
    """Patch SignalInstance.emit once when this PySide6 leaks; returns whether the patch is active."""
    if getattr(SignalInstance, "_sigma_refcount_fix", False):
        return True
    if not _emit_leaks_reference():
        return False
    original = SignalInstance.emit
    incref = ctypes.pythonapi.Py_IncRef
    incref.argtypes = [ctypes.py_object]
    incref.restype = None

    def emit(self: SignalInstance, *args: Any) -> Any:
        result = original(self, *args)
        incref(result)
        return result

    SignalInstance.emit = emit
    SignalInstance._sigma_refcount_fix = True
    return True


EMIT_REFCOUNT_FIX = install_emit_refcount_fix()


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
    """A handle for one background call; its public signals are delivered on the thread that made it."""

    progress = Signal(tuple)
    result = Signal(object)
    error = Signal(object)
    finished = Signal()

    # Emitted from the worker thread; relayed by the slots below, which run on this object's thread.
    _progress = Signal(tuple)
    _result = Signal(object)
    _error = Signal(object)
    _finished = Signal()

    def __init__(self, fn: Callable[[TaskContext], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self._cancel = threading.Event()
        self.done = False
        self.traceback = ""
        self._runnable: QRunnable | None = None
        self._progress.connect(self._relay_progress)
        self._result.connect(self._relay_result)
        self._error.connect(self._relay_error)
        self._finished.connect(self._relay_finished)

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

    @Slot(tuple)
    def _relay_progress(self, args: tuple) -> None:
        self.progress.emit(args)

    @Slot(object)
    def _relay_result(self, value: object) -> None:
        self.result.emit(value)

    @Slot(object)
    def _relay_error(self, exc: object) -> None:
        self.error.emit(exc)

    @Slot()
    def _relay_finished(self) -> None:
        self.done = True
        self._runnable = None
        _RUNNING.discard(self)
        self.finished.emit()


class _Runnable(QRunnable):
    """The QRunnable that calls `Task.execute` on a pool thread."""

    def __init__(self, task: Task) -> None:
        super().__init__()
        # Python owns the runnable (kept by the task until it finishes): with the pool deleting it,
        # PySide leaks the wrapper of every other finished runnable.
        self.setAutoDelete(False)
        self._task = task

    def run(self) -> None:
        self._task.execute()


# Tasks without a parent stay alive here until their `finished` is delivered.
_RUNNING: set[Task] = set()


def run_task(
    fn: Callable[[TaskContext], Any],
    *,
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_progress: Callable[..., None] | None = None,
    on_finished: Callable[[], None] | None = None,
    pool: QThreadPool | None = None,
    parent: QObject | None = None,
    priority: int = 0,
) -> Task:
    """Start `fn(ctx)` on `pool` (the global pool by default); callbacks run on the calling thread."""
    task = Task(fn, parent)
    if on_result is not None:
        task.result.connect(on_result)
    if on_error is not None:
        task.error.connect(on_error)
    if on_progress is not None:
        task.progress.connect(lambda args: on_progress(*args))
    if on_finished is not None:
        task.finished.connect(on_finished)
    _RUNNING.add(task)
    task._runnable = _Runnable(task)
    (pool or QThreadPool.globalInstance()).start(task._runnable, priority)
    return task


def wait_for_tasks(pool: QThreadPool | None = None, msecs: int = -1) -> bool:
    """Block until the pool is idle (tests and shutdown); queued signals still need the event loop."""
    return (pool or QThreadPool.globalInstance()).waitForDone(msecs)
