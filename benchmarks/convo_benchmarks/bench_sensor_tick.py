"""The late-change sensor's tick timed outside Dagster, without and with the indexes on the change stamps that
the late_change_indexes check recommends (recommended_change_indexes, which the freshness samples use too)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from convo_benchmarks.bench_scratch import Scratch
from convo_pipelines.defs.links.change_fingerprints import (
    CHANGE_WATCHED_TABLES,
    FRONT_SOURCE,
    change_index_name,
    change_index_params,
    read_fingerprints,
)
from convo_pipelines.defs.links.tick_changes import find_changed_day_ranges
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.session import Session

# A late-change tick that finds this many new recipients is timed, fastest of SENSOR_TICK_TRIES.
SENSOR_TICK_CHANGES = 100
SENSOR_TICK_TRIES = 3


@dataclass(frozen=True)
class SensorTickTimes:
    changes_found: int  # conversations the tick found changed
    without_indexes: float  # the tick's SQL, the source as DESIGN assumes it (no index on the change stamps)
    with_indexes: float  # the same once the late_change_indexes check's statements ran


def time_sensor_tick(scratch: Scratch, changes: int) -> SensorTickTimes:
    """`changes` new recipients, then the SQL of the tick that finds them (the sensor's own
    read_fingerprints and find_changed_day_ranges from the moment before them, every bucket of the window read as
    changed, as on a tick after the sensor's first), fastest of SENSOR_TICK_TRIES,
    without then with the recommended indexes, which are dropped afterwards."""
    with connect(scratch.url, autocommit=True) as conn:
        session = Session(conn, scratch.source_schema, scratch.analytics_schema)
        after = conn.execute(scratch.benchmark_sql("bench/select_database_now.sql")).fetchone()[0]
        conn.execute(scratch.benchmark_sql("bench/insert_recipients_for_sensor_tick.sql"), {"changes": changes})

        def fastest_tick() -> tuple[int, float]:
            times, found = [], 0
            for _ in range(SENSOR_TICK_TRIES):
                started = time.perf_counter()
                changed = read_fingerprints(session, after).changed_buckets(FRONT_SOURCE, None)
                day_ranges = find_changed_day_ranges(session, changed) if changed else []
                times.append(time.perf_counter() - started)
                found = sum(conversations for _, _, conversations, _ in day_ranges)
            return found, min(times)

        found, without = fastest_tick()
        with recommended_change_indexes(scratch):
            _, with_indexes = fastest_tick()
    return SensorTickTimes(found, without, with_indexes)


@contextmanager
def recommended_change_indexes(scratch: Scratch) -> Iterator[None]:
    """The indexes on the change stamps that the late_change_indexes check recommends, for the block: created
    (the check's own statements), their statistics gathered, and dropped afterwards."""
    with connect(scratch.url, autocommit=True) as conn:
        statements = conn.execute(
            scratch.sql("links/checks/check_late_change_indexes.sql"),
            {"source_schema": scratch.source_schema, **change_index_params()},
        ).fetchone()[2]
        try:
            for statement in statements:
                conn.execute(statement)  # the check's own format(): identifiers quoted by PostgreSQL
            # What autovacuum does soon after on a live database: statistics of the new expressions, without
            # which the planner guesses how many rows a tick's interval holds.
            for table in CHANGE_WATCHED_TABLES:
                conn.execute(
                    scratch.benchmark_sql("bench/vacuum_analyze_table.sql", schema=scratch.source_schema, table=table)
                )
            yield
        finally:
            for table in CHANGE_WATCHED_TABLES:
                conn.execute(scratch.benchmark_sql("bench/drop_change_index.sql", index_name=change_index_name(table)))
