"""The Ray driver of `batch --ray auto|ADDRESS` (docs/FARM.md).

Each worker is a Ray actor (app.batch.render.BatchActor) that loads one engine when it starts and
renders many jobs: `num_gpus=1` on a cluster with GPUs, a share of the CPUs otherwise. Ray's
`ray.util.ActorPool` hands each idle worker the next job; every finished image comes back as file
bytes and is written to the output folder and the manifest at once (results stream in as they
finish). A worker process that dies is restarted by Ray (`max_restarts`) and the jobs it held are
run again (`max_task_retries`): that is Ray's fault tolerance, not a loop of ours. The driver writes
each key once, so a job Ray ran twice still gives one image and one manifest line.

Ray is the optional extra `farm` (`pip install .[farm]`); it is imported only inside the functions.

May import: ray (lazily), app.batch.*, app.cli (UsageError); no Qt, no torch.
"""

from __future__ import annotations

import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from ..cli import UsageError
from .jobs import BatchJob
from .output import BatchOutput
from .render import BatchActor, EngineSettings

INSTALL_HINT = "--ray needs Ray, which is not installed: pip install 'sigma-studio[farm]' (or: pip install .[farm])"


@dataclass(frozen=True)
class FarmOptions:
    """Where and how wide to run: the cluster address, workers, CPUs each, restarts/retries."""

    address: str
    workers: int | None = None
    cpus_per_worker: float | None = None
    retries: int = 3


def require_ray() -> Any:
    """The ray module, or UsageError (exit 2, one line) saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


def actor_options(resources: dict[str, float], options: FarmOptions) -> tuple[int, dict[str, Any]]:
    """How many workers and the ray.remote options of each, from the cluster's resources."""
    gpus = int(resources.get("GPU", 0))
    cpus = float(resources.get("CPU", 1))
    workers = options.workers or (gpus if gpus else 1)
    if gpus:
        per_cpu = options.cpus_per_worker if options.cpus_per_worker is not None else 1
        placement = {"num_gpus": 1, "num_cpus": per_cpu}
    else:
        per_cpu = options.cpus_per_worker if options.cpus_per_worker is not None else max(1.0, cpus // workers)
        placement = {"num_gpus": 0, "num_cpus": per_cpu}
    fault = {"max_restarts": options.retries, "max_task_retries": options.retries}
    return workers, {**placement, **fault}


def _reachable(address: str, timeout_s: float = 3.0) -> bool:
    """Whether HOST:PORT accepts a connection (ray.init retries an unreachable head for minutes)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return True  # "auto", a ray:// address: Ray's own checks answer
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


def connect(address: str) -> tuple[Any, float]:
    """Join the cluster (before the output folder is touched); (the ray module, seconds it took)."""
    ray = require_ray()
    started = time.perf_counter()
    hint = "start one with `ray start --head` or give its address"
    if not _reachable(address):
        raise UsageError(f"--ray {address}: no Ray cluster answers there; {hint}")
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise UsageError(f"--ray {address}: cannot connect to a Ray cluster "
                         f"({' '.join(str(error).split())}); {hint}") from None
    return ray, time.perf_counter() - started


def run_ray(ray: Any, todo: list[BatchJob], output: BatchOutput, settings: EngineSettings, bar: Any,
            summary: Any, options: FarmOptions) -> None:
    """Make the jobs on the cluster `connect` joined; each result is committed as it arrives."""
    from ray.util import ActorPool

    started = time.perf_counter()
    try:
        workers, remote_options = actor_options(ray.cluster_resources(), options)
        if remote_options["num_gpus"] == 0 and settings.device == "auto":
            settings = EngineSettings("cpu", settings.memory, settings.base)
        actor_class = ray.remote(BatchActor).options(**remote_options)
        actors = [actor_class.remote(settings, todo[0].model) for _ in range(min(workers, len(todo)))]
        ray.get([actor.ready.remote() for actor in actors])
        summary.workers_ready_s = summary.connect_s + time.perf_counter() - started
        summary.workers = len(actors)
        pool = ActorPool(actors)
        for job, data, info in pool.map_unordered(lambda actor, job: actor.render.remote(job), todo):
            if data is None:
                summary.failed.append(f"line {job.line} seed {job.seed}: {info['error']}")
                print(f"error: {summary.failed[-1]}", file=sys.stderr)
            elif output.commit(job, info, data):
                summary.made += 1
                bar.update(1)
    except ray.exceptions.RayError as error:
        summary.failed.append(f"the cluster failed: {' '.join(str(error).split())[:500]}")
        print(f"error: {summary.failed[-1]}", file=sys.stderr)
