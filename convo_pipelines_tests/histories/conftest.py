"""Fixtures of the histories' tests: a scenario of good and bad crews with generated chat sessions."""

from __future__ import annotations

import psycopg
import pytest

from convo_pipelines_tests.histories.histories_runs import START
from convo_pipelines_tests.histories_data import Scenario, build_scenario


@pytest.fixture
def scenario(db: psycopg.Connection) -> Scenario:
    return build_scenario(db, START)
