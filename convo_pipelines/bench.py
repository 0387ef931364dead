"""`convo-pipelines bench`: seed a scratch database and measure the link tables end to end.

Every figure comes from one run on one machine, so ratios are fair: the first full backfill
through Dagster (the CLI, the same code path as a UI backfill) split into SQL time and Dagster
overhead, a re-run with nothing changed, one day's partition after one change, the read side
alone, the plain set-based floor, the seeds' batches of 500, peak RSS of the run process, and
table and index sizes. Each timing is the median of `repeats` runs, with min and max.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import psutil
import psycopg
from psycopg import sql

from convo_pipelines.db import connect, count_rows, drop_database, ensure_database, with_database
from convo_pipelines.dev import app_database
from convo_pipelines.seed import seed_demo
from convo_pipelines.sensors import scoped_run_config
from convo_pipelines.settings import Settings
from convo_pipelines.assets.links import CLIENT_LINKS, PEOPLE_LINKS
from convo_pipelines.jobs import FRONT_LINK_ASSETS
from convo_pipelines.sqlfiles import render_sql

SOURCE = "public"
ANALYTICS = "analytics"
FRONT_LINK_TABLES = {spec.table: spec for spec in (PEOPLE_LINKS, CLIENT_LINKS)}
SEEDS_BATCH_SIZE = 500
ALL_TIME = {
    "start": datetime(1, 1, 1, tzinfo=timezone.utc),
    "end": datetime(9999, 12, 31, tzinfo=timezone.utc),
    "only_conversation_ids": None,
}
Report = Callable[[str], None]


class BenchError(Exception):
    """The benchmark cannot run; the message says why in one line."""


@dataclass
class Measurement:
    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def as_row(self) -> dict[str, object]:
        return {
            "name": self.name,
            "unit": self.unit,
            "median": round(self.median, 4),
            "min": round(min(self.samples), 4),
            "max": round(max(self.samples), 4),
            "runs": len(self.samples),
            "note": self.note,
        }


@dataclass
class BenchReport:
    conversations: int
    days: int
    seed: int
    machine: dict[str, object]
    counts: dict[str, int] = field(default_factory=dict)
    measurements: dict[str, Measurement] = field(default_factory=dict)
    sizes: list[dict[str, object]] = field(default_factory=list)

    def record(self, key: str, name: str, unit: str, value: float, note: str = "") -> None:
        measurement = self.measurements.setdefault(key, Measurement(name, unit, note=note))
        measurement.samples.append(value)

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["measurements"] = {key: m.as_row() for key, m in self.measurements.items()}
        return data


def machine_facts() -> dict[str, object]:
    import platform

    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


@contextmanager
def scratch_database(settings: Settings, report: Report) -> Iterator[str]:
    """A new database for this benchmark only, dropped afterwards.

    Under DATABASE_URL it is created on that server (the role needs CREATEDB); otherwise on the
    embedded server under CONVO_HOME, stopped afterwards when the benchmark started it.
    """
    name = f"convo_bench_{uuid.uuid4().hex[:10]}"
    with app_database(settings, say=report) as server:
        admin = with_database(server, "postgres")
        try:
            ensure_database(admin, name)
        except psycopg.Error as exc:
            raise BenchError(f"cannot create the scratch database {name}: {str(exc).strip().splitlines()[0]}") from None
        report(f"scratch database {name}")
        try:
            yield with_database(server, name)
        finally:
            drop_database(admin, name)


def run_links_bench(
    *,
    conversations: int,
    days: int,
    seed: int,
    repeats: int,
    settings: Settings,
    report: Report = print,
    batches: bool = True,
) -> BenchReport:
    """Seed a scratch database with `conversations` and measure every link-table figure."""
    result = BenchReport(conversations=conversations, days=days, seed=seed, machine=machine_facts())
    with scratch_database(settings, report) as url, tempfile.TemporaryDirectory(prefix="convo_bench_") as home:
        dagster_home = Path(home)
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        with connect(url) as conn:
            started = time.perf_counter()
            result.counts = seed_demo(
                conn, source_schema=SOURCE, analytics_schema=ANALYTICS, conversations=conversations,
                days=days, seed=seed, end=end, report=report,
            )
            result.record("seed", "seed-demo", "s", time.perf_counter() - started)
            result.counts["front_message_recipients"] = count_rows(conn, SOURCE, "front_message_recipients")
        runner = DagsterRunner(url=url, dagster_home=dagster_home, start=(end - timedelta(days=days)).date(), end=end.date())

        for attempt in range(repeats):
            report(f"first full backfill through Dagster ({attempt + 1}/{repeats})")
            _truncate_front_links(url)
            run = runner.materialize_range()
            result.record("full_backfill_sql", "first full backfill: SQL", "s", run.sql_seconds)
            result.record("full_backfill_checks", "first full backfill: the 6 checks of the range", "s", run.checks_seconds)
            result.record("full_backfill_overhead", "first full backfill: Dagster overhead (process start, bookkeeping)", "s", run.overhead_seconds)
            result.record("peak_rss", "peak RSS of the run process", "MB", run.peak_rss_mb)
        result.counts.update({table: _count_url(url, table) for table in FRONT_LINK_ASSETS})

        for attempt in range(repeats):
            report(f"re-run with nothing changed ({attempt + 1}/{repeats})")
            run = runner.materialize_range()
            result.record("rerun_sql", "re-run, nothing changed: SQL", "s", run.sql_seconds)
            result.record("rerun_rows_written", "re-run, nothing changed: rows written", "rows", run.rows_written)
            result.record("peak_rss", "peak RSS of the run process", "MB", run.peak_rss_mb)

        change_day = end.date() - timedelta(days=max(days // 2, 1))
        for attempt in range(repeats):
            report(f"one day's partition after one change ({attempt + 1}/{repeats})")
            _make_one_change(url, change_day)
            run = runner.materialize_partition(change_day)
            result.record("one_day_sql", "one-day partition after one change: SQL", "s", run.sql_seconds)
            result.record("one_day_rows_written", "one-day partition after one change: rows written", "rows", run.rows_written)
        for attempt in range(repeats):
            report(f"late change through the sensor's scoped run ({attempt + 1}/{repeats})")
            conversation = _make_one_change(url, change_day)
            run = runner.materialize_partition(change_day, only_conversation_ids=[conversation])
            result.record("scoped_sql", "one change, the sensor's scoped run of its day: SQL", "s", run.sql_seconds)
            result.record("scoped_rows_written", "one change, the sensor's scoped run of its day: rows written", "rows", run.rows_written)

        for attempt in range(repeats):
            result.record("read_side", "read side alone (join + DISTINCT, people)", "s", _time_read_side(url))
        for attempt in range(repeats):
            report(f"plain set-based floor ({attempt + 1}/{repeats})")
            _truncate_front_links(url)
            result.record("plain_floor", "plain floor: INSERT ... SELECT DISTINCT ... ON CONFLICT", "s", _time_plain_floor(url))
        if batches:
            report("the seeds' approach: batches of 500 conversations, upserts")
            _truncate_front_links(url)
            result.record("seeds_batches", "seeds' approach: batches of 500, upserts", "s", _time_seed_batches(url, report))
        result.sizes = _table_sizes(url)
    return result


@dataclass
class DagsterRun:
    wall_seconds: float
    sql_seconds: float
    checks_seconds: float
    rows_written: int
    peak_rss_mb: float

    @property
    def overhead_seconds(self) -> float:
        return max(self.wall_seconds - self.sql_seconds - self.checks_seconds, 0.0)


@dataclass
class DagsterRunner:
    """Runs the Front link assets through the `dagster` CLI against the scratch database."""

    url: str
    dagster_home: Path
    start: date
    end: date

    def materialize_range(self) -> DagsterRun:
        return self._materialize(["--partition-range", f"{self.start.isoformat()}...{self.end.isoformat()}"])

    def materialize_partition(self, day: date, only_conversation_ids: list[str] | None = None) -> DagsterRun:
        scope = ["--config-json", json.dumps(scoped_run_config(only_conversation_ids))] if only_conversation_ids else []
        return self._materialize(["--partition", day.isoformat(), *scope])

    def _materialize(self, partition_args: list[str]) -> DagsterRun:
        command = [
            str(Path(sys.executable).with_name("dagster")), "asset", "materialize",
            "-m", "convo_pipelines.definitions", "--select", ",".join(FRONT_LINK_ASSETS), *partition_args,
        ]
        env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "DAGSTER_HOME": str(self.dagster_home),
            "PARTITIONS_START_DATE": self.start.isoformat(),
            "ENABLE_BACKGROUND_JOBS": "false",
        }
        before = _latest_storage_ids(self.dagster_home)
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        peak = _watch_peak_rss(process)
        output = process.communicate()[0]
        wall = time.perf_counter() - started
        if process.returncode != 0:
            errors = [line for line in output.splitlines() if "Error" in line] or output.strip().splitlines()[-1:]
            raise BenchError(f"dagster asset materialize failed (exit {process.returncode}): {errors[-1].strip() if errors else 'no output'}")
        sql_seconds, rows_written, checks_seconds = _run_figures(self.dagster_home, before)
        return DagsterRun(
            wall_seconds=wall, sql_seconds=sql_seconds, checks_seconds=checks_seconds,
            rows_written=rows_written, peak_rss_mb=peak,
        )


def _watch_peak_rss(process: subprocess.Popen) -> float:
    """The largest RSS any process of the run's tree reached, sampled every 20 ms, in MB."""
    peak = 0
    try:
        root = psutil.Process(process.pid)
        while process.poll() is None:
            for member in [root, *root.children(recursive=True)]:
                try:
                    peak = max(peak, member.memory_info().rss)
                except psutil.Error:
                    continue
            time.sleep(0.02)
    except psutil.NoSuchProcess:
        pass
    return peak / 2**20


def _latest_storage_ids(dagster_home: Path) -> dict[str, int]:
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        latest = {}
        for name in FRONT_LINK_ASSETS:
            records = instance.fetch_materializations(dg.AssetKey(name), limit=1).records
            latest[name] = records[0].storage_id if records else 0
        return latest


def _run_figures(dagster_home: Path, before: dict[str, int]) -> tuple[float, int, float]:
    """SQL seconds and rows written by the newest run (from its materialization metadata), and its checks' seconds.

    A range run copies its metadata onto every partition of the range, so one event per asset
    is read, the newest. The checks' time is their steps' durations.
    """
    seconds, rows = 0.0, 0
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        newest_run = instance.get_runs(limit=1)[0]
        checks_seconds = sum(
            (step.end_time or 0.0) - (step.start_time or 0.0)
            for step in instance.get_run_step_stats(newest_run.run_id)
            if step.step_key not in FRONT_LINK_ASSETS
        )
        for name in FRONT_LINK_ASSETS:
            records = instance.fetch_materializations(dg.AssetKey(name), limit=1).records
            if not records or records[0].storage_id <= before[name]:
                raise BenchError(f"the run recorded no materialization of {name}")
            metadata = records[0].asset_materialization.metadata
            seconds += float(metadata["seconds"].value)
            rows += int(metadata["rows_inserted"].value) + int(metadata["rows_deleted"].value)
    return seconds, rows, checks_seconds


def _render(name: str, table: str) -> sql.Composed:
    """sql/<name> for one Front link table, with that table's oracle composed in."""
    spec = FRONT_LINK_TABLES[table]
    oracle = render_sql(spec.oracle_file, source=SOURCE, analytics=ANALYTICS)
    return render_sql(name, source=SOURCE, analytics=ANALYTICS, links=spec.table, owner=spec.owner_column, oracle=oracle)


def _truncate_front_links(url: str) -> None:
    with connect(url) as conn:
        conn.execute(
            sql.SQL("truncate {}, {}").format(
                *(sql.Identifier(SOURCE, table) for table in FRONT_LINK_ASSETS)
            )
        )


def _time_plain_floor(url: str) -> float:
    with connect(url) as conn:
        started = time.perf_counter()
        for table in FRONT_LINK_ASSETS:
            conn.execute(_render("bench/insert_links_plain_floor.sql", table), ALL_TIME)
        conn.commit()
        return time.perf_counter() - started


def _time_seed_batches(url: str, report: Report) -> float:
    """The seeds' way: one query per table per batch of 500 conversations, upserting each batch."""
    with connect(url) as conn:
        ids = [row[0] for row in conn.execute(render_sql("bench/select_front_conversation_ids_ordered.sql", source=SOURCE, analytics=ANALYTICS))]
        statements = {table: _render("bench/insert_links_batch_upsert.sql", table) for table in FRONT_LINK_ASSETS}
        started = time.perf_counter()
        batches = range(0, len(ids), SEEDS_BATCH_SIZE)
        for number, offset in enumerate(batches, start=1):
            batch = ids[offset : offset + SEEDS_BATCH_SIZE]
            for table in FRONT_LINK_ASSETS:
                conn.execute(statements[table], {**ALL_TIME, "conversation_ids": batch})
            conn.commit()
            if number % 100 == 0:
                elapsed = time.perf_counter() - started
                report(f"  batches: {number:,}/{len(batches):,} in {elapsed:.0f} s")
        return time.perf_counter() - started


def _time_read_side(url: str) -> float:
    with connect(url) as conn:
        started = time.perf_counter()
        conn.execute(_render("bench/count_links_read_side.sql", "people_front_conversations"), ALL_TIME).fetchone()
        return time.perf_counter() - started


def _make_one_change(url: str, day: date) -> str:
    """Add one recipient to the day's first conversation; returns that conversation's id."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc)
    with connect(url) as conn:
        changed = conn.execute(
            render_sql("bench/insert_recipient_for_bench_change.sql", source=SOURCE, analytics=ANALYTICS),
            {"start": start, "end": start + timedelta(days=1)},
        ).fetchone()
        if changed is None:
            raise BenchError(f"no conversation on {day} to change: seed more conversations or days")
        return changed[0]


def _count_url(url: str, table: str) -> int:
    with connect(url) as conn:
        return count_rows(conn, SOURCE, table)


def _table_sizes(url: str) -> list[dict[str, object]]:
    with connect(url) as conn:
        rows = conn.execute(
            render_sql("bench/select_table_sizes.sql", source=SOURCE, analytics=ANALYTICS),
            {"schema": SOURCE, "tables": list(FRONT_LINK_ASSETS)},
        ).fetchall()
    return [{"table": name, "table_mb": round(heap / 2**20, 1), "index_mb": round(index / 2**20, 1)} for name, heap, index in rows]


def format_report(result: BenchReport) -> str:
    """A Markdown table of every measurement, then the sizes."""
    lines = [
        f"conversations: {result.conversations:,}  recipients: {result.counts.get('front_message_recipients', 0):,}  "
        f"people links: {result.counts.get('people_front_conversations', 0):,}  "
        f"client links: {result.counts.get('clients_front_conversations', 0):,}",
        "",
        "| measurement | median | min | max | runs |",
        "|---|---:|---:|---:|---:|",
    ]
    for measurement in result.measurements.values():
        row = measurement.as_row()
        lines.append(
            f"| {row['name']} | {_fmt(row['median'], row['unit'])} | {_fmt(row['min'], row['unit'])} | "
            f"{_fmt(row['max'], row['unit'])} | {row['runs']} |"
        )
    lines += ["", "| table | heap MB | indexes MB |", "|---|---:|---:|"]
    lines += [f"| {size['table']} | {size['table_mb']} | {size['index_mb']} |" for size in result.sizes]
    return "\n".join(lines)


def _fmt(value: object, unit: str) -> str:
    if unit == "s":
        return f"{float(value) * 1000:.1f} ms" if float(value) < 1 else f"{float(value):.2f} s"
    if unit == "MB":
        return f"{float(value):.0f} MB"
    return f"{int(float(value)):,} {unit}"


def write_json(result: BenchReport, path: Path) -> None:
    path.write_text(json.dumps(result.as_dict(), indent=2, default=str))
