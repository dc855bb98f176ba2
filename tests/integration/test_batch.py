"""`batch` with the tiny real model: the engine's own checks before anything runs, Ctrl+C and a re-run
that makes only the missing images, and a real local Ray cluster (`ray start --head --num-cpus 2`
on 127.0.0.1) where one worker process is killed mid-batch and every image still comes out once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from app.batch.output import MANIFEST, read_manifest
from app.cli import run_cli
from app.metadata import read_params

ROOT = Path(__file__).resolve().parents[2]


def write_jobs(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def batch_command(jobs: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "main", "batch", str(jobs), "--out", str(out), "--model", str(model), *extra]


def _sigint_as_in_a_terminal() -> None:
    """The child's Ctrl+C at its default, as in a terminal: a CI run started in the background (`cmd &`
    without job control) ignores SIGINT, and an ignored signal stays ignored across exec."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_lines(out: Path, count: int, process: subprocess.Popen, timeout_s: float = 240) -> list[dict]:
    """Poll the manifest until it has `count` lines (fails if the batch ends or times out first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        entries = read_manifest(out) if out.is_dir() else []
        if len(entries) >= count:
            return entries
        assert process.poll() is None, process.communicate()[1][-3000:]
        time.sleep(0.05)
    raise AssertionError(f"the manifest did not reach {count} lines in {timeout_s} s")


def test_batch_checks_every_line_with_the_engine_then_writes_exact_sizes(tiny_pipeline_dir, tmp_path, capsys):
    jobs = write_jobs(tmp_path / "jobs.jsonl", [
        {"prompt": "a teal poster", "size": "300x262", "steps": 2, "seed": 3, "count": 2},
        {"prompt": "too much guidance", "size": "256x256", "steps": 2, "guidance": 40},
    ])
    out = tmp_path / "out"
    argv = ["batch", str(jobs), "--out", str(out), "--model", str(tiny_pipeline_dir)]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert "jobs.jsonl line 2: " in err and "guidance" in err and "40" in err and not out.exists()
    assert run_cli([*argv, "--skip-invalid"]) == 0
    entries = read_manifest(out)
    assert [e["seed"] for e in entries] == [3, 4]
    for entry in entries:
        with Image.open(out / entry["file"]) as image:
            assert image.size == (300, 262)
        params = read_params(out / entry["file"])
        assert params["prompt"] == "a teal poster" and params["batch"]["key"] == entry["key"]
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST] + [e["file"] for e in entries])


def test_a_line_naming_a_missing_model_stops_the_batch_before_anything_is_made(tiny_pipeline_dir, tmp_path, capsys):
    jobs = write_jobs(tmp_path / "jobs.jsonl", [
        {"prompt": "a teal poster", "size": "256x256", "steps": 2, "seed": 1},
        {"prompt": "from a model that is not there", "size": "256x256", "steps": 2, "model": str(tmp_path / "gone")},
        {"prompt": "not a model name at all", "size": "256x256", "steps": 2, "model": "no such model!"},
    ])
    out = tmp_path / "out"
    argv = ["batch", str(jobs), "--out", str(out), "--model", str(tiny_pipeline_dir)]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert "jobs.jsonl line 2: " in err and "no such file or folder" in err
    assert "jobs.jsonl line 3: " in err and "is not a model" in err
    assert not out.exists()
    assert run_cli([*argv, "--skip-invalid"]) == 0
    assert [e["seed"] for e in read_manifest(out)] == [1]


def test_ctrl_c_then_the_same_command_makes_only_the_missing_images(tiny_pipeline_dir, tmp_path):
    n = 24  # enough work that Ctrl+C lands mid-batch on a fast idle machine too
    jobs = write_jobs(tmp_path / "jobs.jsonl", [{"prompt": "dunes", "size": "512x512", "steps": 8, "count": n}])
    out = tmp_path / "out"
    process = subprocess.Popen(batch_command(jobs, out, tiny_pipeline_dir), cwd=ROOT, env=dict(os.environ),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_sigint_as_in_a_terminal)
    wait_for_lines(out, 2, process)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 1, err[-2000:]
    assert "run the same command again" in err
    first = {e["file"]: (out / e["file"]).stat().st_mtime_ns for e in read_manifest(out)}
    assert 2 <= len(first) < n
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST, *first])  # no temp file left

    again = subprocess.run(batch_command(jobs, out, tiny_pipeline_dir), cwd=ROOT, env=dict(os.environ),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{len(first)} already in" in again.stderr and f"made {n - len(first)}," in again.stderr
    entries = read_manifest(out)
    assert len(entries) == n and len({e["key"] for e in entries}) == n
    assert {f: (out / f).stat().st_mtime_ns for f in first} == first  # the finished ones were not made again
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST] + [e["file"] for e in entries])


# ------------------------------------------------------------------ a real Ray cluster


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """`ray start --head --num-cpus 2` on 127.0.0.1 (a real cluster, not local_mode); stopped afterwards."""
    pytest.importorskip("ray")
    ray_cli = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    port = _free_port()
    start = [ray_cli, "start", "--head", "--num-cpus", "2", "--node-ip-address", "127.0.0.1", "--port", str(port),
             "--include-dashboard=false", "--disable-usage-stats"]
    try:
        subprocess.run(start, check=True, capture_output=True, text=True, timeout=180, cwd=ROOT)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120)


@pytest.mark.slow
def test_ray_batch_survives_a_killed_worker_with_every_image_once(tiny_pipeline_dir, tmp_path, ray_cluster):
    jobs = write_jobs(tmp_path / "jobs.jsonl", [
        {"prompt": f"wallpaper {k}", "size": "256x256", "steps": 10, "count": 6} for k in range(4)])
    out = tmp_path / "out"
    command = batch_command(jobs, out, tiny_pipeline_dir, "--ray", ray_cluster, "--workers", "2",
                            "--cpus-per-worker", "1", "--timing-json")
    process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        victim = int(wait_for_lines(out, 4, process)[0]["worker"].rsplit(":", 1)[1])
        os.kill(victim, signal.SIGKILL)  # one worker process dies in the middle of the batch
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["made"] == 24 and summary["failed"] == 0 and summary["workers"] == 2
    entries = read_manifest(out)
    assert len(entries) == 24 and len({e["key"] for e in entries}) == 24 and len({e["file"] for e in entries}) == 24
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST] + [e["file"] for e in entries])
    workers = {e["worker"] for e in entries}
    assert len(workers) >= 3  # the two first workers and the one Ray restarted in place of the killed one
    assert any(e["worker"].endswith(f":{victim}") for e in entries)
    for entry in entries:
        assert read_params(out / entry["file"])["batch"]["key"] == entry["key"]
