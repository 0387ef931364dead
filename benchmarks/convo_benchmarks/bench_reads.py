"""App-side read latency: the five questions apps ask, through the link tables and through the old joins.

Each question is timed over the same random ids both ways, from a client connection, so the figures
include the round trip and the fetch, not just the server's execution time. Every execution is
planned with its id (no generic plan): a generic plan of the old joins can walk the whole
conversation index for one client, which would make the comparison unfair to them.
The old joins cost up to hundreds of milliseconds per id, so each path stops after
`budget_seconds` even before `samples` ids; the row says how many ids it timed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from convo_benchmarks.sqlfiles import render_sql
from convo_pipelines.lib.postgres.db import connect

# Ids are drawn by hashing them with this salt, so every bench run reads the same ids of the same data.
SAMPLE_SALT = "convo-bench-reads"
WARM_UP_IDS = 20
MINIMUM_TIMED_IDS = 20


@dataclass(frozen=True)
class ReadQuestion:
    key: str
    label: str
    id_table: str  # the table the random ids come from

    def statement(self, path: str, source: str) -> psycopg.sql.Composed:
        return render_sql(f"bench/reads/{self.key}_via_{path}.sql", source=source, analytics=source)


READ_QUESTIONS = (
    ReadQuestion("conversation_people", "conversation -> people", "front_conversations"),
    ReadQuestion("conversation_clients", "conversation -> clients", "front_conversations"),
    ReadQuestion("person_newest_conversations", "person -> newest 50 conversations", "people"),
    ReadQuestion("client_newest_conversations", "client -> newest 50 conversations", "clients"),
    ReadQuestion("project_conversations", "project -> conversations", "projects"),
)
PATHS = ("links", "joins")


@dataclass
class ReadLatency:
    question: ReadQuestion
    path: str
    milliseconds: list[float]

    def percentile(self, rank: int) -> float:
        if len(self.milliseconds) == 1:
            return self.milliseconds[0]
        return statistics.quantiles(self.milliseconds, n=100, method="inclusive")[rank - 1]

    def as_row(self) -> dict[str, object]:
        return {
            "question": self.question.key,
            "label": self.question.label,
            "path": self.path,
            "ids": len(self.milliseconds),
            **{f"p{rank}_ms": round(self.percentile(rank), 3) for rank in (50, 95, 99)},
            "max_ms": round(max(self.milliseconds), 3),
        }


def measure_read_latencies(
    url: str,
    source: str,
    samples: int = 1000,
    budget_seconds: float = 60.0,
    report: Callable[[str], object] = print,
) -> list[ReadLatency]:
    """Time every question of READ_QUESTIONS both ways over up to `samples` random ids each."""
    results = []
    with connect(url, autocommit=True) as conn:
        for question in READ_QUESTIONS:
            ids = random_ids(conn, source, question.id_table, samples)
            if not ids:
                continue
            for path in PATHS:
                timings = time_question(conn, question.statement(path, source), ids, budget_seconds)
                report(f"  {question.label} via {path}: {len(timings):,} ids")
                results.append(ReadLatency(question, path, timings))
    return results


def random_ids(conn: psycopg.Connection, source: str, table: str, samples: int) -> list[object]:
    statement = render_sql("bench/reads/select_random_ids.sql", source=source, analytics=source, table=table)
    return [row[0] for row in conn.execute(statement, {"salt": SAMPLE_SALT, "samples": samples})]


def time_question(
    conn: psycopg.Connection, statement: psycopg.sql.Composed, ids: list[object], budget_seconds: float
) -> list[float]:
    """Milliseconds per id (execute and fetch every row) after a short untimed warm-up, until the ids or the budget run out."""
    for warm_up_id in ids[:WARM_UP_IDS]:
        conn.execute(statement, {"id": warm_up_id}).fetchall()
    timings: list[float] = []
    deadline = time.perf_counter() + budget_seconds
    for entity_id in ids:
        started = time.perf_counter()
        conn.execute(statement, {"id": entity_id}).fetchall()
        timings.append((time.perf_counter() - started) * 1000)
        if started > deadline and len(timings) >= MINIMUM_TIMED_IDS:
            break
    return timings


def round_trip_seconds(url: str, times: int = 200) -> float:
    """Median seconds of `select 1` from the same kind of connection: no read can beat it."""
    with connect(url, autocommit=True) as conn:
        timings = []
        for _ in range(times):
            started = time.perf_counter()
            conn.execute("select 1").fetchall()
            timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def speedups(latencies: list[ReadLatency]) -> dict[str, float]:
    """p95 through the old joins divided by p95 through the link tables, per question."""
    by_key = {(latency.question.key, latency.path): latency for latency in latencies}
    return {
        question.key: by_key[question.key, "joins"].percentile(95) / by_key[question.key, "links"].percentile(95)
        for question in READ_QUESTIONS
        if (question.key, "joins") in by_key and (question.key, "links") in by_key
    }
