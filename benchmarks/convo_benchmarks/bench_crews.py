"""A discovery tick over many crews: 1,000 crews beside the bench's own, seeded in PostgreSQL, then ticks timed.

The crews are mixed as an application's are (benchmarks/convo_benchmarks/sql/bench/create_many_crews_plan.sql): most empty or small, a few
large, a few with bad rows, one whose table is missing. One full discovery of today gives every crew its watermark;
then, `repeats` times, a few crews get a new session and one discovery tick runs through Dagster as the schedule's
would: its SQL seconds (the assets' `sql_seconds`, as `tick_sql`) are `discovery_tick_1000_crews_sql`. The crews, their
tables and their analytics rows are removed afterwards, so the rest of the bench sees the crews it seeded.
`convo-pipelines bench --only-crews` measures this alone after the seed.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from convo_pipelines.defs.histories.schedules import discovery_tick_run_config
from convo_pipelines.lib.postgres.db import connect

if TYPE_CHECKING:
    from collections.abc import Callable

    from convo_benchmarks.bench_runs import DagsterRun, DagsterRunner
    from convo_benchmarks.bench_scratch import Scratch

MANY_CREWS = 1000
CREW_PREFIX = "bench_crew_"
# Each large crew (one in 200) holds this many messages, spread over the bench's days up to now.
LARGE_CREW_MESSAGES = 20_000
# Crews are created in transactions of this many: each holds a lock per table and index until it commits, and the
# server's lock table is shared (max_locks_per_transaction times max_connections).
CREWS_PER_TRANSACTION = 100
# Before each tick, one crew in this many of those with messages gets a new session.
TICK_EVERY_NTH_CREW = 20
TICK_MESSAGES_PER_SESSION = 4


def time_many_crews(
    scratch: Scratch,
    runner: DagsterRunner,
    *,
    days: int,
    ticks: int,
    record: Callable[..., None],
    report: Callable[[str], None],
    crews: int = MANY_CREWS,
) -> None:
    """Seed `crews` crews over `days` days, discover today fully once through `runner` (the histories' assets), then
    time `ticks` discovery ticks that find new sessions; each figure goes to `record` (BenchReport.record)."""
    report(f"histories: seeding {crews:,} crews")
    started = time.perf_counter()
    seed_many_crews(scratch, crews=crews, days=days)
    record("seed_many_crews", f"seed {crews:,} crews (tables, rows, crews rows)", "s", time.perf_counter() - started)
    try:
        today = datetime.now(UTC).date()
        report(f"histories: full discovery of today over {crews:,} crews")
        full = runner.materialize_partition(today)
        record(
            "discovery_full_1000_crews_sql",
            f"full discovery of today, {crews:,} crews: SQL",
            "s",
            full.sql_seconds,
            note=crews_note(full),
        )
        for attempt in range(ticks):
            report(f"histories: discovery tick over {crews:,} crews ({attempt + 1}/{ticks})")
            # The sessions' own day: after midnight a tick of the day the full discovery read would find none.
            sessions, day = add_tick_sessions(scratch)
            tick = runner.materialize_partition(day, run_config=discovery_tick_run_config())
            label = f"discovery tick, {crews:,} crews, {sessions} with a new session"
            record("discovery_tick_1000_crews_sql", f"{label}: SQL", "s", tick.sql_seconds, note=crews_note(tick))
            record("discovery_tick_1000_crews_steps", f"{label}: the asset steps", "s", tick.step_seconds)
            record("discovery_tick_1000_crews_checks_sql", f"{label}: the checks' SQL", "s", tick.checks_sql_seconds)
            record(
                "discovery_tick_1000_crews_peak_rss", f"{label}: peak RSS of the run process", "MB", tick.peak_rss_mb
            )
            record(
                "discovery_tick_1000_crews_sessions_found",
                f"{label}: sessions found",
                "sessions",
                tick.figure("conversation_summaries", "rows_inserted_in_window"),
            )
    finally:
        remove_many_crews(scratch)
        report(f"histories: removed the {crews:,} crews")


def crews_note(run: DagsterRun) -> str:
    """How many crews each discovery asset merged, found nothing new in, or skipped, and its SQL."""
    return "; ".join(
        f"{asset}: {metadata.get('crews_merged', metadata.get('crews_processed', '?'))} merged, "
        f"{metadata.get('crews_without_new_rows', 0)} without new rows, {metadata.get('crews_failed', 0)} skipped, "
        f"{float(metadata.get('sql_seconds', 0.0)) * 1000:.0f} ms of SQL"
        for asset, metadata in run.metadata.items()
        if "crews_failed" in metadata
    )


def seed_many_crews(scratch: Scratch, *, crews: int, days: int) -> None:
    """`crews` crews and their histories tables, in transactions of CREWS_PER_TRANSACTION crews."""
    with connect(scratch.url) as conn:
        for first in range(1, crews + 1, CREWS_PER_TRANSACTION):
            with conn.transaction():
                conn.execute(
                    scratch.benchmark_sql("bench/create_many_crews_plan.sql"),
                    {
                        "first": first,
                        "last": min(first + CREWS_PER_TRANSACTION - 1, crews),
                        "prefix": CREW_PREFIX,
                        "source_schema": scratch.source_schema,
                        "missing_table_crew": crews // 2,
                        "large_messages": LARGE_CREW_MESSAGES,
                        "days": days,
                    },
                )
                conn.execute(scratch.benchmark_sql("bench/create_many_crews_tables.sql"))
                conn.execute(scratch.benchmark_sql("bench/insert_many_crews.sql"))


def add_tick_sessions(scratch: Scratch) -> tuple[int, date]:
    """One new session, written now, in every TICK_EVERY_NTH_CREW-th crew with messages, in one transaction; returns
    how many crews got one and the UTC day of their messages (the partition a tick must read)."""
    with connect(scratch.url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                scratch.benchmark_sql("bench/select_many_crews_with_messages.sql"),
                {"schema": scratch.source_schema, "prefix": CREW_PREFIX, "every": TICK_EVERY_NTH_CREW},
            )
        ]
        for table in tables:
            conn.execute(
                scratch.benchmark_sql("bench/insert_new_histories_sessions.sql", histories_table=table),
                {"sessions": 1, "messages_per_session": TICK_MESSAGES_PER_SESSION},
            )
        written = conn.execute(scratch.benchmark_sql("bench/select_database_now.sql")).fetchone()[0]
    return len(tables), written.astimezone(UTC).date()


def remove_many_crews(scratch: Scratch) -> None:
    """The crews, their analytics rows, and their tables (CREWS_PER_TRANSACTION a transaction)."""
    with connect(scratch.url) as conn:
        with conn.transaction():
            conn.execute(scratch.benchmark_sql("bench/delete_many_crews.sql"), {"prefix": CREW_PREFIX})
        while True:
            with conn.transaction():
                listed = conn.execute(
                    scratch.benchmark_sql("bench/create_many_crews_drop_list.sql"),
                    {"schema": scratch.source_schema, "prefix": CREW_PREFIX, "tables": CREWS_PER_TRANSACTION},
                ).rowcount
                conn.execute(scratch.benchmark_sql("bench/drop_many_crews_tables.sql"))
            if not listed:
                return
