"""benchmarks/demo_eval.py on a tiny pipeline: one eval per size, saved images and scores, model card section."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest

from model.training.config import ROOT


def _demo_eval():
    spec = importlib.util.spec_from_file_location("demo_eval", ROOT / "benchmarks" / "demo_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eval_per_size_saves_images_and_writes_the_model_card(tmp_path, tiny_pipeline_dir, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_pipeline_dir, model)
    (model / "README.md").write_text("# Tiny\n\ntrained somehow\n", encoding="utf-8")
    args = ["--model", str(model), "--n", "3", "--size", "64,96", "--steps", "2", "--batch", "2"]
    assert _demo_eval().main([*args, "--save", str(tmp_path / "out"), "--write-readme"]) == 0
    printed = capsys.readouterr().out.splitlines()
    result = json.loads(printed[0])
    assert [ev["size"] for ev in result["eval"]] == [64, 96]
    assert all(ev["n"] == 3 and 0.0 <= ev["colour_acc"] <= 1.0 for ev in result["eval"])
    assert "at 64px" in printed[1] and "at 96px" in printed[1]
    scores = json.loads((tmp_path / "out" / "96" / "scores.json").read_text())
    assert len(scores) == 3 and (tmp_path / "out" / "96" / "002.png").exists()
    card = (model / "README.md").read_text()
    assert card.startswith("# Tiny") and "## Measured" in card and "at 96px" in card
    # a second run replaces the section instead of adding another
    assert _demo_eval().main([*args[:6], "--size", "64", "--steps", "2", "--write-readme"]) == 0
    card = (model / "README.md").read_text()
    assert card.count("## Measured") == 1 and "at 96px" not in card


def test_bad_size_is_a_clear_error(tiny_pipeline_dir, capsys):
    with pytest.raises(SystemExit):
        _demo_eval().main(["--model", str(tiny_pipeline_dir), "--n", "1", "--size", "big"])
    assert "--size" in capsys.readouterr().err


def test_engine_eval_compares_direct_and_refine_per_size(tiny_pipeline_dir, capsys):
    args = ["--model", str(tiny_pipeline_dir), "--n", "2", "--engine-sizes", "256x256,320x256", "--steps", "2",
            "--hires", "direct,refine", "--prompts", "heldout"]
    assert _demo_eval().main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    result = json.loads(next(line for line in lines if line.startswith('{"model"')))
    rows = result["engine"]
    assert [(r["size"], r["hires"], r["made_by"]) for r in rows] == [
        ("256x256", "direct", "direct"), ("256x256", "refine", "refine"),
        ("320x256", "direct", "direct"), ("320x256", "refine", "refine")]
    assert all(r["n"] == 2 and 0 <= r["layout_acc"] <= 1 and r["seconds_per_image"] >= 0 for r in rows)
    assert lines[-6].startswith("| size | path |") and "| 320x256 | refine (refine) | 2 |" in lines[-1]


def test_read_reports_how_the_demo_tables_read_the_everyday_prompts(capsys):
    assert _demo_eval().main(["--read", "--n", "24"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[0])
    assert result["n"] == 24 and result["main"] >= 0.9 and result["pattern"] >= 0.8
