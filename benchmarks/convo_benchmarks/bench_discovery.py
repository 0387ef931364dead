"""How soon a new chat session is right in conversation_summaries: an agent's commit to its session's summary, through
the real daemon at its defaults (the discovery sensor every CONVERSATION_DISCOVERY_SENSOR_SECONDS, the project's
dagster.yaml), with 1,000 crews beside the bench's own (bench_crews.py's mix, all dated by created_at) plus
N8N_CREWS crews on tables made as n8n makes its own (dated by id).

One full discovery of today first gives every crew its watermark and ranges. The tick's SQL is then timed alone
(the catalog read and every crew's newest-row probe: `discovery_sensor_tick_1000_crews_sql`). Then, one after the
other, `samples` new sessions of SAMPLE_MESSAGES messages, written in one transaction each to a crew taken in turn
from the n8n crews and from the created_at crews, are polled for in conversation_summaries until their message count
is right: `discovery_freshness_p50` / `_p95` / `_max`, and each sample's PARTS at p50 and p95 (bench_parts.py).
`convo-pipelines bench --only-discovery` measures this after the seed (the full bench leaves it out: it restarts the
daemon and seeds 1,000 crews again, minutes on top).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import dagster as dg

from convo_benchmarks.bench_crews import CREW_PREFIX, MANY_CREWS, remove_many_crews, seed_many_crews
from convo_benchmarks.bench_freshness import (
    POLL_SECONDS,
    SAMPLE_TIMEOUT_SECONDS,
    running_daemon,
    wait_for_sensor_cursor,
)
from convo_benchmarks.bench_parts import nearest_rank, parts_summary, record_parts, sensor_run_parts
from convo_benchmarks.bench_runs import DagsterRunner
from convo_benchmarks.bench_scratch import Scratch
from convo_pipelines.defs.histories.jobs import HISTORIES_ASSETS
from convo_pipelines.defs.histories.sensors import DISCOVERY_SENSOR_NAME, newest_rows, probed_tables
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.session import Session


class DiscoveryBench(Protocol):
    """What this part of the benchmark reads of the bench's context (bench_context.BenchContext)."""

    scratch: Scratch
    report: Callable[[str], None]
    days: int
    short_repeats: int
    dagster_home: Path
    log_dir: Path

    @property
    def start(self) -> object: ...

    def runner(self, assets: tuple[str, ...]) -> DagsterRunner: ...


class Recorder(Protocol):
    """Where the figures go (bench_records.BenchReport)."""

    def record(self, key: str, name: str, unit: str, value: float, note: str = "") -> None: ...


# Crews on n8n-made tables, their codes (and tables) CREW_PREFIX + "n8n_" + number, removed with the many crews.
N8N_CREWS = 10
N8N_PREFIX = f"{CREW_PREFIX}n8n_"
DISCOVERY_SAMPLES = 20
SAMPLE_MESSAGES = 4
# The parts of a sample, in order; their seconds add up to the whole but for the poll's granularity.
PARTS = (
    ("sensor", "commit to the discovery sensor's first run after it (the sensor's interval and tick)"),
    ("queue", "that run queued and launched (the run queue's dequeue, the run process's start to RUN_START)"),
    ("run", "RUN_START to the session right in conversation_summaries (the steps before it, the run's SQL)"),
)


@dataclass(frozen=True)
class DiscoverySample:
    """One new session's wait: where it was written, and when (epoch seconds) it was committed and first seen right."""

    table: str
    session_id: str
    committed: float
    right_at: float | None  # None: not right within SAMPLE_TIMEOUT_SECONDS

    @property
    def seconds(self) -> float:
        """The sample's figure: commit to right summary, SAMPLE_TIMEOUT_SECONDS when it never got there."""
        return SAMPLE_TIMEOUT_SECONDS if self.right_at is None else self.right_at - self.committed


def bench_discovery_freshness(
    bench: DiscoveryBench, result: Recorder, *, samples: int = DISCOVERY_SAMPLES, crews: int = MANY_CREWS
) -> list[DiscoverySample]:
    """Seed the crews, discover today fully once, time the sensor tick's SQL, then measure `samples` sessions'
    freshness; returns the samples, in order."""
    scratch, report = bench.scratch, bench.report
    report(f"discovery freshness: seeding {crews:,} crews and {N8N_CREWS} n8n crews")
    seed_many_crews(scratch, crews=crews, days=bench.days)
    try:
        n8n_tables = create_n8n_crews(scratch)
        created_at_tables = crews_with_tables(scratch, crews)
        report("discovery freshness: full discovery of today")
        bench.runner(HISTORIES_ASSETS).materialize_partition(datetime.now(UTC).date())
        for _ in range(bench.short_repeats):
            seconds, probed = time_sensor_tick_sql(scratch)
            result.record(
                "discovery_sensor_tick_1000_crews_sql",
                f"discovery sensor tick, {probed:,} crews probed: SQL (catalog and newest-row probes)",
                "s",
                seconds,
            )
        environment = {
            **os.environ,
            **scratch.run_environment(),
            "DAGSTER_HOME": str(bench.dagster_home),
            "PARTITIONS_START_DATE": bench.start.isoformat(),
        }
        log = bench.log_dir / "bench_discovery_daemon.log"
        instance = dg.DagsterInstance.from_config(str(bench.dagster_home))
        measured: list[DiscoverySample] = []
        parts: dict[str, list[float]] = {}
        missed = 0
        with running_daemon(environment, log, report) as daemon:
            wait_for_sensor_cursor(instance, daemon, log, DISCOVERY_SENSOR_NAME)
            for number in range(samples):
                n8n = number % 2 == 0
                tables = n8n_tables if n8n else created_at_tables
                table = tables[(number // 2) % len(tables)]
                sample = one_session(scratch, table, n8n=n8n)
                measured.append(sample)
                missed += sample.right_at is None
                split_up = (
                    None
                    if sample.right_at is None
                    else sensor_run_parts(instance, DISCOVERY_SENSOR_NAME, sample.committed, sample.right_at)
                )
                for part, value in (split_up or {}).items():
                    parts.setdefault(part, []).append(value)
                split = ", ".join(f"{part} {value:.1f} s" for part, value in (split_up or {}).items())
                report(f"discovery freshness {number + 1}/{samples} ({table}): {sample.seconds:.1f} s ({split})")
        figures = [sample.seconds for sample in measured]
        note = f"{samples} sessions, half in n8n crews (dated by id); missed: {missed}"
        for key, name, value in (
            ("discovery_freshness_p50", "discovery: agent commit to right summary, p50", nearest_rank(figures, 0.5)),
            ("discovery_freshness_p95", "discovery: agent commit to right summary, p95", nearest_rank(figures, 0.95)),
            ("discovery_freshness_max", "discovery: agent commit to right summary, max", max(figures)),
        ):
            result.record(key, name, "s", value, note=note)
        record_parts(result, "discovery_freshness", "discovery freshness", PARTS, parts)
        report(
            f"discovery freshness over {samples} sessions: p50 {nearest_rank(figures, 0.5):.1f} s, "
            f"p95 {nearest_rank(figures, 0.95):.1f} s ({parts_summary(parts)})"
        )
        return measured
    finally:
        remove_many_crews(scratch)
        with connect(scratch.url) as conn:
            conn.execute(scratch.benchmark_sql("bench/delete_many_crews_id_ranges.sql"), {"prefix": CREW_PREFIX})
            conn.commit()
        report(f"discovery freshness: removed the {crews:,} crews")


def create_n8n_crews(scratch: Scratch) -> list[str]:
    """N8N_CREWS crews on n8n-made tables, each with a first session; returns their tables (also their codes)."""
    tables = [f"{N8N_PREFIX}{number:02d}" for number in range(1, N8N_CREWS + 1)]
    with connect(scratch.url) as conn:
        for table in tables:
            conn.execute(scratch.benchmark_sql("bench/create_n8n_histories_table.sql", histories_table=table))
            conn.execute(scratch.benchmark_sql("bench/insert_n8n_crew.sql"), {"code": table})
            conn.execute(scratch.benchmark_sql("bench/insert_n8n_session.sql", histories_table=table), {"messages": 2})
        conn.commit()
    return tables


def crews_with_tables(scratch: Scratch, crews: int) -> list[str]:
    """The many crews' tables that exist and hold messages, every 50th (a sample spread over the crews)."""
    with connect(scratch.url) as conn:
        return [
            row[0]
            for row in conn.execute(
                scratch.benchmark_sql("bench/select_many_crews_with_messages.sql"),
                {"schema": scratch.source_schema, "prefix": CREW_PREFIX, "every": max(1, crews // 20)},
            )
        ]


def time_sensor_tick_sql(scratch: Scratch) -> tuple[float, int]:
    """The seconds of one tick's SQL as the sensor runs it (catalog read, then the probes), and the crews probed."""
    with connect(scratch.url) as conn:
        session = Session(conn, scratch.source_schema, scratch.analytics_schema)
        started = time.perf_counter()
        tables, _ = probed_tables(session)
        newest_rows(session, tables, print)
        return time.perf_counter() - started, len(tables)


def one_session(scratch: Scratch, table: str, *, n8n: bool) -> DiscoverySample:
    """Write one session of SAMPLE_MESSAGES messages to `table` in one transaction; the sample: the session, and the
    epoch seconds of its commit and of the poll that first saw its summary have them all (None after
    SAMPLE_TIMEOUT_SECONDS)."""
    with connect(scratch.url) as agent:
        if n8n:
            statement = scratch.benchmark_sql("bench/insert_n8n_session.sql", histories_table=table)
            rows = agent.execute(statement, {"messages": SAMPLE_MESSAGES}).fetchall()
        else:
            statement = scratch.benchmark_sql("bench/insert_new_histories_sessions.sql", histories_table=table)
            rows = agent.execute(statement, {"sessions": 1, "messages_per_session": SAMPLE_MESSAGES}).fetchall()
        agent.commit()
    committed = time.time()
    poll = scratch.benchmark_sql("bench/select_summary_message_count.sql")
    session_id = rows[0][0]
    params = {"crew_code": crew_of(scratch, table), "session_id": session_id}
    with connect(scratch.url, autocommit=True) as poller:
        while time.time() - committed < SAMPLE_TIMEOUT_SECONDS:
            if poller.execute(poll, params).fetchone() == (SAMPLE_MESSAGES,):
                return DiscoverySample(table, session_id, committed, time.time())
            time.sleep(POLL_SECONDS)
    return DiscoverySample(table, session_id, committed, None)


def crew_of(scratch: Scratch, table: str) -> str:
    with connect(scratch.url) as conn:
        return conn.execute(scratch.benchmark_sql("bench/select_crew_code_of_table.sql"), {"table": table}).fetchone()[
            0
        ]
