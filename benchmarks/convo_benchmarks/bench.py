"""`convo-pipelines bench`: seed a scratch location and measure the link tables and the histories end to end.

Every figure comes from one run on one machine, so ratios are fair. Link tables: the first full
backfill through Dagster (the CLI, the same code path as a UI backfill) split into SQL time and
Dagster overhead, a re-run with nothing changed, one day's partition after one change, the
sensor's scoped run, the read side alone, the plain set-based floor, the seeds' batches of 500.
Histories: the first full backfill, a re-run with nothing changed, and a discovery tick that finds
10 new sessions. Plus peak RSS of the run processes, and table and index sizes. Each timing is the
median of `repeats` runs (at least SHORT_RUN_REPEATS for those that take seconds at any scale: a
one-day partition, a scoped run, a discovery tick), with min and max. Last, an app workload (reads and writes every 50 ms, and a
lock monitor) runs beside a first fill, a range re-run, the project reconcile and a histories backfill,
then alone: the app's longest statement with each run against that baseline, and the longest lock
wait the pipeline caused. Unless skipped, a logical subscriber (bench_replication.py) is attached to the
Front link tables for more first fills: alone (its catch-up after the fill, its peak lag during it,
both copies compared), and beside the app (the app's longest statement with a subscriber attached).

The runs keep their events in Dagster's storage as the project's dagster.yaml configures it (in
PostgreSQL, each process keeping its connections); the scoped run and the discovery tick run again
on dagster-postgres' stock storage (a connection per storage operation) for Dagster's share beside it.

The scratch location is a new database on the embedded server, or, under DATABASE_URL, three new
schemas in that database (source, analytics, Dagster's storage; so the role needs CREATE on the
database, not CREATEDB); either is dropped afterwards, also on failure or Ctrl-C. The subscriber needs
wal_level = logical: the bench sets it on an embedded server it started (and resets it after), and
fails in one line on a server it did not start that lacks it.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from convo_benchmarks.bench_app_beside_runs import bench_app_beside_runs
from convo_benchmarks.bench_contenders import Contenders
from convo_benchmarks.bench_context import APP_INTERVAL, READ_IDS, BenchContext, Report
from convo_benchmarks.bench_discovery import bench_discovery_freshness
from convo_benchmarks.bench_freshness import FRESHNESS_SAMPLES_PER_KIND
from convo_benchmarks.bench_freshness_runs import bench_freshness
from convo_benchmarks.bench_histories import bench_histories, bench_many_crews
from convo_benchmarks.bench_link_tables import bench_link_tables
from convo_benchmarks.bench_records import BenchReport, code_revision, machine_facts, server_version
from convo_benchmarks.bench_replication import subscriber_server, wal_level
from convo_benchmarks.bench_scratch_location import dagster_homes, dagster_storage, scratch_location, server_settings
from convo_benchmarks.bench_scratch_sql import histories_source_tables
from convo_benchmarks.bench_subscriber import bench_subscriber
from convo_pipelines.lib.embedded.demo_histories import seed_histories
from convo_pipelines.lib.embedded.demo_seed import MAX_MESSAGES_PER_CONVERSATION, seed_demo
from convo_pipelines.lib.postgres.db import connect, count_rows
from convo_pipelines.lib.settings import Settings

# The performance aims (bench_verdicts.py) are set for 1,000,000 conversations and 10,000,000 history rows.
HISTORY_ROWS_PER_CONVERSATION = 10
HISTORY_CREWS = 3


def run_links_bench(
    *,
    conversations: int,
    days: int,
    seed: int,
    repeats: int,
    settings: Settings,
    max_messages: int | None = None,
    history_rows: int | None = None,
    report: Report = print,
    batches: bool = True,
    read_ids: int = READ_IDS,
    command: str = "",
    app_interval: float = APP_INTERVAL,
    replication: bool = True,
    freshness_samples: int = FRESHNESS_SAMPLES_PER_KIND,
    only_freshness: bool = False,
    only_crews: bool = False,
    only_discovery: bool = False,
    contenders: Contenders = "all",
    one_first_fill: bool = False,
    server: dict[str, str] | None = None,
    save: Callable[[BenchReport], None] | None = None,
) -> BenchReport:
    """Seed a scratch location and measure every link-table figure, then the histories' (unless history_rows is 0),
    then a logical subscriber's catch-up after first fills (`bench_subscriber`, unless `replication` is off), then
    what an app working beside the runs waits (`bench_app_beside_runs`, last: its writes change the data).

    `history_rows` defaults to HISTORY_ROWS_PER_CONVERSATION per conversation. After the seed, `only_freshness`
    measures the freshness alone, `only_discovery` a new session's freshness alone (`bench_discovery_freshness`), and
    `only_crews` the discovery over many crews alone (`bench_many_crews`), on a
    server it does not switch to wal_level = logical: it attaches no subscriber.

    `contenders` "none" leaves out the plain floor, the materialized views, dbt and the seeds' batches, and "view
    build" all of them but the views' build; with
    `one_first_fill` the Front links' first fill is timed once, beside the app workload (both of its figures
    from the one run). `save` is given the report so far after each part, so a long run that fails late
    keeps what it measured. `server` sets settings on the embedded server for the run (bench_server.py).
    """
    save = save or (lambda _: None)
    if history_rows is None:
        history_rows = conversations * HISTORY_ROWS_PER_CONVERSATION
    result = BenchReport(
        conversations=conversations,
        history_rows=history_rows,
        days=days,
        seed=seed,
        max_messages=max_messages or MAX_MESSAGES_PER_CONVERSATION,
        machine=machine_facts(),
        only="freshness" if only_freshness else "crews" if only_crews else "discovery" if only_discovery else "",
        contenders=contenders != "none",
        first_fill_beside_app=one_first_fill,
        revision=code_revision(),
    )
    with (
        scratch_location(
            settings, report, logical=replication and not (only_crews or only_discovery), server=server
        ) as scratch,
        tempfile.TemporaryDirectory(prefix="convo_bench_") as home,
        dagster_storage(scratch),
    ):
        project_home, stock_home = dagster_homes(Path(home))
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        bench = BenchContext(
            scratch,
            project_home,
            stock_home,
            end,
            days,
            repeats,
            report,
            read_ids,
            log_dir=settings.convo_home,
            app_interval=app_interval,
        )
        result.command = command
        result.machine["postgres"] = server_version(scratch.url)
        result.machine["wal_level"] = wal_level(scratch.url)
        result.machine["server_settings"] = server_settings(scratch)
        result.machine["server_settings_set_by_bench"] = dict(server or {})
        seed_scratch(bench, result, conversations=conversations, history_rows=history_rows, seed=seed)
        bench.app_histories_tables = histories_source_tables(scratch) if history_rows else []
        save(result)
        if only_freshness:
            bench_freshness(bench, result, samples_per_kind=freshness_samples)
            return result
        if only_crews:
            bench_many_crews(bench, result)
            return result
        if only_discovery:
            bench_discovery_freshness(bench, result)
            return result
        bench_link_tables(
            bench,
            result,
            batches=batches,
            contenders=contenders,
            one_first_fill=one_first_fill,
        )
        save(result)
        if history_rows:
            bench_histories(bench, result)
            bench_many_crews(bench, result)
            save(result)
        with subscriber_server(scratch, report) if replication else nullcontext() as subscriber:
            if subscriber is not None:
                bench_subscriber(bench, result, subscriber)
            bench_app_beside_runs(bench, result, subscriber=subscriber)
        save(result)
        if freshness_samples:
            bench_freshness(bench, result, samples_per_kind=freshness_samples)
        result.machine["checkpoint_before_bulk_measurements"] = bool(bench.settled)
        # App read latencies are measured inside bench_link_tables (bench_app_reads), while the link tables are
        # as the pipeline built them; the per-aim verdicts are rendered from the report by bench_verdicts.verdicts.
    return result


def seed_scratch(bench: BenchContext, result: BenchReport, *, conversations: int, history_rows: int, seed: int) -> None:
    """The demo's source tables (timed as `seed`), then the crews' histories (timed as `seed_histories`)."""
    scratch, report = bench.scratch, bench.report
    with connect(scratch.url) as conn:
        started = time.perf_counter()
        result.counts = seed_demo(
            conn,
            source_schema=scratch.source_schema,
            analytics_schema=scratch.analytics_schema,
            conversations=conversations,
            days=bench.days,
            max_messages=result.max_messages,
            seed=seed,
            end=bench.end,
            report=report,
        )
        result.record("seed", "seed-demo", "s", time.perf_counter() - started)
        result.counts["front_message_recipients"] = count_rows(conn, scratch.source_schema, "front_message_recipients")
        if not history_rows:
            return
        report(f"seeding {history_rows:,} history rows in {HISTORY_CREWS} crews")
        started = time.perf_counter()
        result.counts.update(
            seed_histories(
                conn,
                source_schema=scratch.source_schema,
                messages=history_rows,
                crews=HISTORY_CREWS,
                days=bench.days,
                seed=seed,
                end=bench.end,
                report=report,
            )
        )
        conn.commit()
        result.record("seed_histories", "seed histories", "s", time.perf_counter() - started)


def write_json(result: BenchReport, path: Path) -> None:
    path.write_text(json.dumps(result.as_dict(), indent=2, default=str))
