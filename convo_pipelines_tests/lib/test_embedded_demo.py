"""The embedded demo's seeder, which the product finds through an entry point the benchmarks install."""

from __future__ import annotations

import pytest

from convo_benchmarks.seed import DEMO_SEEDER
from convo_pipelines.lib.embedded.demo import installed_demo_seeder
from convo_pipelines.lib.errors import ConfigError


def test_the_demo_seeder_is_the_one_the_benchmarks_install() -> None:
    assert installed_demo_seeder() is DEMO_SEEDER


def test_without_a_seeder_the_embedded_demo_says_in_one_line_what_to_install() -> None:
    # A production `pip install .` registers no seeder: an entry-point group no distribution fills is the same.
    with pytest.raises(ConfigError) as raised:
        installed_demo_seeder(group="convo_pipelines_tests.no_demo")
    message = str(raised.value)
    assert message.splitlines() == [message]
    assert message == (
        "the embedded demo needs the benchmarks package, which holds its seeder (no entry point 'seeder' in group "
        "convo_pipelines_tests.no_demo): run `make dev`, or `pip install -e ./benchmarks`; or set DATABASE_URL to "
        "run on your database"
    )
