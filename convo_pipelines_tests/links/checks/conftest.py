"""Fixtures of the link checks' tests: the source data alone, and the three link tables built from it with their
checks. This `source` stands in for links/conftest.py's, which also builds the link tables in a Dagster instance of
its own (what the late-change sensor's tests start from)."""

import dagster as dg
import psycopg
import pytest

from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines_tests.links.checks.check_runs import SCHEMA, materialize_links
from convo_pipelines_tests.source_data import SourceData, build_source_data


@pytest.fixture
def source(db: psycopg.Connection) -> SourceData:
    return build_source_data(db, SCHEMA)


@pytest.fixture
def built(postgres: PostgresResource, source: SourceData) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return materialize_links(postgres)
