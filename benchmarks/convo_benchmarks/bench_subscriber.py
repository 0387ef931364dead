"""First fills of the Front link tables with a logical subscriber attached (bench_replication.py), and a
subscribed fill's figures in the report."""

from __future__ import annotations

from convo_benchmarks.bench_context import BenchContext
from convo_benchmarks.bench_records import BenchReport
from convo_benchmarks.bench_replication import SubscribedFill, SubscriberServer
from convo_benchmarks.bench_replication_figures import ReplicationFigures
from convo_benchmarks.bench_scratch_sql import reset_front_links_to_never_filled
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS


def bench_subscriber(bench: BenchContext, result: BenchReport, subscriber: SubscriberServer) -> None:
    """`repeats` first fills of the Front link tables with a new logical subscription attached and nothing else
    running: the fill's SQL, the subscriber's peak lag during it, its catch-up after it, both copies compared."""
    for attempt in range(bench.repeats):
        bench.report(f"first full backfill with a logical subscriber attached ({attempt + 1}/{bench.repeats})")
        reset_front_links_to_never_filled(bench.scratch)
        bench.settle()
        label = "first fill, nothing else running" + (f" ({attempt + 1}/{bench.repeats})" if bench.repeats > 1 else "")
        fill = SubscribedFill(subscriber, bench.runner(FRONT_LINK_ASSETS), label, bench.report)
        with fill.attached():
            run = fill.launch()
        result.record(
            "subscriber_full_backfill_sql",
            "first full backfill, a logical subscriber attached: SQL",
            "s",
            run.sql_seconds,
            note=run.modes(),
        )
        record_subscriber_figures(result, fill.figures)


def record_subscriber_figures(result: BenchReport, figures: ReplicationFigures, *, measured: bool = True) -> None:
    """A subscribed fill's figures in the JSON's `replication` list; `measured`: its catch-up and lag as measurements too."""
    result.replication.append(figures.as_dict())
    if not measured:
        return
    if figures.catch_up_seconds is not None:
        result.record(
            "subscriber_catch_up_after_first_fill",
            "logical subscriber: catch-up after the first fill's run ended (to the upstream's WAL position then)",
            "s",
            figures.catch_up_seconds,
        )
    result.record(
        "subscriber_peak_lag_during_first_fill",
        "logical subscriber: peak lag during the first fill",
        "s",
        figures.peak_lag_seconds,
    )
    result.record(
        "subscriber_peak_lag_wal_during_first_fill",
        "logical subscriber: peak WAL not yet confirmed during the first fill",
        "MB",
        figures.peak_lag_mb,
    )
