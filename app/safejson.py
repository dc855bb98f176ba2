"""JSON from files we did not write: size, nesting depth and integer length are bounded BEFORE the
parser runs, so a hostile file (100,000 nested brackets, a 5,000-digit number, a 2 GB blob) gives a
clear ValueError instead of a RecursionError, a hang or an out-of-memory.

Used by app.settings (settings, prompt history), app.presets (presets, styles) and app.metadata
(our JSON inside images).

May import: the standard library only.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32  # our files nest 3 levels; 32 leaves room and stays far below the parser's recursion limit
MAX_INT_DIGITS = 40  # a 64-bit seed has 20 digits
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonLimitError(ValueError):
    """The text is not JSON we accept: too large, nested too deep, a number too long, or not JSON."""


def nesting_depth(text: str, stop_at: int = MAX_DEPTH) -> int:
    """How deeply arrays and objects nest in JSON text (strings skipped); stops counting past stop_at."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > stop_at:
                break
    return deepest


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonLimitError(f"a number with {len(digits.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(digits)


def loads(data: str | bytes, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads with limits checked first; JsonLimitError (a ValueError) says what is wrong."""
    if len(data) > max_bytes:
        raise JsonLimitError(f"larger than {max_bytes:,} bytes")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise JsonLimitError("not UTF-8 text") from None
    if "\0" in data:
        raise JsonLimitError("a binary file, not JSON text")
    depth = nesting_depth(data, max_depth)
    if depth > max_depth:
        raise JsonLimitError(f"nested more than {max_depth} levels deep")
    try:
        return json.loads(data, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise JsonLimitError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except JsonLimitError:
        raise
    except (ValueError, RecursionError, MemoryError) as exc:  # what the parser itself can still raise
        raise JsonLimitError(f"not readable as JSON ({type(exc).__name__}: {exc})") from None
