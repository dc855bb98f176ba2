"""benchmarks/demo_drawable.py: which palette colours a model draws, and the stand-ins it writes."""

from __future__ import annotations

import importlib.util
import json
import shutil

from model import resolution
from model.demo.data import COLOURS
from model.inference.prompt_words import PromptWords
from model.training.config import ROOT


def _drawable():
    spec = importlib.util.spec_from_file_location("demo_drawable", ROOT / "benchmarks" / "demo_drawable.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stand_ins_go_to_the_best_drawn_sibling_of_the_same_family():
    rates = {"light brown": 0.1, "brown": 0.9, "dark brown": 0.6, "dark grey": 0.4, "grey": 0.45,
             "light grey": 0.3, "black": 0.2, "light red": 0.5}
    # dark brown is drawn well enough; no grey shade reaches the threshold, black has no sibling
    assert _drawable().stand_ins(rates, 0.5) == {"light brown": "brown"}
    assert _drawable().stand_ins(rates, 0.4) == {"light brown": "brown", "light grey": "grey"}


def test_audit_on_a_tiny_model_writes_tables_the_engine_reads(tmp_path, tiny_pipeline_dir, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_pipeline_dir, model)
    shutil.copy(ROOT / "resources" / "demo_model" / "prompt_words.json", model)
    args = ["--model", str(model), "--k", "1", "--sizes", "64x96", "--steps", "2", "--threshold", "0.5"]
    assert _drawable().main([*args, "--write"]) == 0
    assert resolution.MIN_SIDE == 256  # the small composing sizes were allowed only while auditing
    report = json.loads(capsys.readouterr().out.splitlines()[0])
    assert len(report["rates"]) == len(COLOURS) and all(r in (0.0, 1.0) for r in report["rates"].values())
    words = PromptWords.load(model)
    assert words.drawn_as == report["drawn_as"]
    for colour, drawn in report["drawn_as"].items():  # each stand-in: a drawn sibling of an undrawn colour
        assert report["rates"][colour] < 0.5 <= report["rates"][drawn]
        assert colour.split(" ")[-1] == drawn.split(" ")[-1]


def test_bad_sizes_and_a_model_without_tables_are_refused(tmp_path, tiny_pipeline_dir, capsys):
    assert _drawable().main(["--model", str(tiny_pipeline_dir), "--sizes", "big", "--write"]) == 2
    assert _drawable().main(["--model", str(tiny_pipeline_dir), "--k", "1", "--write"]) == 2
    err = capsys.readouterr().err
    assert "not a WxH list" in err and "no prompt_words.json" in err
    assert not (tiny_pipeline_dir / "prompt_words.json").exists()
