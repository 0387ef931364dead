"""Fixtures of the benchmarks' tests: the product suite's PostgreSQL server and databases (its conftest.py), and a
CONVO_HOME of its own for an embedded server the bench starts.

pytest finds a conftest's fixtures and hooks by name in its module, so importing them makes them this folder's too.
Run as its own session (the Makefile runs the product's suite, then this folder): under one session each folder
would start a server of its own.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from convo_pipelines_tests.conftest import (
    database_url,
    db,
    empty_database_url,
    pytest_configure,
    server_url,
    template_database,
)

__all__ = [
    "convo_home",
    "database_url",
    "db",
    "empty_database_url",
    "pytest_configure",
    "server_url",
    "template_database",
]


@pytest.fixture
def convo_home() -> Iterator[Path]:
    """A CONVO_HOME of its own, for an embedded server the bench starts (not under pytest's basetemp, for the reason
    conftest.py gives: the server's user must traverse the folders above its data)."""
    home = Path(tempfile.mkdtemp(prefix="convo-bench-home-"))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)
