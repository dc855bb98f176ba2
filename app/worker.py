"""The engine's thread: a Worker QObject owning the Engine, and the JobRunner that feeds it jobs.

torch, diffusers and the engine are imported inside the worker thread on first use, so the window
shows before any of them load. The UI talks to the worker only through queued signals, except for
`Worker.cancel`, which sets a thread-safe flag the engine reads between steps. Each signal the
JobRunner sends to the worker is named after the Worker slot it is connected to
(`run_job_on_worker` -> `Worker.run_job`), so the path of a request can be followed with grep
(docs/DESIGN.md, "The path of one request").

The engine comes from `engine_factory` (default: app.model_service.make_engine); tests pass a fake
engine with the same interface (`load`, `generate`, `count_tokens`) so that app/ and ui/ run
without torch.

May import: QtCore/QtGui (no widgets), app.jobs, app.sizes, app.metadata, app.model_service.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from .jobs import Job, JobQueue
from .model_service import Cancelled, EngineError, GenerationRequest, make_engine

log = logging.getLogger(__name__)

STOP_WAIT_MS = 15000  # how long closing the app waits for the step in progress to end
LOAD_STOP_WAIT_MS = 2000  # a model load (imports, downloads) cannot stop mid-way: wait only briefly


def pil_to_qimage(image: Any) -> QImage:
    """A QImage of a PIL image in the screen's native format (safe to create off the UI thread).

    Converting here, on the worker thread, makes QPixmap.fromImage on the UI thread a plain copy
    (about 7 ms instead of 27 ms for a 4K image).
    """
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    has_alpha = image.mode == "RGBA"
    fmt = QImage.Format.Format_RGBA8888 if has_alpha else QImage.Format.Format_RGB888
    data = image.tobytes()
    view = QImage(data, image.width, image.height, image.width * (4 if has_alpha else 3), fmt)
    native = QImage.Format.Format_ARGB32_Premultiplied if has_alpha else QImage.Format.Format_RGB32
    return view.convertToFormat(native)  # a deep copy: `data` is freed when this function returns


@dataclass
class Output:
    """One finished image: where it was stored and a QImage to show at once."""

    image: QImage
    path: Path | None
    seed: int
    record: Any = None  # app.gallery.Record when a gallery stored it


class Worker(QObject):
    """Owns the Engine on its own thread: loads models, runs jobs, stores results in the gallery."""

    model_loading = Signal(str)
    model_loaded = Signal(dict)
    model_failed = Signal(str)
    job_started = Signal(str)
    # job_id, image_index, step, total, eta_s, preview QImage (None while decoding), phase "denoise"|"decode",
    # stage ("" direct, "composing 1/2" / "refining 2/2" on the high-resolution path; steps and ETA span all stages)
    step = Signal(str, int, int, int, float, object, str, str)
    job_done = Signal(str, list, list, list)  # job_id, [Output], seeds, notes
    job_failed = Signal(str, str)
    job_cancelled = Signal(str)
    tokens_counted = Signal(str, int)

    def __init__(
        self,
        gallery: Any = None,
        engine_factory: Callable[..., Any] = make_engine,
        device: str = "auto",
        memory_mode: str = "auto",
        cache_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.gallery = gallery
        self._engine_factory = engine_factory
        self._engine_options = {"device": device, "memory_mode": memory_mode, "cache_dir": cache_dir}
        self.engine: Any = None
        self.info: dict | None = None
        self._lock = threading.Lock()
        self._cancelled: set[str] = set()
        self._stopping = threading.Event()
        self._current: str | None = None

    # ------------------------------------------------------------ any thread

    def cancel(self, job_id: str | None = None) -> None:
        """Stop a job (None: whatever runs) at the next step; safe to call from any thread."""
        with self._lock:
            target = job_id or self._current
            if target:
                self._cancelled.add(target)

    def request_stop(self) -> None:
        """Make the running job and any model load stop as soon as they can."""
        self._stopping.set()
        self.cancel()

    def _should_cancel(self, job_id: str) -> bool:
        """The engine's cancel check for one job."""
        if self._stopping.is_set():
            return True
        with self._lock:
            return job_id in self._cancelled

    # ------------------------------------------------------------ worker thread

    @Slot(object, object, object)
    def configure(self, device: str | None = None, memory_mode: str | None = None, cache_dir: Any = None) -> None:
        """Use another device or memory mode from the next model load on."""
        options = dict(self._engine_options)
        if device:
            options["device"] = device
        if memory_mode:
            options["memory_mode"] = memory_mode
        if cache_dir:
            options["cache_dir"] = cache_dir
        if options != self._engine_options:
            self._engine_options = options
            self.engine = None

    @Slot(object, object)
    def load_model(self, source: str | None = None, base: str | None = None) -> None:
        """Load a model (None: the configured default, else the demo) and report how it went."""
        if self._stopping.is_set():
            return
        label = source or "the demo model"
        self.model_loading.emit(f"Loading {label}…")
        try:
            if self.engine is None:
                # made here, on the worker thread: the real engine imports torch now
                self.engine = self._engine_factory(**self._engine_options)
            # closing the app stops a load: _load_progress raises Cancelled once stopping is set
            info = self.engine.load(source, base, on_progress=self._load_progress)
        except Exception as exc:  # noqa: BLE001 - every failure reaches the user, never a dead thread
            self.info = None
            if self._stopping.is_set():
                return
            self.model_failed.emit(_load_error_message(exc, source))
            return
        self.info = _as_dict(info)
        self.model_loaded.emit(self.info)

    def _load_progress(self, *args: Any) -> None:
        """Relay the engine's load progress as text; stop a load when the app closes."""
        if self._stopping.is_set():
            raise Cancelled("closing")
        text = next((str(a) for a in args if isinstance(a, str)), "")
        numbers = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        if len(numbers) >= 2 and numbers[1]:
            text = f"{text} {100 * numbers[0] / numbers[1]:.0f}%".strip()
        elif len(numbers) == 1 and 0 <= numbers[0] <= 1:
            text = f"{text} {100 * numbers[0]:.0f}%".strip()
        if text:
            self.model_loading.emit(text)

    @Slot(str)
    def count_tokens(self, text: str) -> None:
        """Count prompt tokens with the loaded model's tokenizer; -1 when it cannot (no model)."""
        count = -1
        if self.engine is not None and self.info is not None:
            try:
                count = int(self.engine.count_tokens(text))
            except Exception:
                log.debug("token count failed", exc_info=True)
        self.tokens_counted.emit(text, count)

    @Slot(object)
    def run_job(self, job: Job) -> None:
        """Generate a job's images, fit them to the target size and store them in the gallery.

        Reached from JobRunner._dispatch through the queued signal `run_job_on_worker`.
        """
        with self._lock:
            self._current = job.id
        try:
            self._run_job(job)
        finally:
            with self._lock:
                self._current = None
                self._cancelled.discard(job.id)

    def _run_job(self, job: Job) -> None:
        """run_job's body: every outcome ends in exactly one of job_done / job_failed / job_cancelled."""
        if self._should_cancel(job.id):
            self.job_cancelled.emit(job.id)
            return
        if self.engine is None or self.info is None:
            self.job_failed.emit(job.id, "No model is loaded. Open Models ▸ Model manager… to choose one.")
            return
        self.job_started.emit(job.id)
        try:
            result = self._generate(job)  # -> engine.generate
            outputs = self._store(job, result)  # -> gallery.add
        except Cancelled:
            self.job_cancelled.emit(job.id)
            return
        except EngineError as exc:
            self.job_failed.emit(job.id, str(exc))
            return
        except MemoryError:
            self.job_failed.emit(job.id, "Out of memory: choose a smaller size, or set memory mode to 'sequential'.")
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user; details go to the log
            log.error("generation failed:\n%s", traceback.format_exc())
            self.job_failed.emit(job.id, f"Generation failed unexpectedly: {exc}")
            return
        seeds = [output.seed for output in outputs]
        self.job_done.emit(job.id, outputs, seeds, list(result.notes))

    def _generate(self, job: Job) -> Any:
        """Call the engine with the size the model makes for the job's target."""
        made = tuple(job.plan.made) if job.plan is not None else None
        request = GenerationRequest(**job.request.engine_kwargs(made))
        last_emit = [0.0]
        last_stage = [""]

        def on_step(info: Any) -> None:
            now = time.perf_counter()
            stage = str(getattr(info, "stage", ""))
            last = info.step == info.total and info.phase == "denoise"
            if not last and stage == last_stage[0] and now - last_emit[0] < 0.05:
                return  # at most ~20 updates a second (and each new stage): the UI never queues up
            last_emit[0], last_stage[0] = now, stage
            preview = pil_to_qimage(info.preview) if info.preview is not None else None
            self.step.emit(job.id, int(info.image_index), int(info.step), int(info.total), float(info.eta_s),
                           preview, str(info.phase), str(getattr(info, "stage", "")))

        return self.engine.generate(request, on_step=on_step, should_cancel=lambda: self._should_cancel(job.id))

    def _store(self, job: Job, result: Any) -> list[Output]:
        """Fit each image to the exact target, save it (gallery) and make the QImage to show."""
        from .sizes import fit_to_target

        outputs = []
        plan = job.plan
        for generated in result.images:
            image = generated.image
            if plan is not None and image.size != tuple(plan.target):
                image = fit_to_target(image, plan)
            params = _image_params(job, generated, image.size, result.notes)
            record = self.gallery.add(image, params) if self.gallery is not None else None
            path = Path(record.path) if record is not None else None
            outputs.append(Output(pil_to_qimage(image), path, int(generated.seed), record))
        return outputs


def _image_params(job: Job, generated: Any, size: tuple[int, int], notes: list[str]) -> dict:
    """Contract-2 parameters of one saved image: the engine's, at the final size, plus ours."""
    from .metadata import build_params

    engine = dict(generated.params)
    base = {key: engine.pop(key, None) for key in ("prompt", "negative", "steps", "guidance", "model", "kv_compress")}
    for key in ("width", "height", "seed"):
        engine.pop(key, None)
    extra: dict[str, Any] = {**engine}
    plan = job.plan
    if plan is not None:
        extra["made_width"], extra["made_height"] = plan.made
        if plan.dpi:
            extra["dpi"] = plan.dpi
    for key in ("style", "preset"):
        value = getattr(job.request, key, None)
        if value:
            extra[key] = value
    if notes:
        extra["notes"] = list(notes)
    return build_params(width=size[0], height=size[1], seed=int(generated.seed), **base, **extra)


def _as_dict(info: Any) -> dict:
    """ModelInfo (dataclass or plain object) as a dict."""
    if dataclasses.is_dataclass(info):
        return dataclasses.asdict(info)
    return dict(vars(info)) if hasattr(info, "__dict__") else {"name": str(info)}


def _load_error_message(exc: Exception, source: str | None) -> str:
    """A message for a failed load that says which model and what to do."""
    name = source or "the demo model"
    if isinstance(exc, EngineError):
        return f"Could not load {name}: {exc}"
    log.error("model load failed:\n%s", traceback.format_exc())
    return (
        f"Could not load {name}: {exc}. Check the path or hub id in Models ▸ Model manager…, "
        "or pick the demo model."
    )


class JobRunner(QObject):
    """Feeds queued jobs to the Worker one at a time and relays its reports (lives on the UI thread)."""

    model_loading = Signal(str)
    model_loaded = Signal(dict)
    model_failed = Signal(str)
    preview_ready = Signal(str, int, int, int, float, object, str, str)  # as Worker.step
    job_outputs = Signal(str, list)  # job_id, [Output]
    tokens_counted = Signal(str, int)

    # Queued to the engine thread; each is connected to the Worker slot it names.
    load_model_on_worker = Signal(object, object)  # -> Worker.load_model
    run_job_on_worker = Signal(object)  # -> Worker.run_job
    count_tokens_on_worker = Signal(str)  # -> Worker.count_tokens
    configure_worker = Signal(object, object, object)  # -> Worker.configure

    def __init__(self, gallery: Any = None, queue: JobQueue | None = None, parent: QObject | None = None,
                 engine_factory: Callable[..., Any] = make_engine, device: str = "auto",
                 memory_mode: str = "auto", cache_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.queue = queue or JobQueue(self)
        self.worker = Worker(gallery, engine_factory, device, memory_mode, cache_dir)
        self.thread = QThread()
        self.thread.setObjectName("sigma-engine")
        self.worker.moveToThread(self.thread)
        self.model_info: dict | None = None
        self.loading = False
        self._dispatched: str | None = None
        self._stopped = False
        self._count_wanted: str | None = None
        self._count_in_flight = False

        self.load_model_on_worker.connect(self.worker.load_model)
        self.run_job_on_worker.connect(self.worker.run_job)
        self.count_tokens_on_worker.connect(self.worker.count_tokens)
        self.configure_worker.connect(self.worker.configure)
        self.worker.model_loading.connect(self.model_loading)
        self.worker.model_loaded.connect(self._on_model_loaded)
        self.worker.model_failed.connect(self._on_model_failed)
        self.worker.tokens_counted.connect(self._on_tokens_counted)
        self.worker.job_started.connect(self._on_job_started)
        self.worker.step.connect(self._on_step)
        self.worker.job_done.connect(self._on_job_done)
        self.worker.job_failed.connect(self._on_job_failed)
        self.worker.job_cancelled.connect(self._on_job_cancelled)
        # direct: the worker thread is busy generating, the flag must be set from this thread
        self.queue.cancel_requested.connect(self.worker.cancel, Qt.ConnectionType.DirectConnection)

    # ------------------------------------------------------------ control

    def start(self) -> None:
        """Start the engine thread (does not load anything yet)."""
        if not self.thread.isRunning():
            self.thread.start()

    def load_model(self, source: str | None = None, base: str | None = None) -> None:
        """Load a model on the worker thread; queued jobs run once it is loaded."""
        self.start()
        self.loading = True
        self.load_model_on_worker.emit(source, base)

    def configure(self, device: str | None = None, memory_mode: str | None = None) -> None:
        """Use another device or memory mode from the next load on."""
        self.configure_worker.emit(device, memory_mode, None)

    def count_tokens(self, text: str) -> None:
        """Ask for an exact token count; the answer comes as tokens_counted(text, n).

        One request at a time: while the worker is busy generating, only the latest text waits.
        """
        if self.model_info is None or not self.thread.isRunning():
            return
        self._count_wanted = text
        if not self._count_in_flight:
            self._count_in_flight = True
            self.count_tokens_on_worker.emit(text)

    def _on_tokens_counted(self, text: str, count: int) -> None:
        self._count_in_flight = False
        if count >= 0:
            self.tokens_counted.emit(text, count)
        if self._count_wanted is not None and self._count_wanted != text:
            self.count_tokens(self._count_wanted)

    def submit(self, request: Any, plan: Any = None) -> Job:
        """Queue a generation, send it to the worker when it is idle, and return its job."""
        job = self.queue.add(request, plan)
        self._dispatch()
        return job

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job."""
        return self.queue.cancel(job_id)

    def cancel_running(self) -> bool:
        """Cancel the job being generated now."""
        return self.queue.cancel_running()

    @property
    def busy(self) -> bool:
        """True while a job is with the worker."""
        return self._dispatched is not None

    def stop(self, timeout_ms: int | None = None) -> bool:
        """Cancel everything, end the thread and wait for it; False if it did not end in time."""
        if self._stopped:
            return not self.thread.isRunning()
        self._stopped = True
        if timeout_ms is None:
            timeout_ms = LOAD_STOP_WAIT_MS if self.loading and self._dispatched is None else STOP_WAIT_MS
        for job in self.queue.pending():
            self.queue.cancel(job.id)
        self.worker.request_stop()
        self.thread.quit()
        finished = self.thread.wait(timeout_ms) if self.thread.isRunning() else True
        if not finished:
            log.warning("the engine thread did not stop within %d ms", timeout_ms)
            _KEEP_ALIVE.append(self.thread)  # never destroy a running QThread
        return finished

    # ------------------------------------------------------------ dispatch

    def _dispatch(self) -> None:
        """Send the next queued job to the worker when it is idle and a model is loaded."""
        if self._stopped or self._dispatched is not None or self.model_info is None or self.loading:
            return
        job = self.queue.next_job()
        if job is None:
            return
        self._dispatched = job.id
        self.queue.notify_started(job.id)
        self.run_job_on_worker.emit(job)  # -> Worker.run_job on the engine thread

    def _settle(self, job_id: str) -> None:
        """A job came back from the worker: free the slot and send the next one."""
        if self._dispatched == job_id:
            self._dispatched = None
        self._dispatch()

    # ------------------------------------------------------------ worker reports

    def _on_model_loaded(self, info: dict) -> None:
        self.model_info = info
        self.loading = False
        self.model_loaded.emit(info)
        self._dispatch()

    def _on_model_failed(self, message: str) -> None:
        self.model_info = None
        self.loading = False
        self.model_failed.emit(message)

    def _on_job_started(self, job_id: str) -> None:
        self.queue.notify_started(job_id)

    def _on_step(self, job_id: str, index: int, step: int, total: int, eta: float, preview: object,
                 phase: str, stage: str = "") -> None:
        if phase == "denoise":
            self.queue.notify_progress(job_id, index, step, total, eta)
        self.preview_ready.emit(job_id, index, step, total, eta, preview, phase, stage)

    def _on_job_done(self, job_id: str, outputs: list, seeds: list, notes: list) -> None:
        ids = [out.record.id for out in outputs if out.record is not None]
        self.job_outputs.emit(job_id, outputs)
        self.queue.notify_done(job_id, ids, seeds, notes)
        self._settle(job_id)

    def _on_job_failed(self, job_id: str, message: str) -> None:
        self.queue.notify_failed(job_id, message)
        self._settle(job_id)

    def _on_job_cancelled(self, job_id: str) -> None:
        self.queue.notify_cancelled(job_id)
        self._settle(job_id)


_KEEP_ALIVE: list[QThread] = []
