"""The `batch` subcommand (docs/DESIGN.md Contract 1, docs/FARM.md): check every job, then make the
missing images locally or on a Ray cluster, with a tqdm bar and a manifest.

Exit codes as `generate`: 0 every image is there; 2 bad arguments or a bad jobs line (nothing is
made; the message names the line; --skip-invalid runs the good lines); 1 an image failed, or the
batch was interrupted (what finished stays; the same command makes the rest).

May import: app/ modules (model/ only through app.model_service), app.batch.*; ray only through
app.batch.farm; no Qt.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cli import UsageError
from .jobs import BatchJob, JobsError, parse_seed_range, read_jobs
from .output import BatchOutput, OutputError
from .render import EngineSettings, Renderer

MAX_ERRORS_SHOWN = 20


@dataclass
class Summary:
    """What one batch run did, and how long its phases took (printed; --timing-json prints it as JSON)."""

    mode: str
    jobs: int
    skipped: int = 0
    made: int = 0
    failed: list[str] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    connect_s: float = 0.0  # Ray: connecting to the cluster
    workers_ready_s: float = 0.0  # from the start until every worker has its engine loaded
    workers: int = 1

    @property
    def images_per_minute(self) -> float:
        return 60.0 * self.made / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "jobs": self.jobs, "skipped": self.skipped, "made": self.made,
                "failed": len(self.failed), "interrupted": self.interrupted, "workers": self.workers,
                "seconds": round(self.seconds, 3), "connect_s": round(self.connect_s, 3),
                "workers_ready_s": round(self.workers_ready_s, 3),
                "images_per_minute": round(self.images_per_minute, 2)}


def _check_options(args: Any) -> None:
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be 1 or more")
    if args.retries < 0:
        raise UsageError("--retries must be 0 or more")
    if args.ray is not None:
        from .farm import require_ray

        require_ray()  # before reading anything: without Ray, say how to install it
    if args.ray == "":
        raise UsageError("--ray needs auto or the cluster's HOST:PORT")


def load_jobs(args: Any, engine_check: bool = True) -> list[BatchJob]:
    """Every job of the file, checked (torch-free checks, then the engine's own unless engine_check is
    False: unit tests on the fake engine); UsageError for bad lines, naming them."""
    from ..cli import _configured_model

    try:
        seeds = parse_seed_range(args.seeds) if args.seeds else None
        found = read_jobs(args.jobs, {"model": args.model or _configured_model(), "kv_compress": args.kv_compress},
                          seeds)
    except JobsError as error:
        raise UsageError(str(error)) from None
    name = Path(args.jobs).expanduser().name
    engine_errors = _engine_check(found.jobs) if engine_check else {}
    jobs = [job for job in found.jobs if job.line not in engine_errors]
    errors = found.errors + [f"{name} line {line}: {message}" for line, message in engine_errors.items()]
    if errors:
        for error in errors[:MAX_ERRORS_SHOWN]:
            print(f"error: {error}", file=sys.stderr)
        if len(errors) > MAX_ERRORS_SHOWN:
            print(f"error: … and {len(errors) - MAX_ERRORS_SHOWN} more", file=sys.stderr)
        if not args.skip_invalid:
            raise UsageError(f"{len(errors)} bad line(s) in {args.jobs}; nothing was made "
                             "(fix them, or pass --skip-invalid to run the others)")
        print(f"skipping {len(errors)} bad line(s)", file=sys.stderr)
    if found.repeats:
        print(f"{found.repeats} image(s) asked for twice with the same settings: made once", file=sys.stderr)
    return jobs


def _engine_check(jobs: list[BatchJob]) -> dict[int, str]:
    """The engine's own request checks (limits that only it knows, and that each named model exists),
    one message per bad line."""
    from app.model_service import (
        BadRequest,
        GenerationRequest,
        SourceError,
        check_model_source,
        validate_request,
    )
    from app.sizes import resolve_size

    errors: dict[int, str] = {}
    models: dict[str, str | None] = {}  # each model checked once: its error, or None
    for job in jobs:
        if job.line in errors:
            continue
        made = resolve_size(job.size).made
        try:
            validate_request(GenerationRequest(prompt=job.prompt, negative=job.negative, width=made[0],
                                               height=made[1], steps=job.steps, guidance=job.guidance or 0.0,
                                               seed=job.seed, kv_compress=job.kv_compress))
            if job.model and job.model not in models:
                try:
                    check_model_source(job.model)
                    models[job.model] = None
                except SourceError as error:
                    models[job.model] = str(error)
            if job.model and models[job.model]:
                raise BadRequest(models[job.model])
        except BadRequest as error:
            errors[job.line] = str(error)
    return errors


def run_local(todo: list[BatchJob], output: BatchOutput, settings: EngineSettings, bar: Any,
              summary: Summary, engine_factory: Any = None) -> None:
    """Make the jobs one by one with one engine, each straight to its file, then its manifest line."""
    from app.model_service import BadRequest, EngineError, SourceError

    started = time.perf_counter()
    renderer = Renderer(settings, engine_factory)
    try:
        renderer.load(todo[0].model)
    except (EngineError, SourceError) as error:
        summary.failed.extend(f"line {job.line} seed {job.seed}" for job in todo)
        print(f"error: cannot load the model {todo[0].model}: {' '.join(str(error).split())}", file=sys.stderr)
        return
    summary.workers_ready_s = time.perf_counter() - started
    for job in todo:
        try:
            info = renderer.render(job, output.path_for(job))
        except (EngineError, SourceError, BadRequest) as error:
            summary.failed.append(f"line {job.line} seed {job.seed}: {' '.join(str(error).split())}")
            print(f"error: {summary.failed[-1]}", file=sys.stderr)
            continue
        output.commit(job, info)
        summary.made += 1
        bar.update(1)


def cmd_batch(args: Any, engine_factory: Any = None) -> int:
    """`batch`: check options and every job, then make what is missing (locally or on Ray)."""
    _check_options(args)
    jobs = load_jobs(args, engine_check=engine_factory is None)
    summary = Summary(mode="ray" if args.ray else "local", jobs=len(jobs))
    ray = None
    if args.ray:
        from .farm import connect

        ray, summary.connect_s = connect(args.ray)
    try:
        return _run(args, jobs, summary, ray, engine_factory)
    finally:
        if ray is not None:
            ray.shutdown()


def _run(args: Any, jobs: list[BatchJob], summary: Summary, ray: Any, engine_factory: Any) -> int:
    """Open the output folder, skip what is done, make the rest, report."""
    from tqdm import tqdm

    try:
        output = BatchOutput(args.out)
    except OutputError as error:
        raise UsageError(str(error)) from None
    settings = EngineSettings(args.device, args.memory, args.base)
    started = time.perf_counter()
    with output:
        output.recover(jobs)
        todo = sorted((job for job in jobs if not output.is_done(job)), key=lambda job: str(job.model))
        summary.skipped = len(jobs) - len(todo)
        print(f"{len(jobs)} image(s): {summary.skipped} already in {args.out}, {len(todo)} to make", file=sys.stderr)
        bar = tqdm(total=len(jobs), initial=summary.skipped, unit="image", file=sys.stderr, dynamic_ncols=True)
        try:
            if not todo:
                pass
            elif ray is not None:
                from .farm import FarmOptions, run_ray

                run_ray(ray, todo, output, settings, bar, summary,
                        FarmOptions(args.ray, args.workers, args.cpus_per_worker, args.retries))
            else:
                run_local(todo, output, settings, bar, summary, engine_factory)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            bar.close()
            summary.seconds = summary.connect_s + time.perf_counter() - started
    return _report(args, summary, len(jobs) - summary.skipped - summary.made)


def _report(args: Any, summary: Summary, missing: int) -> int:
    print(f"made {summary.made}, skipped {summary.skipped}, failed {len(summary.failed)} in "
          f"{summary.seconds:.1f} s ({summary.images_per_minute:.1f} images/min)", file=sys.stderr)
    if args.timing_json:
        print(json.dumps(summary.as_dict()))
    if summary.interrupted:
        print(f"interrupted: {missing} image(s) not made yet; run the same command again to make them",
              file=sys.stderr)
        return 1
    if summary.failed:
        print(f"{len(summary.failed)} image(s) failed; run the same command again to retry them", file=sys.stderr)
        return 1
    return 0
