"""Fixtures of the benchmarks' tests: a CONVO_HOME of its own for an embedded server the bench starts."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def convo_home() -> Iterator[Path]:
    """A CONVO_HOME of its own, for an embedded server the bench starts (not under pytest's basetemp, for the reason
    conftest.py gives: the server's user must traverse the folders above its data)."""
    home = Path(tempfile.mkdtemp(prefix="convo-bench-home-"))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)
