"""First full backfills and re-runs of a runner's assets through Dagster (the link tables' and the histories'):
their SQL, checks, Dagster overhead, rows written and peak memory."""

from __future__ import annotations

from collections.abc import Callable

from convo_benchmarks.bench_app_beside_runs import RERUN_AFTER_APP_LABEL, measure_beside_app, record_rerun_after_app
from convo_benchmarks.bench_context import BenchContext, RunBesideApp
from convo_benchmarks.bench_records import BenchReport
from convo_benchmarks.bench_runs import DagsterRun, DagsterRunner
from convo_benchmarks.bench_wal_kinds import record_wal_kinds, wal_of

# Names a measurement repeated on dagster-postgres' stock storage (a connection per operation) for comparison.
STOCK_STORAGE_LABEL = ", on dagster-postgres' stock storage"


def bench_full_backfills(
    bench: BenchContext,
    result: BenchReport,
    runner: DagsterRunner,
    *,
    key: str,
    label: str,
    empty_tables: Callable[[], None],
    beside_app: bool = False,
) -> None:
    """`repeats` first full backfills of the runner's assets into emptied tables; keys and names start with key / label.

    With `beside_app`, one first fill, with the app workload beside it: bench_app_beside_runs reports its app
    figures with the other runs'."""
    attempts = 1 if beside_app else bench.repeats
    for attempt in range(attempts):
        bench.report(f"{label}first full backfill through Dagster ({attempt + 1}/{attempts})")
        empty_tables()
        bench.settle()
        if beside_app:
            fill = RunBesideApp("first_fill", "first fill of the Front link tables", runner.materialize_range)
            bench.first_fill_beside_app = measure_beside_app(bench, fill, failure_is_finding=False)
            run = bench.first_fill_beside_app.dagster_run
        else:
            run, written, kinds = wal_of(bench.scratch, bench.report, runner.materialize_range)
            result.record(f"{key}full_backfill_wal", f"{label}first full backfill: WAL the server wrote", "MB", written)
            record_wal_kinds(result, f"{key}full_backfill_wal", f"{label}first full backfill", kinds)
        result.record(
            f"{key}full_backfill_sql", f"{label}first full backfill: SQL", "s", run.sql_seconds, note=run.modes()
        )
        result.record(
            f"{key}full_backfill_checks",
            f"{label}first full backfill: the checks of the range",
            "s",
            run.checks_seconds,
        )
        record_checks_sql(result, f"{key}full_backfill", f"{label}first full backfill", run)
        result.record(
            f"{key}full_backfill_steps",
            f"{label}first full backfill: the asset steps, STEP_START to STEP_SUCCESS",
            "s",
            run.dagster.steps(runner.assets),
        )
        result.record(
            f"{key}full_backfill_whole",
            f"{label}first full backfill: the whole `dagster asset materialize` (process start included)",
            "s",
            run.wall_seconds,
        )
        result.record(
            f"{key}full_backfill_overhead",
            f"{label}first full backfill: Dagster overhead (process start, bookkeeping)",
            "s",
            run.overhead_seconds,
        )
        result.record(f"{key}peak_rss", f"{label}peak RSS of the run process", "MB", run.peak_rss_mb)


def record_checks_sql(result: BenchReport, key: str, label: str, run: DagsterRun) -> None:
    """The time the run's checks spent in PostgreSQL, beside the run's own SQL (`<key>_sql`)."""
    result.record(f"{key}_checks_sql", f"{label}: the checks' SQL", "s", run.checks_sql_seconds)


def bench_reruns(bench: BenchContext, result: BenchReport, runner: DagsterRunner, *, key: str, label: str) -> None:
    """`repeats` runs of the whole range again with nothing changed: their SQL and the rows they wrote (0 when exact)."""
    for attempt in range(bench.repeats):
        bench.report(f"{label}re-run with nothing changed ({attempt + 1}/{bench.repeats})")
        bench.settle()
        run = runner.materialize_range()
        result.record(f"{key}rerun_sql", f"{label}re-run, nothing changed: SQL", "s", run.sql_seconds)
        result.record(
            f"{key}rerun_rows_written", f"{label}re-run, nothing changed: rows written", "rows", run.rows_written
        )
        record_checks_sql(result, f"{key}rerun", f"{label}re-run, nothing changed", run)
        result.record(f"{key}peak_rss", f"{label}peak RSS of the run process", "MB", run.peak_rss_mb)


def bench_rerun_after_app(bench: BenchContext, result: BenchReport, runner: DagsterRunner) -> None:
    """A re-run that takes in what the app wrote beside a first fill (people re-created, recipients added: about
    one of each every `app_interval`, for as long as the fill ran), so that the re-runs after it find nothing
    changed, as after a first fill alone. Its figures are those of a nightly run after a day of app changes."""
    bench.report(RERUN_AFTER_APP_LABEL)
    bench.settle()
    run = runner.materialize_range()
    record_rerun_after_app(result, run, RERUN_AFTER_APP_LABEL)
    result.record("peak_rss", "peak RSS of the run process", "MB", run.peak_rss_mb)
