"""How stale the app's screens are: from an app's commit to the moment a Zero client's live query shows the change.

Beside the table freshness samples (bench_freshness.py: the real daemon at the recommended defaults, the app
workload on its own connections), a real zero-cache follows the scratch database through a publication of the
tables the Zero schema names, and a real Zero client (convo_pipelines_tests/zero_processes.py) opens, for each sample, the live
query the app's screen would hold: the conversation's people or clients, the project's conversations, or the
conversations of whoever owns the contact method now. Each sample times its parts: commit to the late-change
sensor's first run after it (the sensor's interval and tick), that run's wait in the queue and its process's start,
the run's steps and SQL, and from the link table being right to the client showing it (zero-cache's replication
and the client).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psycopg

from convo_benchmarks.bench_freshness import POLL_SECONDS, SAMPLE_TIMEOUT_SECONDS, FreshnessFigures
from convo_benchmarks.bench_parts import parts_summary, record_parts, sensor_run_parts
from convo_benchmarks.sqlfiles import render_sql
from convo_pipelines.defs.links.sensors import link_tables_late_changes_sensor
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.app_changes import CHANGE_KINDS, ChangeKind, FreshnessTarget, check_of, make_change
from convo_pipelines_tests.zero_processes import ClientWatch, ZeroCacheProcess, ZeroError, deploy_permissions

Report = Callable[[str], None]
# The publication zero-cache replicates through: the tables the Zero schema (convo_pipelines_tests/zero/schema.ts)
# names, and no other (the crews' chat histories stay out of its replica).
ZERO_PUBLICATION = "convo_zero"
# The Zero schema's table names are unqualified: tables of schema public.
ZERO_SCHEMA = "public"
# The parts of a sample, in order; their seconds add up to the whole but for the poll's granularity.
PARTS = (
    ("sensor", "commit to the sensor's first run after it (the sensor's interval and tick)"),
    ("queue", "that run queued and launched (the run queue's dequeue, the run process's start to RUN_START)"),
    ("run_to_table", "RUN_START to the link table right (the steps before it, the run's SQL)"),
    ("table_to_client", "the link table right to the Zero client's view (zero-cache's replication, the client)"),
)


@dataclass
class ClientFreshnessFigures:
    """Seconds from commit to the client's view per change kind, and each sample's parts."""

    figures: FreshnessFigures = field(default_factory=FreshnessFigures)
    parts: dict[str, list[float]] = field(default_factory=dict)


@contextmanager
def watching_client(url: str, schema: str, log_dir: Path, report: Report) -> Iterator[ClientWatch | None]:
    """zero-cache on the scratch database (a publication of the Zero schema's tables, its permissions deployed) and
    a Zero client connected to it; None, reported, when the server is not at wal_level = logical or the tables are
    not in schema public (DATABASE_URL's scratch schemas)."""
    with connect(url, autocommit=True) as conn:
        level = conn.execute("select current_setting('wal_level')").fetchone()[0]
    if level != "logical" or schema != ZERO_SCHEMA:
        report(
            f"client freshness: left out: zero-cache needs wal_level = logical (the server's: {level}) and the "
            f"Zero schema's tables in schema {ZERO_SCHEMA} (the scratch source schema: {schema})"
        )
        yield None
        return
    with connect(url, autocommit=True) as conn:
        conn.execute(_render("zero/create_zero_publication.sql", schema))
    try:
        deploy_permissions(url)
        with (
            tempfile.TemporaryDirectory(prefix="convo_bench_zero_") as folder,
            ZeroCacheProcess.running(url, Path(folder), publications=(ZERO_PUBLICATION,)) as zero,
        ):
            report(f"client freshness: zero-cache ready at {zero.cache_url}")
            try:
                with ClientWatch.running(zero.cache_url, log_dir / "bench_client_freshness_client.log") as watch:
                    yield watch
                if not zero.is_alive():
                    raise ZeroError(f"zero-cache failed during the client freshness samples:\n{zero.failure_lines()}")
            finally:
                zero.stop()
                # Its event triggers would stay behind and fire on the bench's later DDL (DROP INDEX CONCURRENTLY
                # then fails: it must be the first action of its transaction).
                zero.decommission()
    finally:
        with connect(url, autocommit=True) as conn:
            conn.execute(_render("zero/drop_zero_publication.sql", schema))


def _render(name: str, schema: str) -> psycopg.sql.Composed:
    return render_sql(f"bench/{name}", source=schema, analytics=schema, publication=ZERO_PUBLICATION)


def question_of(kind: ChangeKind, pair: tuple) -> dict[str, object]:
    """The live query that shows a change of `kind` (client.ts watch): a change naming a contact method shows in
    the conversations of whoever owns it now, the others in the conversation's people or clients, or the project's
    conversations."""
    owner, conversation, *contact_method = (str(value) for value in pair)
    change = {"owner": owner, "conversation": conversation, "appears": kind.appears}
    if contact_method:
        return {**change, "question": "contact_method_person", "contact_method": contact_method[0]}
    question = {
        "people_front_conversations": "conversation_people",
        "clients_front_conversations": "conversation_clients",
        "project_conversations": "project_conversations",
    }[kind.link_table]
    return {**change, "question": question}


def measure_client_freshness(
    watch: ClientWatch, target: FreshnessTarget, instance: dg.DagsterInstance, samples_per_kind: int, report: Report
) -> ClientFreshnessFigures:
    """`samples_per_kind` changes of each kind, one after the other, kinds interleaved: each timed to the link table
    being right (polled) and to the client's view showing it, and split into PARTS."""
    measured = ClientFreshnessFigures()
    for round_number in range(samples_per_kind):
        for kind in CHANGE_KINDS:
            pair = make_change(target, kind)
            committed = time.time()
            # The live query opens at once, as on a screen already showing it; the table is polled meanwhile.
            sample = watch.watch(question_of(kind, pair))
            table_at = _poll_table(target, kind, pair, committed)
            seen_at = watch.seen_at(sample, SAMPLE_TIMEOUT_SECONDS - (time.time() - committed))
            parts = {} if seen_at is None else _parts(instance, committed, table_at, seen_at)
            if seen_at is None:
                measured.figures.missed[kind.key] = measured.figures.missed.get(kind.key, 0) + 1
                seconds = SAMPLE_TIMEOUT_SECONDS
            else:
                seconds = seen_at - committed
            for part, value in parts.items():
                measured.parts.setdefault(part, []).append(value)
            measured.figures.seconds.setdefault(kind.key, []).append(seconds)
            split = ", ".join(f"{part} {value:.1f} s" for part, value in parts.items())
            report(f"client freshness {round_number + 1}/{samples_per_kind}: {kind.label}: {seconds:.1f} s ({split})")
    return measured


def _poll_table(target: FreshnessTarget, kind: ChangeKind, pair: tuple, committed: float) -> float | None:
    """The epoch second the link table was first seen right, or None after SAMPLE_TIMEOUT_SECONDS."""
    check, params = check_of(target, kind, pair)
    with connect(target.url, autocommit=True) as poller:
        while time.time() - committed < SAMPLE_TIMEOUT_SECONDS:
            if poller.execute(check, params).fetchone()[0] == kind.appears:
                return time.time()
            time.sleep(POLL_SECONDS)
    return None


def _parts(instance: dg.DagsterInstance, committed: float, table_at: float | None, seen_at: float) -> dict[str, float]:
    """A sample's PARTS, from the late-change sensor's first run created after the commit; {} when there is none
    or the table was never seen right."""
    if table_at is None:
        return {}
    run = sensor_run_parts(instance, link_tables_late_changes_sensor.name, committed, table_at)
    if run is None:
        return {}
    return {
        "sensor": run["sensor"],
        "queue": run["queue"],
        "run_to_table": run["run"],
        "table_to_client": seen_at - table_at,
    }


def record_client_freshness(result, measured: ClientFreshnessFigures, samples_per_kind: int) -> None:
    """The client_freshness_* keys of the bench's report (a BenchReport)."""
    figures = measured.figures
    note = (
        f"{len(figures.all_seconds())} changes, {samples_per_kind} of each kind; missed: {sum(figures.missed.values())}"
    )
    for key, share in (("client_freshness_p50", 0.5), ("client_freshness_p95", 0.95)):
        label = f"client freshness: app commit to the Zero client's view, p{round(share * 100)}"
        result.record(key, label, "s", figures.percentile(share), note=note)
    result.record(
        "client_freshness_max",
        "client freshness: app commit to the Zero client's view, max",
        "s",
        max(figures.all_seconds()),
        note=note,
    )
    for kind in CHANGE_KINDS:
        for value in figures.seconds.get(kind.key, []):
            result.record(f"client_freshness_{kind.key}", f"client freshness: {kind.label}", "s", value)
    record_parts(result, "client_freshness", "client freshness", PARTS, measured.parts)


def summary(measured: ClientFreshnessFigures) -> str:
    figures = measured.figures
    return (
        f"client freshness over {len(figures.all_seconds())} changes: p50 {figures.percentile(0.5):.1f} s, "
        f"p95 {figures.percentile(0.95):.1f} s, max {max(figures.all_seconds()):.1f} s ({parts_summary(measured.parts)})"
    )
