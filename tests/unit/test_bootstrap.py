"""The studio's arguments (argparse) and main.py's routing between the studio and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

import main
from app.bootstrap import format_timing, parse_studio_args


def test_studio_arguments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("poster.preset.json").write_text("{}")  # FILE must exist (a missing one is a mistyped command)
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
    (tmp_path / "image.png").write_bytes(b"")
    assert main.main([str(tmp_path / "image.png"), "--model", "demo"]) == 0
    assert started[0].file == tmp_path / "image.png" and started[0].model == "demo"


def test_timing_line():
    line = format_timing({"visible_s": 0.4, "since_process_start_s": 0.6, "heavy_before_visible": []})
    assert line.startswith("window visible in 0.40 s") and "loaded before it: none" in line and "ok" in line


# ---------------------------------------------------------------------------------------------
# A mistyped command never opens the studio (issue 11)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["genrate", "a fox"], ["postr", "--help"], ["genrate"], ["--bogus"],
                                  ["missing-file.png"]])
def test_an_unknown_command_flag_or_missing_file_exits_2_with_the_usage(monkeypatch, capsys, argv, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("app.bootstrap.run_studio", lambda options: pytest.fail("the studio must not start"))
    with pytest.raises(SystemExit) as exited:
        main.main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "usage:" in err and argv[0] in err


def test_a_mistyped_command_in_a_script_exits_instead_of_hanging(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, str(Path(main.__file__)), "genrate", "x"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "usage:" in result.stderr and "generate" in result.stderr


def test_the_commands_come_from_the_cli_parser():
    from app import bootstrap, cli

    assert set(bootstrap.CLI_COMMANDS) == set(cli.command_names()) >= {"generate", "models"}
    assert all(name in bootstrap.build_parser().format_help() for name in bootstrap.CLI_COMMANDS)


def test_an_existing_file_still_opens_the_studio(monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr("app.bootstrap.run_studio", lambda options: started.append(options) or 0)
    monkeypatch.setattr("app.preflight.check_studio", lambda: 0)
    (tmp_path / "look.preset.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert main.main(["look.preset.json"]) == 0 and started[0].file == Path("look.preset.json")
