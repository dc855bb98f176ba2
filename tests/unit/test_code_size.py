"""Size rules of docs/DESIGN.md: no file in app/ or ui/ over 600 lines, no function over 60 lines
except widget layout builders (a widget's __init__, or a method named _build_*)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 60


def sources() -> list[Path]:
    return [ROOT / "main.py"] + sorted(p for package in ("app", "ui") for p in (ROOT / package).rglob("*.py"))


def test_no_file_is_over_600_lines():
    long = {p.relative_to(ROOT).as_posix(): n for p in sources() if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES}
    assert long == {}


def test_no_function_is_over_60_lines_except_layout_builders():
    long = {}
    for path in sources():
        in_ui = path.relative_to(ROOT).parts[0] == "ui"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            lines = node.end_lineno - node.lineno + 1
            builder = in_ui and (node.name == "__init__" or node.name.startswith("_build"))
            if lines > MAX_FUNCTION_LINES and not builder:
                long[f"{path.relative_to(ROOT).as_posix()}:{node.lineno} {node.name}"] = lines
    assert long == {}
