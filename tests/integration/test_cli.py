"""Command line (Contract 1): generate and models, exit codes, outputs and metadata."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from app.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]


def gen(tiny_pipeline_dir, *extra: str) -> list[str]:
    return ["generate", "a teal poster with circles", "--model", str(tiny_pipeline_dir), "--steps", "2", *extra]


def test_generate_writes_image_with_metadata(tiny_pipeline_dir, tmp_path, capsys):
    out = tmp_path / "poster.png"
    code = run_cli(gen(tiny_pipeline_dir, "--size", "300x262", "--seed", "7", "--out", str(out)))
    assert code == 0
    assert "seed 7" in capsys.readouterr().out
    from app.metadata import read_params

    with Image.open(out) as image:
        assert image.size == (300, 262)
        assert "parameters" in image.info and "Seed: 7" in image.info["parameters"]
    params = read_params(out)
    assert params["seed"] == 7 and params["width"] == 300 and params["prompt"] == "a teal poster with circles"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["poster.png"]  # no temp files


def test_count_writes_consecutive_seeds(tiny_pipeline_dir, tmp_path, capsys):
    code = run_cli(gen(tiny_pipeline_dir, "--size", "256x256", "--seed", "10", "--count", "2", "--out", str(tmp_path)))
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["sigma_10.png", "sigma_11.png"]


def test_jpeg_and_webp_outputs(tiny_pipeline_dir, tmp_path):
    from app.metadata import read_params

    for name in ("a.jpg", "b.webp"):
        assert run_cli(gen(tiny_pipeline_dir, "--size", "256x256", "--seed", "1", "--out", str(tmp_path / name))) == 0
        assert read_params(tmp_path / name)["seed"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--size", "100x100"],
        ["--size", "5000x1000"],
        ["--size", "big"],
        ["--steps", "0"],
        ["--count", "0"],
        ["--preset", "no-such-preset"],
        ["--out", "picture.bmp"],
        ["--kv-compress", "3"],
        ["--model", "/no/such/model.pth"],
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_no_file(tiny_pipeline_dir, tmp_path, capsys, args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = gen(tiny_pipeline_dir, *args)
    if "--out" not in args:
        argv += ["--out", str(tmp_path / "x.png")]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.bmp"))


def test_failure_while_running_exits_1_without_output(tiny_pipeline_dir, tmp_path, capsys, monkeypatch):
    from model.errors import EngineError
    from model.inference import engine as engine_module

    def boom(self, request, on_step=None, should_cancel=None):
        raise EngineError("out of memory even in cpu mode: choose a smaller size")

    monkeypatch.setattr(engine_module.Engine, "generate", boom)
    assert run_cli(gen(tiny_pipeline_dir, "--size", "256x256", "--out", str(tmp_path / "x.png"))) == 1
    assert "out of memory" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name != "home"]


@pytest.mark.slow
def test_size_preset_beyond_4096_is_made_smaller_and_resized(tiny_4k_dir, tmp_path):
    from app.metadata import read_params
    from app.sizes import find_preset

    preset = find_preset("a3-portrait")
    out = tmp_path / "a3.png"
    assert run_cli(gen(tiny_4k_dir, "--preset", "a3-portrait", "--seed", "2", "--steps", "1", "--out", str(out))) == 0
    with Image.open(out) as image:
        assert image.size == (preset.width, preset.height) and max(image.size) > 4096
        assert round(image.info["dpi"][0]) == preset.dpi
    assert read_params(out)["height"] == preset.height


def test_models_lists_variants(capsys):
    assert run_cli(["models"]) == 0
    out = capsys.readouterr().out
    assert "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS" in out


def test_main_entry_point_subprocess(tiny_pipeline_dir, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *gen(tiny_pipeline_dir, "--size", "99x99")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "256" in done.stderr


def test_guidance_defaults_to_the_models_own(tiny_pipeline_dir, tmp_path, capsys):
    import json
    import shutil

    from app.metadata import read_params

    model = tmp_path / "model"
    shutil.copytree(tiny_pipeline_dir, model)
    (model / "sigma_studio.json").write_text(
        json.dumps({"format": "sigma-studio-model", "version": 1, "defaults": {"guidance": 1.5}})
    )
    out = tmp_path / "a.png"
    assert run_cli(gen(model, "--out", str(out), "--size", "256x256", "--seed", "1")) == 0
    assert "guidance 1.5 (this model's default)" in capsys.readouterr().err
    assert read_params(out)["guidance"] == 1.5
    out2 = tmp_path / "b.png"
    assert run_cli(gen(model, "--out", str(out2), "--size", "256x256", "--guidance", "3")) == 0
    assert read_params(out2)["guidance"] == 3.0
    # a broken defaults file is a clear error, and nothing is written
    (model / "sigma_studio.json").write_text('{"format": "sigma-studio-model", "defaults": {"guidance": "high"}}')
    out3 = tmp_path / "c.png"
    assert run_cli(gen(model, "--out", str(out3), "--size", "256x256")) != 0
    assert "guidance must be a number" in capsys.readouterr().err and not out3.exists()
