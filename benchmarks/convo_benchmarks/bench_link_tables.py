"""The link tables' measurements: first fill, re-runs, one day's partition and the sensor's scoped run after one
change, the sensor's tick, the project reconcile, app read latencies, the read side and the contenders."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from convo_benchmarks.bench_backfills import (
    STOCK_STORAGE_LABEL,
    bench_full_backfills,
    bench_rerun_after_app,
    bench_reruns,
    record_checks_sql,
)
from convo_benchmarks.bench_contenders import Contenders, bench_contenders, time_read_side
from convo_benchmarks.bench_context import BenchContext
from convo_benchmarks.bench_reads import measure_read_latencies, round_trip_seconds, speedups
from convo_benchmarks.bench_records import BenchReport
from convo_benchmarks.bench_runs import BenchError, DagsterRun, DagsterRunner
from convo_benchmarks.bench_scratch import Scratch
from convo_benchmarks.bench_scratch_sql import (
    make_one_change,
    reset_front_links_to_never_filled,
    schemas_disk_mb,
    scratch_row_count,
    table_sizes,
)
from convo_benchmarks.bench_sensor_tick import SENSOR_TICK_CHANGES, time_sensor_tick
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS, PROJECT_LINK_ASSETS
from convo_pipelines.defs.links.late_change_runs import scoped_run_config
from convo_pipelines.defs.links.tables import LINK_TABLES, PROJECT_LINKS_TABLE
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.app_changes import PICK_TRIES, FreshnessTarget

# The old joins take up to hundreds of ms per id: each read path stops after this long, whatever its ids.
READ_BUDGET_SECONDS = 60.0


def bench_link_tables(
    bench: BenchContext,
    result: BenchReport,
    *,
    batches: bool,
    contenders: Contenders = "all",
    one_first_fill: bool = False,
) -> None:
    scratch, report, repeats = bench.scratch, bench.report, bench.repeats
    runner = bench.runner(FRONT_LINK_ASSETS)
    bench_full_backfills(
        bench,
        result,
        runner,
        key="",
        label="",
        empty_tables=lambda: reset_front_links_to_never_filled(scratch),
        beside_app=one_first_fill,
    )
    result.counts.update(
        {table: scratch_row_count(scratch, scratch.source_schema, table) for table in FRONT_LINK_ASSETS}
    )
    # Sized as the pipeline built them: the floor and the batches below rebuild them another way.
    result.sizes += table_sizes(scratch, "source", scratch.source_schema, FRONT_LINK_ASSETS)
    result.record(
        "disk_used",
        "disk used by the source and analytics schemas after the first fill (heap, indexes, TOAST; no WAL)",
        "MB",
        schemas_disk_mb(scratch),
    )
    if one_first_fill:
        bench_rerun_after_app(bench, result, runner)
    bench_reruns(bench, result, runner, key="", label="")

    change_day = bench.end.date() - timedelta(days=max(bench.days // 2, 1))
    for attempt in range(bench.short_repeats):
        report(f"one day's partition after one change ({attempt + 1}/{bench.short_repeats})")
        make_one_change(scratch, change_day)
        bench.settle()
        run = runner.materialize_partition(change_day)
        result.record("one_day_sql", "one-day partition after one change: SQL", "s", run.sql_seconds)
        result.record(
            "one_day_rows_written", "one-day partition after one change: rows written", "rows", run.rows_written
        )
        record_checks_sql(result, "one_day", "one-day partition after one change", run)
    scoped = "one change, the sensor's scoped run of its day"
    for attempt in range(bench.short_repeats):
        report(f"{scoped} ({attempt + 1}/{bench.short_repeats})")
        run = _scoped_run(scratch, runner, change_day)
        result.record("scoped_sql", f"{scoped}: SQL", "s", run.sql_seconds)
        result.record("scoped_rows_written", f"{scoped}: rows written", "rows", run.rows_written)
        record_checks_sql(result, "scoped", scoped, run)
        result.record(
            "scoped_overhead", f"{scoped}: Dagster overhead (process start, bookkeeping)", "s", run.overhead_seconds
        )
        result.record("scoped_run_dagster_wall", f"{scoped}: RUN_START to RUN_SUCCESS", "s", run.dagster.run_seconds)
    stock_runner = bench.runner(FRONT_LINK_ASSETS, stock_storage=True)
    for attempt in range(bench.short_repeats):
        report(f"{scoped}{STOCK_STORAGE_LABEL} ({attempt + 1}/{bench.short_repeats})")
        run = _scoped_run(scratch, stock_runner, change_day)
        result.record(
            "scoped_stock_overhead",
            f"{scoped}{STOCK_STORAGE_LABEL}: Dagster overhead (process start, bookkeeping)",
            "s",
            run.overhead_seconds,
        )

    for attempt in range(repeats):
        report(
            f"late-change sensor tick finding {SENSOR_TICK_CHANGES} changes, without and with the recommended indexes ({attempt + 1}/{repeats})"
        )
        tick = time_sensor_tick(scratch, SENSOR_TICK_CHANGES)
        note = f"{tick.changes_found} conversations found"
        result.record(
            "sensor_tick_sql",
            f"late-change tick, {SENSOR_TICK_CHANGES} changes: SQL, no index on the change stamps",
            "s",
            tick.without_indexes,
            note=note,
        )
        result.record(
            "sensor_tick_indexed_sql",
            f"late-change tick, {SENSOR_TICK_CHANGES} changes: SQL, with the recommended indexes",
            "s",
            tick.with_indexes,
            note=note,
        )

    bench_app_reads(bench, result)

    for _ in range(repeats):
        bench.settle()
        result.record(
            "read_side",
            "read side alone (join + DISTINCT of both Front link tables, a SELECT)",
            "s",
            time_read_side(scratch),
        )
    if contenders == "none":
        report("the contenders (plain floor, materialized views, dbt, the seeds' batches) are left out")
        return
    bench_contenders(bench, result, change_day, batches=batches, view_build_only=contenders == "view build")


def bench_app_reads(bench: BenchContext, result: BenchReport) -> None:
    """App-side read latency through the link tables as the pipeline built them, and through the old joins."""
    scratch, report = bench.scratch, bench.report
    report("project_conversations through Dagster, so the project question has its link table; then its reconcile")
    project = bench.runner((PROJECT_LINKS_TABLE,))
    project.materialize_unpartitioned()
    run = project.materialize_unpartitioned()
    result.record(
        "project_reconcile_sql", "project_conversations reconcile, nothing changed: SQL", "s", run.sql_seconds
    )
    record_checks_sql(result, "project_reconcile", "project_conversations reconcile, nothing changed", run)
    moved = "one conversation moved to another project, the sensor's scoped project run"
    for attempt in range(bench.short_repeats):
        report(f"{moved} ({attempt + 1}/{bench.short_repeats})")
        run = project.materialize_unpartitioned(
            scoped_run_config([_move_one_conversation(scratch)], PROJECT_LINK_ASSETS)
        )
        result.record("project_scoped_sql", f"{moved}: SQL", "s", run.sql_seconds)
        result.record("project_scoped_rows_written", f"{moved}: rows written", "rows", run.rows_written)
        record_checks_sql(result, "project_scoped", moved, run)
    with connect(scratch.url, autocommit=True) as conn:
        for table in LINK_TABLES:
            conn.execute(
                scratch.benchmark_sql("bench/vacuum_analyze_table.sql", schema=scratch.source_schema, table=table)
            )
    report(f"app read latency over up to {bench.read_samples:,} random ids per question, each way")
    latencies = measure_read_latencies(
        scratch.url,
        scratch.source_schema,
        samples=bench.read_samples,
        budget_seconds=READ_BUDGET_SECONDS,
        report=report,
    )
    result.reads = [latency.as_row() for latency in latencies]
    result.read_speedups = {key: round(ratio, 1) for key, ratio in speedups(latencies).items()}
    result.record("round_trip", "round trip of `select 1` (floor of any read)", "s", round_trip_seconds(scratch.url))


def _scoped_run(scratch: Scratch, runner: DagsterRunner, day: date) -> DagsterRun:
    """One late change on `day`, then the run the late-change sensor launches for it."""
    conversation = make_one_change(scratch, day)
    return runner.materialize_partition(day, run_config=scoped_run_config([conversation]))


def _move_one_conversation(scratch: Scratch) -> str:
    """An app moving one conversation to another project, as the freshness samples do; returns its id."""
    with connect(scratch.url) as conn:
        for _ in range(PICK_TRIES):
            pivots = {"conversation_pivot": uuid.uuid4(), "project_pivot": uuid.uuid4()}
            moved = conn.execute(
                FreshnessTarget(scratch.url, scratch.source_schema, scratch.analytics_schema).render(
                    "update_conversation_moving_to_another_project.sql"
                ),
                pivots,
            ).fetchone()
            if moved is not None:
                conn.commit()
                return str(moved[1])
    raise BenchError(f"no conversation could be moved to another project after {PICK_TRIES} tries")
