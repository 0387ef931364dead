"""The histories' measurements: first full backfill, re-run with nothing changed, a discovery tick finding new
sessions, and a discovery tick over many crews (bench_crews.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from convo_benchmarks.bench_backfills import STOCK_STORAGE_LABEL, bench_full_backfills, bench_reruns, record_checks_sql
from convo_benchmarks.bench_context import BenchContext
from convo_benchmarks.bench_crews import time_many_crews
from convo_benchmarks.bench_records import BenchReport
from convo_benchmarks.bench_runs import BenchError, DagsterRun, DagsterRunner
from convo_benchmarks.bench_scratch import Scratch
from convo_benchmarks.bench_scratch_sql import (
    histories_source_tables,
    scratch_row_count,
    table_sizes,
    truncate_histories_analytics,
)
from convo_pipelines.defs.histories.crews import load_crews
from convo_pipelines.defs.histories.jobs import HISTORIES_ASSETS
from convo_pipelines.defs.histories.schedules import discovery_tick_run_config
from convo_pipelines.defs.histories.tables import CONVERSATION_SUMMARIES, HISTORIES_SESSIONS
from convo_pipelines.lib.embedded.demo_histories import even_share
from convo_pipelines.lib.postgres.db import connect

HISTORIES_TABLES = (HISTORIES_SESSIONS, CONVERSATION_SUMMARIES)
TICK_NEW_SESSIONS = 10
TICK_MESSAGES_PER_SESSION = 4


def bench_histories(bench: BenchContext, result: BenchReport) -> None:
    """The histories assets: first full backfill, re-run with nothing changed, a discovery tick with 10 new sessions."""
    scratch, report, _repeats = bench.scratch, bench.report, bench.repeats
    runner = bench.runner(HISTORIES_ASSETS)
    bench_full_backfills(
        bench,
        result,
        runner,
        key="histories_",
        label="histories, ",
        empty_tables=lambda: truncate_histories_analytics(scratch),
    )
    result.counts.update(
        {table: scratch_row_count(scratch, scratch.analytics_schema, table) for table in HISTORIES_TABLES}
    )
    result.sizes += table_sizes(scratch, "source", scratch.source_schema, histories_source_tables(scratch))
    result.sizes += table_sizes(scratch, "analytics", scratch.analytics_schema, HISTORIES_TABLES)
    bench_reruns(bench, result, runner, key="histories_", label="histories, ")

    for attempt in range(bench.short_repeats):
        report(f"histories: discovery tick with {TICK_NEW_SESSIONS} new sessions ({attempt + 1}/{bench.short_repeats})")
        run = _discovery_tick(scratch, runner)
        tick = f"discovery tick, {TICK_NEW_SESSIONS} new sessions"
        mode = (
            f"histories_sessions mode: {run.metadata['histories_sessions'].get('mode', 'unknown')}; SQL / step: "
            + ", ".join(
                f"{asset} {float(metadata['sql_seconds']) * 1000:.0f} / {float(metadata['seconds']) * 1000:.0f} ms"
                for asset, metadata in run.metadata.items()
            )
        )
        result.record("tick_sql", f"{tick}: SQL", "s", run.sql_seconds, note=mode)
        result.record("tick_steps", f"{tick}: the asset steps (SQL, their Python, connections)", "s", run.step_seconds)
        result.record("tick_checks", f"{tick}: the checks", "s", run.checks_seconds)
        record_checks_sql(result, "tick", tick, run)
        result.record(
            "tick_overhead", f"{tick}: Dagster overhead (process start, bookkeeping)", "s", run.overhead_seconds
        )
        result.record("tick_rows_written", f"{tick}: rows written", "rows", run.rows_written)
        # A new session is a new summary row; the day's other sessions are already summarized.
        result.record(
            "tick_sessions_found",
            f"{tick}: sessions found",
            "sessions",
            run.figure("conversation_summaries", "rows_inserted_in_window"),
        )
        result.record("histories_peak_rss", "histories: peak RSS of the run process", "MB", run.peak_rss_mb)
    stock_runner = bench.runner(HISTORIES_ASSETS, stock_storage=True)
    for attempt in range(bench.short_repeats):
        tick = f"discovery tick, {TICK_NEW_SESSIONS} new sessions{STOCK_STORAGE_LABEL}"
        report(f"histories: {tick} ({attempt + 1}/{bench.short_repeats})")
        run = _discovery_tick(scratch, stock_runner)
        result.record(
            "tick_stock_overhead", f"{tick}: Dagster overhead (process start, bookkeeping)", "s", run.overhead_seconds
        )


def bench_many_crews(bench: BenchContext, result: BenchReport) -> None:
    """A discovery tick over many crews (bench_crews.py) on the bench's scratch tables and days."""
    time_many_crews(
        bench.scratch,
        bench.runner(HISTORIES_ASSETS),
        days=bench.days,
        ticks=bench.short_repeats,
        record=result.record,
        report=bench.report,
    )


def _discovery_tick(scratch: Scratch, runner: DagsterRunner) -> DagsterRun:
    """TICK_NEW_SESSIONS new chat sessions, then a discovery tick's run of today."""
    written = _insert_new_sessions(scratch, TICK_NEW_SESSIONS)
    if written < TICK_NEW_SESSIONS:
        raise BenchError(
            f"wrote {written} new chat sessions for the discovery tick instead of {TICK_NEW_SESSIONS}: no crew?"
        )
    today = datetime.now(UTC).date()
    return runner.materialize_partition(today, run_config=discovery_tick_run_config())


def _insert_new_sessions(scratch: Scratch, sessions: int) -> int:
    """Write `sessions` new chat sessions, spread over the crews, in each crew's own message shape; returns how many."""
    with connect(scratch.url) as conn:
        crews = load_crews(conn, scratch.source_schema)
        if not crews:
            return 0
        session_ids: set[str] = set()
        for index, crew in enumerate(crews):
            rows = conn.execute(
                scratch.benchmark_sql(
                    "bench/insert_new_histories_sessions.sql", histories_table=crew.histories_table_name
                ),
                {
                    "sessions": even_share(sessions, len(crews), index),
                    "messages_per_session": TICK_MESSAGES_PER_SESSION,
                },
            ).fetchall()
            session_ids.update(row[0] for row in rows)
        return len(session_ids)
