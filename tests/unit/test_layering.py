"""The import rules of docs/DESIGN.md, checked statically (ast over the source files) and at run time.

model/ never imports Qt, app/ or ui/; ui/ never imports torch, diffusers, transformers or model/;
app/ reaches model/ only through app/model_service.py and ui/ only from the composition root,
app/bootstrap.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "diffusers", "transformers")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
                found.update([module] if node.module else [f"{base}.{alias.name}" for alias in node.names])
            else:
                found.add(node.module or "")
    return found


def offenders(package: str, forbidden: tuple[str, ...], allowed_files: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Files of a package that import a forbidden top-level module (or a sub-module of one)."""
    bad: dict[str, list[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in allowed_files:
            continue
        hits = sorted(m for m in imported_modules(path) if any(m == f or m.startswith(f + ".") for f in forbidden))
        if hits:
            bad[rel] = hits
    return bad


def test_the_import_checker_sees_relative_and_nested_imports(tmp_path):
    source = ROOT / "app" / "worker.py"
    modules = imported_modules(source)
    assert "app.jobs" in modules and "app.model_service" in modules and "PySide6.QtCore" in modules


@pytest.mark.parametrize("package, forbidden, allowed", [
    ("model", ("PySide6", "shiboken6", "qasync"), ()),
    ("model", ("app", "ui"), ()),
    ("ui", HEAVY, ()),
    ("ui", ("model",), ()),
    ("app", ("ui",), ("app/bootstrap.py",)),
    ("app", ("model",), ("app/model_service.py",)),
    ("app", HEAVY, ("app/model_service.py",)),
])
def test_import_rules(package, forbidden, allowed):
    assert offenders(package, forbidden, allowed) == {}


def test_ui_never_imports_the_engine():
    """The original regex guard (kept next to the ast rules above)."""
    import re

    forbidden = re.compile(r"^\s*(from|import)\s+(torch|diffusers|transformers|model\.engine)\b", re.MULTILINE)
    found = [p.name for p in (ROOT / "ui").rglob("*.py") if forbidden.search(p.read_text(encoding="utf-8"))]
    assert found == []


def test_ui_modules_do_not_import_torch():
    code = ("import sys; import ui.model_manager, ui.gallery, ui.export_dialog, ui.dnd, ui.tasks; "
            "bad = [m for m in ('torch', 'diffusers', 'model.loading', 'model.inference.engine') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_every_app_and_ui_module_loads_without_torch():
    """Importing the whole of app/ and ui/ (and main.py) loads none of the heavy libraries."""
    modules = ["main"] + [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in ("app", "ui") for p in sorted((ROOT / package).rglob("*.py"))
    ]
    code = (f"import importlib, sys\nfor name in {modules!r}: importlib.import_module(name)\n"
            f"bad = [m for m in {HEAVY!r} if m in sys.modules]\nassert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
