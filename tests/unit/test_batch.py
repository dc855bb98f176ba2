"""`batch` (app/batch): jobs files checked line by line, output names from settings, the manifest,
resume after an interrupt, the output folder's lock and clean-up, `--ray` without Ray, and the
gallery import of a batch folder. The engine is tests/fake_engine.py (the tiny real model and a
real Ray cluster: tests/integration/test_batch.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from app.batch.command import cmd_batch
from app.batch.importer import NotABatchFolder, import_batch_folder
from app.batch.jobs import JobsError, parse_seed_range, read_jobs
from app.batch.output import MANIFEST, BatchOutput, OutputError, read_manifest
from app.cli import UsageError, build_parser
from app.gallery import Gallery
from tests.fake_engine import FAKE_MODEL, FakeEngine


def write_jobs(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def job(prompt: str = "a neon city", **extra) -> dict:
    return {"prompt": prompt, "size": "256x256", "steps": 2, **extra}


def run_batch(argv: list[str], engine=FakeEngine) -> int:
    """`sigma-studio batch …` on the fake engine, with run_cli's handling of UsageError."""
    args = build_parser().parse_args(["batch", *argv])
    try:
        return cmd_batch(args, engine_factory=lambda _settings: engine(step_s=0.0))
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def folder_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------ jobs files

def test_jsonl_lines_expand_by_count_and_names_come_from_the_settings(tmp_path):
    path = write_jobs(tmp_path / "jobs.jsonl", [job(seed=5, count=3), "", "# a comment", job("a forest")])
    found = read_jobs(path, {"model": FAKE_MODEL})
    assert found.errors == []
    assert [(j.line, j.seed) for j in found.jobs[:3]] == [(1, 5), (1, 6), (1, 7)]
    forest = found.jobs[3]
    assert forest.line == 4 and forest.model == FAKE_MODEL
    again = read_jobs(path, {"model": FAKE_MODEL}).jobs[3]
    assert again.seed == forest.seed and again.key == forest.key  # a derived seed is the same every run
    assert len({j.key for j in found.jobs}) == 4
    assert found.jobs[0].filename == f"256x256_5_{found.jobs[0].key}.png"
    other_model = read_jobs(path, {"model": "other"}).jobs[0]
    assert other_model.key != found.jobs[0].key


def test_csv_jobs_with_a_header_and_empty_cells(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text('prompt,negative,size,seed,count,steps,guidance\n'
                    '"red, blue dunes",,1920x1080,1,2,3,\n'
                    'a lighthouse,fog,4K UHD,9,,,7.5\n')
    found = read_jobs(path)
    assert found.errors == []
    assert [(j.prompt, j.width, j.height, j.seed, j.steps, j.guidance) for j in found.jobs] == [
        ("red, blue dunes", 1920, 1080, 1, 3, None),
        ("red, blue dunes", 1920, 1080, 2, 3, None),
        ("a lighthouse", 3840, 2160, 9, 20, 7.5),
    ]


@pytest.mark.parametrize("line, expected", [
    ({"prompt": ""}, '"prompt" is missing'),
    (job(promt="typo"), "unknown field 'promt'"),
    (job(size="12x12"), "size '12x12'"),
    (job(steps=0), '"steps" must be a whole number from 1 to 200'),
    (job(guidance="lots"), '"guidance" must be a number'),
    (job(seed=-1), '"seed"'),
    (job(preset="4K UHD"), 'give "size" or "preset", not both'),
    (job(tileable="diagonal"), "tileable 'diagonal' is not one of off, x, y, both"),
    (job(tileable=True), '"tileable" must be one of off, x, y, both, not True'),
    ("{not json", "not JSON"),
    ("[1, 2]", "expected an object"),
])
def test_a_bad_line_is_named_with_its_number(tmp_path, line, expected):
    path = write_jobs(tmp_path / "jobs.jsonl", [job("fine"), "", line])
    found = read_jobs(path)
    assert len(found.errors) == 1 and found.errors[0].startswith("jobs.jsonl line 3: ")
    assert expected in found.errors[0]
    assert [j.line for j in found.jobs] == [1]


def test_preset_folder_crossed_with_a_seed_range(tmp_path):
    folder = tmp_path / "presets"
    folder.mkdir()
    for name, size in (("Dunes", "1920x1080"), ("Phone", "1080x1920")):
        (folder / f"{name}.preset.json").write_text(json.dumps(
            {"format": "sigma-studio-preset", "version": 1, "name": name, "prompt": f"{name} at dusk",
             "size": size, "steps": 4}))
    found = read_jobs(folder, seeds=parse_seed_range("10-12"))
    assert found.errors == []
    assert sorted((j.prompt, j.seed) for j in found.jobs) == [
        (p, s) for p in ("Dunes at dusk", "Phone at dusk") for s in (10, 11, 12)]
    with pytest.raises(JobsError, match="--seeds"):
        parse_seed_range("12-10")
    with pytest.raises(JobsError, match="--seeds goes with a folder"):
        read_jobs(write_jobs(tmp_path / "j.jsonl", [job()]), seeds=range(3))


def test_tileable_lines_are_checked_like_generate_and_named_apart(tmp_path):
    path = write_jobs(tmp_path / "jobs.jsonl", [job(seed=5), job(seed=5, tileable="x"), job(seed=5, tileable="XY"),
                                                job(seed=5, tileable="off")])
    found = read_jobs(path, {"model": "tiny"})
    assert found.errors == [] and found.repeats == 1  # "off" is the same image as no tileable at all
    plain, x, both = found.jobs
    assert (plain.tileable, x.tileable, both.tileable) == ("off", "x", "both")  # normalised as --tileable does
    assert len({plain.key, x.key, both.key}) == 3
    # a line without tileable keeps the name it had before the field existed (re-runs skip it)
    assert plain.filename == "256x256_5_dc7e5416e2c8ec54.png"
    csv_path = tmp_path / "jobs.csv"
    csv_path.write_text("prompt,size,seed,steps,tileable\na neon city,256x256,5,2,x\ndunes,256x256,1,2,\n")
    x_csv, plain_csv = read_jobs(csv_path, {"model": "tiny"}).jobs
    assert x_csv.key == x.key and plain_csv.tileable == "off"


def test_a_tileable_line_and_preset_reach_the_engine(tmp_path):
    jobs = write_jobs(tmp_path / "jobs.jsonl", [job(seed=3, tileable="both"), job(seed=4)])
    out = tmp_path / "out"
    assert run_batch([str(jobs), "--out", str(out), "--model", FAKE_MODEL]) == 0
    assert sorted((r.seed, r.tileable) for r in FakeEngine.instances[-1].requests) == [(3, "both"), (4, "off")]
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "Tiles.preset.json").write_text(json.dumps(
        {"format": "sigma-studio-preset", "version": 1, "name": "Tiles", "prompt": "terrazzo",
         "size": "256x256", "steps": 2, "tileable": "y"}))
    (found,) = read_jobs(folder, seeds=range(1)).jobs
    assert found.tileable == "y"


def test_unusable_jobs_files(tmp_path):
    with pytest.raises(JobsError, match="no such jobs file"):
        read_jobs(tmp_path / "missing.jsonl")
    with pytest.raises(JobsError, match="use a .jsonl or .csv"):
        read_jobs(write_jobs(tmp_path / "jobs.txt", [job()]))
    bad_csv = tmp_path / "jobs.csv"
    bad_csv.write_text("text,size\nhello,256x256\n")
    with pytest.raises(JobsError, match='"prompt"'):
        read_jobs(bad_csv)


# ------------------------------------------------------------------ running (fake engine)

def test_a_batch_makes_every_image_once_and_a_rerun_skips_them(tmp_path, capsys):
    jobs = write_jobs(tmp_path / "jobs.jsonl", [job(seed=1, count=3), job("a forest", seed=7)])
    out = tmp_path / "out"
    assert run_batch([str(jobs), "--out", str(out), "--model", FAKE_MODEL]) == 0
    entries = read_manifest(out)
    assert len(entries) == 4 and len({e["key"] for e in entries}) == 4
    assert folder_names(out) == sorted([MANIFEST] + [e["file"] for e in entries])
    from app.metadata import read_params

    params = read_params(out / entries[0]["file"])
    assert params["batch"] == {"key": entries[0]["key"], "line": 1} and params["seed"] == entries[0]["seed"]
    before = len(FakeEngine.instances)
    assert run_batch([str(jobs), "--out", str(out), "--model", FAKE_MODEL]) == 0
    assert "4 already in" in capsys.readouterr().err
    assert len(read_manifest(out)) == 4
    assert all(not e.requests for e in FakeEngine.instances[before:])


def test_a_bad_line_stops_the_batch_before_anything_is_made(tmp_path, capsys):
    jobs = write_jobs(tmp_path / "jobs.jsonl", [job(seed=1), job(steps=500), job(seed=2)])
    out = tmp_path / "out"
    assert run_batch([str(jobs), "--out", str(out), "--model", FAKE_MODEL]) == 2
    err = capsys.readouterr().err
    assert "jobs.jsonl line 2:" in err and "--skip-invalid" in err and "Traceback" not in err
    assert not out.exists()
    assert run_batch([str(jobs), "--out", str(out), "--model", FAKE_MODEL, "--skip-invalid"]) == 0
    assert sorted(e["seed"] for e in read_manifest(out)) == [1, 2]


class InterruptedEngine(FakeEngine):
    """Fault injection: Ctrl+C arrives during the third image."""

    def generate(self, request, on_step=None, should_cancel=None):
        if len(self.requests) == 2:
            raise KeyboardInterrupt
        return super().generate(request, on_step, should_cancel)


def test_an_interrupted_batch_keeps_what_finished_and_a_rerun_makes_only_the_rest(tmp_path, capsys):
    jobs = write_jobs(tmp_path / "jobs.jsonl", [job(seed=100, count=5)])
    out = tmp_path / "out"
    assert run_batch([str(jobs), "--out", str(out), "--model", FAKE_MODEL], engine=InterruptedEngine) == 1
    assert "interrupted: 3 image(s) not made yet" in capsys.readouterr().err
    assert sorted(e["seed"] for e in read_manifest(out)) == [100, 101]
    assert len(folder_names(out)) == 3  # two images and the manifest, no temp file
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert run_batch([str(jobs), "--out", str(out), "--model", FAKE_MODEL]) == 0
    assert sorted(r.seed for r in FakeEngine.instances[-1].requests) == [102, 103, 104]
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png") if p.name in first} == first
    assert sorted(e["seed"] for e in read_manifest(out)) == [100, 101, 102, 103, 104]


def test_ray_without_ray_installed_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # fault injection: `import ray` fails
    jobs = write_jobs(tmp_path / "jobs.jsonl", [job()])
    assert run_batch([str(jobs), "--out", str(tmp_path / "out"), "--ray", "auto"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install" in err and "[farm]" in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ the output folder

def test_output_folder_recovers_cleans_and_locks(tmp_path):
    jobs = read_jobs(write_jobs(tmp_path / "jobs.jsonl", [job(seed=3, count=3)]), {"model": FAKE_MODEL}).jobs
    out = tmp_path / "out"
    from PIL import Image

    from app.metadata import save_image

    with BatchOutput(out) as output:
        with pytest.raises(OutputError, match="another batch"):
            BatchOutput(out)
        assert output.commit(jobs[0], {"seconds": 1.0}, data=b"not checked here")
        assert not output.commit(jobs[0], {"seconds": 1.0}, data=b"twice")
    # what a crash leaves: a temp file, an image renamed into place without its manifest line,
    # a file by a job's name that is not that job's image, and a torn manifest line
    (out / ".x.1234abcd.tmp.png").write_bytes(b"partial")
    save_image(Image.new("RGB", (8, 8)), out / jobs[1].filename, {"prompt": "p", "batch": {"key": jobs[1].key}})
    (out / jobs[2].filename).write_bytes(b"junk")
    with open(out / MANIFEST, "a") as manifest:
        manifest.write('{"file": "torn')
    with BatchOutput(out) as output:
        assert output.recover(jobs) == 1
        assert [output.is_done(j) for j in jobs] == [True, True, False]
    assert [e["key"] for e in read_manifest(out)] == [jobs[0].key, jobs[1].key]
    assert folder_names(out) == sorted([MANIFEST, jobs[0].filename, jobs[1].filename])
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        BatchOutput(tmp_path / "file")


# ------------------------------------------------------------------ back into the studio

def test_importing_a_batch_folder_twice_adds_each_image_once(tmp_path):
    jobs = write_jobs(tmp_path / "jobs.jsonl", [job(seed=1, count=3)])
    out = tmp_path / "out"
    assert run_batch([str(jobs), "--out", str(out), "--model", FAKE_MODEL]) == 0
    gallery = Gallery(tmp_path / "gallery")
    first = import_batch_folder(gallery, out)
    assert len(first.records) == 3 and first.already == 0 and first.errors == []
    assert sorted(r.seed for r in gallery.query()) == [1, 2, 3]
    assert all(r.params["batch"]["key"] for r in gallery.query())
    write_jobs(jobs, [job(seed=1, count=4)])  # the batch grew by one image
    assert run_batch([str(jobs), "--out", str(out), "--model", FAKE_MODEL]) == 0
    second = import_batch_folder(gallery, out)
    assert [r.seed for r in second.records] == [4] and second.already == 3
    assert gallery.count() == 4
    with pytest.raises(NotABatchFolder):
        import_batch_folder(gallery, tmp_path)
    gallery.close()


def test_ray_with_no_cluster_at_the_address_stops_at_once_and_writes_nothing(tmp_path, capsys):
    pytest.importorskip("ray")
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    jobs = write_jobs(tmp_path / "jobs.jsonl", [job()])
    assert run_batch([str(jobs), "--out", str(tmp_path / "out"), "--ray", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no Ray cluster answers there" in err and "ray start --head" in err
    assert not (tmp_path / "out").exists()
