"""The command line's output: checked before generating, one line on failure, never overwritten.

The engine is the fake one (tests/fake_engine.py); the faults are a folder we cannot write and a disk
that fills while writing."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from app import atomic
from app.cli import run_cli
from tests.fake_engine import FakeEngine


@pytest.fixture
def engines(monkeypatch):
    made: list[FakeEngine] = []

    def make_engine(device="auto", memory_mode="auto", cache_dir=None, **_kwargs):
        made.append(FakeEngine(device, memory_mode, cache_dir, step_s=0.0))
        return made[-1]

    monkeypatch.setattr("app.model_service.make_engine", make_engine)
    return made


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and "step/s" not in line and "%|" not in line]


def _unwritable_folder() -> Path:
    """A folder this process cannot create files in (read-only file system), else skip."""
    for folder in (Path("/sys"), Path("/proc/self")):
        try:
            (folder / "sigma-probe").touch()
        except OSError:
            return folder
        (folder / "sigma-probe").unlink()
    pytest.skip("no read-only folder to write to")


@pytest.mark.parametrize("out", ["sigma.png", ""])
def test_a_read_only_out_folder_exits_2_before_generating(engines, capsys, out):
    folder = _unwritable_folder()
    code = run_cli(["generate", "a fox", "--size", "256x256", "--seed", "3", "--out", str(folder / out)])
    err = capsys.readouterr().err
    assert code == 2 and not engines, "the engine must not be made when the output cannot be written"
    assert len(_lines(err)) == 1 and "Traceback" not in err and "cannot write" in err


def test_a_full_disk_while_writing_exits_1_with_one_line_and_no_file(engines, tmp_path, capsys, monkeypatch):
    def full(_path):  # the fault: the disk fills as the image is flushed
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_fsync", full)
    code = run_cli(["generate", "a fox", "--size", "256x256", "--seed", "3", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    errors = [line for line in _lines(err) if line.startswith("error:")]
    assert len(errors) == 1 and "No space left" in errors[0]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_the_same_seed_twice_never_overwrites(engines, tmp_path, capsys):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    argv = ["generate", "a fox", "--size", "256x256", "--seed", "5", "--out", str(tmp_path)]
    assert run_cli(argv) == 0
    first = tmp_path / "sigma_5.png"
    before = first.read_bytes()
    assert run_cli(["generate", "a cat", *argv[2:]]) == 0
    out = capsys.readouterr().out
    assert first.read_bytes() == before
    second = Path(out.strip().splitlines()[-1].split(": ", 1)[1])
    assert second != first and second.is_file() and second.parent == tmp_path
    assert run_cli([*argv, "--force"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])


def test_an_existing_out_file_is_kept(engines, tmp_path, capsys):
    target = tmp_path / "poster.png"
    target.write_bytes(b"mine")
    assert run_cli(["generate", "a fox", "--size", "256x256", "--out", str(target)]) == 0
    assert target.read_bytes() == b"mine"
    printed = Path(capsys.readouterr().out.strip().split(": ", 1)[1])
    assert printed.is_file() and printed != target and printed.suffix == ".png"
