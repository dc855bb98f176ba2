"""Export file-name templates: format specs are bounded before anything is formatted (issue 11)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from app.export import ExportError, ExportTarget, check_template, render_name

RECORD = SimpleNamespace(prompt="a fox", seed=7, id=3, created="2024-05-01T10:00:00")


@pytest.mark.parametrize("template", ["{w:>2147483647}", "{seed:.99999}", "{name:{w}}", "{h:0>" + "9" * 5000 + "}",
                                      "{w:x<151}"])
def test_huge_or_nested_format_specs_are_refused_at_once(template):
    started = time.perf_counter()
    with pytest.raises(ExportError, match="too wide"):
        check_template(template)
    with pytest.raises(ExportError):
        render_name(template, RECORD, ExportTarget(640, 480), "png")
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("template, expected", [("{w:>5}x{h}", "  640x480"), ("{seed:04}_{name}", "0007_a-fox"),
                                                ("{w:_<150}", "640" + "_" * 147)])
def test_ordinary_specs_still_work(template, expected):
    check_template(template)
    assert render_name(template, RECORD, ExportTarget(640, 480), "png").startswith(expected.strip()[:3])
