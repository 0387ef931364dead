"""Fixtures of the late-change sensor's tests: one Dagster instance per test, and the source data with the link
tables built from it in that instance."""

import dagster as dg
import psycopg
import pytest

from convo_pipelines.defs.partitions import partition_range_tags
from convo_pipelines_tests.late_change_ticks import SCHEMA
from convo_pipelines_tests.source_data import SourceData, build_source_data, date_source_rows_at_baseline


@pytest.fixture
def instance() -> dg.DagsterInstance:
    """One Dagster instance for the test's runs and ticks: the sensor reads which partitions were materialized."""
    return dg.DagsterInstance.ephemeral()


@pytest.fixture
def source(db: psycopg.Connection, definitions: dg.Definitions, instance: dg.DagsterInstance) -> SourceData:
    """The dataset with every timestamp in the past and the link tables of 2024-01-01...15 built from it."""
    data = build_source_data(db, SCHEMA)
    date_source_rows_at_baseline(db, SCHEMA)
    front = definitions.resolve_job_def("front_links_job")
    assert front.execute_in_process(tags=partition_range_tags("2024-01-01", "2024-01-15"), instance=instance).success
    assert definitions.resolve_job_def("project_links_job").execute_in_process(instance=instance).success
    return data
