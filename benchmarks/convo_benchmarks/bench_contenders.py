"""The contenders the link tables are measured against, outside Dagster: the plain set-based floor, a materialized
view of each link join, dbt incremental models of them (bench_dbt.py), the seeds' batches of 500; and the read side
alone, the floor of any fill."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal

import psycopg
from psycopg import sql

from convo_benchmarks.bench_context import BenchContext, Report
from convo_benchmarks.bench_dbt import bench_dbt
from convo_benchmarks.bench_oracles import ALL_TIME, FRONT_LINK_SPECS, contender_oracle
from convo_benchmarks.bench_records import BenchReport
from convo_benchmarks.bench_scratch import Scratch
from convo_benchmarks.bench_scratch_sql import (
    make_one_change,
    truncate_front_links,
)
from convo_benchmarks.bench_wal_kinds import record_wal_kinds, wal_of
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS
from convo_pipelines.lib.postgres.db import connect

SEEDS_BATCH_SIZE = 500
# Which contenders a run measures: every one, the views' build alone (`--view-build-only`), or none
# (`--skip-contenders`).
Contenders = Literal["all", "view build", "none"]
# What `--view-build-only` leaves out of the contenders, as the report names it.
VIEW_BUILD_ONLY_LEFT_OUT = "the plain floor, the materialized views' refreshes, dbt and the seeds' batches"


def bench_contenders(
    bench: BenchContext, result: BenchReport, change_day: date, *, batches: bool, view_build_only: bool = False
) -> None:
    """The contenders, `repeats` times each: the plain floor into emptied link tables, the materialized views (one
    change on `change_day` before their second refresh), dbt's models; then, with `batches`, the seeds' batches once.
    `view_build_only` times the views' build alone, and says what it left out."""
    if view_build_only:
        result.left_out[VIEW_BUILD_ONLY_LEFT_OUT] = "`--view-build-only`"
        bench_materialized_views(bench, result, change_day, refreshes=False)
        return
    scratch, report, repeats = bench.scratch, bench.report, bench.repeats
    for attempt in range(repeats):
        report(f"plain set-based floor ({attempt + 1}/{repeats})")
        truncate_front_links(scratch)
        bench.settle()
        result.record(
            "plain_floor", "plain floor: INSERT ... SELECT DISTINCT ... ON CONFLICT", "s", time_plain_floor(scratch)
        )
    bench_materialized_views(bench, result, change_day, refreshes=True)
    bench_dbt(bench, result)
    if batches:
        report("the seeds' approach: batches of 500 conversations, upserts")
        truncate_front_links(scratch)
        bench.settle()
        result.record(
            "seeds_batches", "seeds' approach: batches of 500, upserts", "s", _time_seed_batches(scratch, report)
        )


def bench_materialized_views(bench: BenchContext, result: BenchReport, change_day: date, *, refreshes: bool) -> None:
    """The materialized views, `repeats` times: built, then (with `refreshes`) refreshed."""
    for attempt in range(bench.repeats):
        bench.report(f"the contender: a materialized view of each link join ({attempt + 1}/{bench.repeats})")
        views = _time_materialized_views(bench.scratch, change_day, bench.settle, bench.report, refreshes=refreshes)
        record_materialized_views(result, views)


def record_materialized_views(result: BenchReport, views: MaterializedViewTimes) -> None:
    """The views' figures: their build and its WAL, and their refreshes where they were timed."""
    result.record("matview_build", "materialized view of each link join + its indexes: build", "s", views.build)
    result.record("matview_build_wal", "materialized view of each link join: WAL of its build", "MB", views.build_wal)
    record_wal_kinds(
        result, "matview_build_wal", "materialized view of each link join: its build", views.build_wal_kinds
    )
    if views.refresh_unchanged is None or views.refresh_after_change is None:
        return
    result.record(
        "matview_refresh_unchanged",
        "materialized views: REFRESH CONCURRENTLY, nothing changed",
        "s",
        views.refresh_unchanged,
    )
    result.record(
        "matview_refresh_after_change",
        "materialized views: REFRESH CONCURRENTLY after one change",
        "s",
        views.refresh_after_change,
    )


def _render(scratch: Scratch, name: str, table: str) -> sql.Composed:
    """convo_benchmarks/sql/<name> for one Front link table, with that table's oracle composed in."""
    spec = FRONT_LINK_SPECS[table]
    return scratch.benchmark_sql(
        name, links=spec.table, owner=spec.owner_column, oracle=contender_oracle(scratch, spec)
    )


def time_plain_floor(scratch: Scratch) -> float:
    statements = [_render(scratch, "bench/insert_links_plain_floor.sql", table) for table in FRONT_LINK_ASSETS]
    with connect(scratch.url) as conn:
        started = time.perf_counter()
        for statement in statements:
            conn.execute(statement, ALL_TIME)
        conn.commit()
        return time.perf_counter() - started


@dataclass(frozen=True)
class MaterializedViewTimes:
    build: float  # both link joins created as materialized views, with their indexes
    build_wal: float  # MB of WAL the server wrote during that build
    build_wal_kinds: dict[str, float] | None  # that WAL by kind of record (bench_wal_kinds), where it could be read
    refresh_unchanged: float | None  # REFRESH ... CONCURRENTLY of both, nothing changed (None: not timed)
    refresh_after_change: float | None  # the same after one recipient was added to an old day (None: not timed)


def _time_materialized_views(
    scratch: Scratch, change_day: date, settle: Callable[[], None], report: Report, *, refreshes: bool = True
) -> MaterializedViewTimes:
    """The contender: each link join as a materialized view, built, then (with `refreshes`) refreshed with
    nothing changed and after one late change, each after `settle`; dropped afterwards. Its window is bound
    client-side: DDL takes no parameters."""
    views = {table: f"{table}_contender" for table in FRONT_LINK_ASSETS}

    oracles = {table: contender_oracle(scratch, FRONT_LINK_SPECS[table]) for table in views}

    def run_for_each(name: str) -> float:
        statements = [
            scratch.benchmark_sql(name, view=view, owner=FRONT_LINK_SPECS[table].owner_column, oracle=oracles[table])
            for table, view in views.items()
        ]
        with connect(scratch.url) as conn:
            cursor = psycopg.ClientCursor(conn)
            started = time.perf_counter()
            for statement in statements:
                cursor.execute(statement, ALL_TIME)
            conn.commit()
            return time.perf_counter() - started

    try:
        settle()
        build, build_wal, build_wal_kinds = wal_of(
            scratch, report, lambda: run_for_each("bench/create_links_materialized_view.sql")
        )
        if not refreshes:
            return MaterializedViewTimes(build, build_wal, build_wal_kinds, None, None)
        settle()
        unchanged = run_for_each("bench/refresh_links_materialized_view.sql")
        make_one_change(scratch, change_day)
        settle()
        after_change = run_for_each("bench/refresh_links_materialized_view.sql")
    finally:
        run_for_each("bench/drop_links_materialized_view.sql")
    return MaterializedViewTimes(build, build_wal, build_wal_kinds, unchanged, after_change)


def _time_seed_batches(scratch: Scratch, report: Report) -> float:
    """The seeds' way: one query per table per batch of 500 conversations, upserting each batch."""
    with connect(scratch.url) as conn:
        ids = [row[0] for row in conn.execute(scratch.benchmark_sql("bench/select_front_conversation_ids_ordered.sql"))]
        statements = {
            table: _render(scratch, "bench/insert_links_batch_upsert.sql", table) for table in FRONT_LINK_ASSETS
        }
        started = time.perf_counter()
        batches = range(0, len(ids), SEEDS_BATCH_SIZE)
        for number, offset in enumerate(batches, start=1):
            batch = ids[offset : offset + SEEDS_BATCH_SIZE]
            for table in FRONT_LINK_ASSETS:
                conn.execute(statements[table], {**ALL_TIME, "conversation_ids": batch})
            conn.commit()
            if number % 100 == 0:
                elapsed = time.perf_counter() - started
                report(f"  batches: {number:,}/{len(batches):,} in {elapsed:.0f} s")
        return time.perf_counter() - started


def time_read_side(scratch: Scratch) -> float:
    """The floor of any fill or diff of the Front link tables: each table's join and DISTINCT counted by a
    plain SELECT (which PostgreSQL runs in parallel at its own settings), writing nothing."""
    statements = [_render(scratch, "bench/count_links_read_side.sql", table) for table in FRONT_LINK_ASSETS]
    with connect(scratch.url) as conn:
        started = time.perf_counter()
        for statement in statements:
            conn.execute(statement, ALL_TIME).fetchone()
        return time.perf_counter() - started
