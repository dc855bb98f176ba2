"""The studio's arguments (argparse) and main.py's routing between the studio and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

import main
from app.bootstrap import format_timing, parse_studio_args


def test_studio_arguments():
    options = parse_studio_args(["poster.preset.json", "--model", "org/model", "--timing", "--quit-after-visible"])
    assert options.file == Path("poster.preset.json") and options.model == "org/model"
    assert options.timing == "text" and options.quit_after_visible
    bare = parse_studio_args([])
    assert bare.file is None and bare.model is None and bare.timing is None and not bare.quit_after_visible
    assert parse_studio_args(["--timing-json"]).timing == "json"


@pytest.mark.parametrize("env, expected", [("1", "text"), ("json", "json"), ("0", None), ("", None)])
def test_timing_from_the_environment(monkeypatch, env, expected):
    monkeypatch.setenv("SIGMA_STUDIO_TIMING", env)
    assert parse_studio_args([]).timing == expected
    assert parse_studio_args(["--timing-json"]).timing == "json"  # a flag wins


def test_unknown_studio_option_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as exited:
        parse_studio_args(["--no-such-option"])
    assert exited.value.code == 2 and "--no-such-option" in capsys.readouterr().err


def test_main_routes_subcommands_to_the_cli(monkeypatch):
    seen = []
    monkeypatch.setattr("app.cli.run_cli", lambda argv: seen.append(argv) or 0)
    monkeypatch.setattr("app.bootstrap.run_studio", lambda options: pytest.fail("the studio must not start"))
    assert main.main(["models"]) == 0 and main.main(["generate", "a fox"]) == 0
    assert seen == [["models"], ["generate", "a fox"]]


def test_main_starts_the_studio_with_its_options(monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr("app.bootstrap.run_studio", lambda options: started.append(options) or 0)
    assert main.main([str(tmp_path / "image.png"), "--model", "demo"]) == 0
    assert started[0].file == tmp_path / "image.png" and started[0].model == "demo"


def test_timing_line():
    line = format_timing({"visible_s": 0.4, "since_process_start_s": 0.6, "heavy_before_visible": []})
    assert line.startswith("window visible in 0.40 s") and "loaded before it: none" in line and "ok" in line
