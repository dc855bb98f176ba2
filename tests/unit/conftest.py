"""Unit tests: app/ and ui/ against a fake engine (tests/fake_engine.py); nothing here imports torch.

Every unit test is checked not to load torch, diffusers or transformers (when the session has not
loaded them already for the integration tests)."""

from __future__ import annotations

import sys

import pytest

HEAVY = ("torch", "diffusers", "transformers")


@pytest.fixture(autouse=True)
def no_torch_in_unit_tests():
    """Fail a unit test that imports torch (only checkable while no integration test loaded it)."""
    before = [name for name in HEAVY if name in sys.modules]
    yield
    if not before:
        loaded = [name for name in HEAVY if name in sys.modules]
        assert not loaded, f"a unit test imported {loaded}: unit tests run against the fake engine"
