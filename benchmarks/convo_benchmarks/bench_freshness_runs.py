"""The freshness part of the bench: the real daemon (the late-change sensor at its default interval) and the app
workload beside it, timing an app's change to the right link row (bench_freshness.py), and, on a server at
wal_level = logical, to a Zero client's live query (bench_client_freshness.py); then hard deletes through the sync."""

from __future__ import annotations

import os

import dagster as dg

from convo_benchmarks.bench_client_freshness import measure_client_freshness, record_client_freshness, watching_client
from convo_benchmarks.bench_client_freshness import summary as client_freshness_summary
from convo_benchmarks.bench_context import BenchContext
from convo_benchmarks.bench_freshness import (
    FRESHNESS_APP_INTERVAL,
    HARD_DELETE,
    HARD_DELETE_SYNC_CRON,
    SAMPLE_TIMEOUT_SECONDS,
    measure_freshness,
    running_daemon,
    summary,
    wait_for_sensor_cursor,
)
from convo_benchmarks.bench_records import BenchReport
from convo_benchmarks.bench_sensor_tick import recommended_change_indexes
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS, PROJECT_LINK_ASSETS
from convo_pipelines_tests.app_changes import CHANGE_KINDS, FreshnessTarget
from convo_pipelines_tests.app_workload import AppWorkload


def bench_freshness(bench: BenchContext, result: BenchReport, *, samples_per_kind: int) -> None:
    """Seconds from an app's commit to the link row being right, through the real daemon (the late-change sensor
    at its default interval, the recommended indexes on the change stamps in place) beside the app workload at
    FRESHNESS_APP_INTERVAL: `samples_per_kind` changes of each CHANGE_KINDS kind; then as many hard deletes
    (HARD_DELETE), with a daemon whose link tables' sync runs every minute. Beside the first daemon, on a server at
    wal_level = logical, a real zero-cache and Zero client time the same kinds of change to the client's view
    (bench_client_freshness.py).

    The link tables are made whole first (a range run of the Front links, the project reconcile), recorded in
    the daemon's instance, so the sensor's runs are scoped as in production."""
    scratch, report = bench.scratch, bench.report
    report("freshness: the link tables made whole before the daemon starts")
    bench.runner(FRONT_LINK_ASSETS).materialize_range()
    bench.runner(PROJECT_LINK_ASSETS).materialize_unpartitioned()
    environment = {
        **os.environ,
        **scratch.run_environment(),
        "DAGSTER_HOME": str(bench.dagster_home),
        "PARTITIONS_START_DATE": bench.start.isoformat(),
    }
    log = bench.log_dir / "bench_freshness_daemon.log"
    instance = dg.DagsterInstance.from_config(str(bench.dagster_home))
    target = FreshnessTarget(scratch.url, scratch.source_schema, scratch.analytics_schema)
    # As the deployment docs ask: without them each tick reads every source table whole.
    client = None
    with (
        recommended_change_indexes(scratch),
        watching_client(scratch.url, scratch.source_schema, bench.log_dir, report) as watch,
    ):
        with running_daemon(environment, log, report) as daemon:
            wait_for_sensor_cursor(instance, daemon, log)
            # The app starts once the sensor follows changes: a sensor started beside a running app first
            # recomputes what the app wrote in the allowance before it, a catch-up rather than its pace.
            with AppWorkload(scratch.url, scratch.source_schema, interval=FRESHNESS_APP_INTERVAL) as workload:
                figures = measure_freshness(target, samples_per_kind, report)
                if watch is not None:
                    client = measure_client_freshness(watch, target, instance, samples_per_kind, report)
        report(f"freshness of hard deletes: the link tables' sync on `{HARD_DELETE_SYNC_CRON}`")
        with (
            running_daemon(
                environment, log.with_name("bench_freshness_sync_daemon.log"), report, sync_cron=HARD_DELETE_SYNC_CRON
            ),
            AppWorkload(scratch.url, scratch.source_schema, interval=FRESHNESS_APP_INTERVAL),
        ):
            hard_deletes = measure_freshness(target, samples_per_kind, report, kinds=(HARD_DELETE,))
    report(summary(figures))
    report(summary(hard_deletes))
    note = (
        f"{len(figures.all_seconds())} changes, {samples_per_kind} of each kind; missed: {sum(figures.missed.values())}"
    )
    for key, name, value in (
        ("freshness_p50", "freshness: app commit to right link row, p50", figures.percentile(0.5)),
        ("freshness_p95", "freshness: app commit to right link row, p95", figures.percentile(0.95)),
        ("freshness_max", "freshness: app commit to right link row, max", max(figures.all_seconds())),
    ):
        result.record(key, name, "s", value, note=note)
    for kinds, measured in ((CHANGE_KINDS, figures), ((HARD_DELETE,), hard_deletes)):
        for kind in kinds:
            missed = measured.missed.get(kind.key, 0)
            for value in measured.seconds.get(kind.key, []):
                note = f"{missed} of them not right after {SAMPLE_TIMEOUT_SECONDS:.0f} s" if missed else ""
                result.record(f"freshness_{kind.key}", f"freshness: {kind.label}", "s", value, note=note)
    if client is not None:
        report(client_freshness_summary(client))
        record_client_freshness(result, client, samples_per_kind)
    app = workload.report()
    result.record(
        "freshness_app_longest_statement",
        "freshness: the app's longest statement meanwhile",
        "ms",
        app.longest_statement_ms,
        note=f"longest lock wait the pipeline caused: {app.longest_pipeline_wait_ms:.1f} ms",
    )
