"""The app workload beside the pipeline's runs, then alone as the baseline: per run kind, the app's longest
statement against the baseline's, the longest lock wait the pipeline caused, the server's WAL and checkpoints."""

from __future__ import annotations

import time

from convo_benchmarks.bench_context import BenchContext, BesideOutcome, RunBesideApp
from convo_benchmarks.bench_records import BenchReport
from convo_benchmarks.bench_replication import SubscribedFill, SubscriberServer
from convo_benchmarks.bench_runs import BenchError, DagsterRun
from convo_benchmarks.bench_scratch_sql import (
    reset_front_links_to_never_filled,
    server_activity_since,
    truncate_histories_analytics,
    wal_and_requested_checkpoints,
)
from convo_benchmarks.bench_subscriber import record_subscriber_figures
from convo_pipelines.defs.histories.jobs import HISTORIES_ASSETS
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS
from convo_pipelines.defs.links.tables import PROJECT_LINKS_TABLE
from convo_pipelines_tests.app_workload import AppWorkload, measure_baseline
from convo_pipelines_tests.app_workload_report import EXCLUSIVE_LOCK_MODES, WorkloadReport

# The baseline (the same workload, no run) lasts as long as the longest run it is compared with, within these bounds:
# the longest of N statements grows with N, so a shorter baseline would flatter the runs.
APP_BASELINE_MIN_SECONDS = 10.0
APP_BASELINE_MAX_SECONDS = 120.0
RERUN_AFTER_APP_LABEL = "re-run after the app's changes beside the first fill"


def measure_beside_app(bench: BenchContext, run: RunBesideApp, *, failure_is_finding: bool = True) -> BesideOutcome:
    """Launch `run` (its tables emptied first, if it says how) with the app workload beside it.

    A run that fails is a finding of this part, not the end of the benchmark, unless not `failure_is_finding`."""
    scratch, report = bench.scratch, bench.report
    if run.empty_tables is not None:
        run.empty_tables()
    report(f"app workload (a statement of each kind every {bench.app_interval * 1000:.0f} ms) beside the {run.label}")
    failure, dagster_run = None, None
    # A subscriber's catch-up, as its context closes, comes after the app stopped and the server's activity was read.
    with run.attached():
        server_before = wal_and_requested_checkpoints(scratch)
        with AppWorkload(
            scratch.url, scratch.source_schema, interval=bench.app_interval, extra_tables=bench.app_histories_tables
        ) as app:
            started = time.perf_counter()
            try:
                dagster_run = run.launch()
            except BenchError as exc:
                if not failure_is_finding:
                    raise
                failure = str(exc)
                report(f"  the run FAILED beside the app: {failure}")
            seconds = time.perf_counter() - started
        server_activity = server_activity_since(scratch, server_before)
    workload = app.report()
    report(workload.summary())
    return BesideOutcome(run, workload, seconds, failure, server_activity, dagster_run)


def bench_app_beside_runs(
    bench: BenchContext, result: BenchReport, *, subscriber: SubscriberServer | None = None
) -> None:
    """The app workload (convo_pipelines_tests.app_workload) during a first fill with a logical subscriber attached
    (given `subscriber`), a first fill (unless bench_link_tables measured it beside the app already), a range
    re-run, the project reconcile and a histories backfill (when the histories are seeded), then alone for as
    long as the longest of them: per run kind, the app's longest statement against the baseline's, and the
    longest lock wait the pipeline caused.

    Runs last: the app's writes (people re-created, recipients added) change what the other figures measure.
    """
    scratch, report = bench.scratch, bench.report
    front = bench.runner(FRONT_LINK_ASSETS)
    runs = []
    subscribed = None
    if subscriber is not None:
        # First, so that the two first fills run back to back and the range re-run still follows the plain one.
        subscribed = SubscribedFill(subscriber, front, "first fill beside the app", report)
        runs.append(
            RunBesideApp(
                "first_fill_with_subscriber",
                "first fill of the Front link tables, a logical subscriber attached",
                subscribed.launch,
                lambda: reset_front_links_to_never_filled(scratch),
                subscribed.attached,
            )
        )
    if bench.first_fill_beside_app is None:
        runs.append(
            RunBesideApp(
                "first_fill",
                "first fill of the Front link tables",
                front.materialize_range,
                lambda: reset_front_links_to_never_filled(scratch),
            )
        )
    runs += [
        RunBesideApp("range_rerun", "range re-run of the Front link tables", front.materialize_range),
        RunBesideApp(
            "project_reconcile",
            "project_conversations reconcile",
            bench.runner((PROJECT_LINKS_TABLE,)).materialize_unpartitioned,
        ),
    ]
    if bench.app_histories_tables:
        runs.append(
            RunBesideApp(
                "histories_backfill",
                "histories backfill",
                bench.runner(HISTORIES_ASSETS).materialize_range,
                lambda: truncate_histories_analytics(scratch),
            )
        )
    outcomes = [bench.first_fill_beside_app] if bench.first_fill_beside_app is not None else []
    beside = {run.key: measure_beside_app(bench, run) for run in runs}
    outcomes += beside.values()
    record_catch_up_beside_app(result, beside)
    if subscribed is not None and subscribed.figures is not None:
        record_subscriber_figures(result, subscribed.figures, measured=False)
    longest_run = max(outcome.seconds for outcome in outcomes)
    baseline_seconds = min(max(longest_run, APP_BASELINE_MIN_SECONDS), APP_BASELINE_MAX_SECONDS)
    report(f"app workload alone for {baseline_seconds:.0f} s (the baseline)")
    baseline = measure_baseline(
        scratch.url,
        scratch.source_schema,
        baseline_seconds,
        interval=bench.app_interval,
        extra_tables=bench.app_histories_tables,
    )
    report(baseline.summary())
    result.record(
        "app_baseline_longest_statement",
        "app alone (baseline): longest statement",
        "s",
        baseline.longest_statement_ms / 1000,
    )
    for outcome in outcomes:
        key, label = outcome.run.key, outcome.run.label
        result.record(
            f"app_{key}_longest_statement",
            f"app beside the {label}: longest statement",
            "s",
            outcome.workload.longest_statement_ms / 1000,
        )
        result.record(
            f"app_{key}_pipeline_wait",
            f"app beside the {label}: longest lock wait caused by the pipeline",
            "s",
            outcome.workload.longest_pipeline_wait_ms / 1000,
        )
        result.app_beside_runs[key] = app_figures(
            label, outcome.workload, baseline, outcome.seconds, outcome.failure, outcome.modes, outcome.server_activity
        )


def record_catch_up_beside_app(result: BenchReport, beside: dict[str, BesideOutcome]) -> None:
    """The range re-run that follows a first fill beside the app takes in the app's changes made during that fill:
    the catch-up re-run, its figures recorded as bench_rerun_after_app records its own (which runs alone, after the
    only first fill of `--one-first-fill`)."""
    rerun = beside.get("range_rerun")
    if "first_fill" in beside and rerun is not None and rerun.dagster_run is not None:
        record_rerun_after_app(result, rerun.dagster_run, f"{RERUN_AFTER_APP_LABEL}, the app still beside it")


def record_rerun_after_app(result: BenchReport, run: DagsterRun, label: str) -> None:
    """The catch-up re-run's figures: what it cost and what it wrote (the app's changes it took in)."""
    result.record("rerun_after_app_sql", f"{label}: SQL", "s", run.sql_seconds)
    result.record("rerun_after_app_rows_written", f"{label}: rows written", "rows", run.rows_written)


def app_figures(
    label: str,
    workload: WorkloadReport,
    baseline: WorkloadReport,
    run_seconds: float,
    run_failure: str | None,
    run_modes: str,
    server_activity: dict[str, float],
) -> dict[str, object]:
    """One run kind's app figures for the JSON: the headline numbers, the WAL and checkpoints meanwhile
    (`server_activity_since`), then the workload's whole report."""
    return {
        "label": label,
        "run_seconds": round(run_seconds, 3),
        "run_failure": run_failure,
        "run_modes": run_modes,
        "longest_statement_ms": round(workload.longest_statement_ms, 3),
        "baseline_longest_statement_ms": round(baseline.longest_statement_ms, 3),
        "over_baseline_ms": round(workload.longest_statement_ms - baseline.longest_statement_ms, 3),
        "longest_pipeline_wait_ms": round(workload.longest_pipeline_wait_ms, 3),
        "statements": workload.statement_count(),
        "errors": workload.errors,
        "baseline_errors": baseline.errors,
        "exclusive_locks_on_source_tables": {
            table: sorted(locks) for table, locks in workload.pipeline_locks_in(EXCLUSIVE_LOCK_MODES).items()
        },
        "workload": workload.as_dict(),
        "baseline_seconds": baseline.seconds,
        **server_activity,
    }
