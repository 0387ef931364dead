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
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import psutil
import psycopg
import yaml
from psycopg import sql

from convo_benchmarks.app_workload import AppWorkload, measure_baseline
from convo_benchmarks.app_workload_report import EXCLUSIVE_LOCK_MODES, WorkloadReport
from convo_benchmarks.bench_client_freshness import measure_client_freshness, record_client_freshness, watching_client
from convo_benchmarks.bench_client_freshness import summary as client_freshness_summary
from convo_benchmarks.bench_crews import time_many_crews
from convo_benchmarks.bench_discovery import bench_discovery_freshness
from convo_benchmarks.bench_freshness import (
    CHANGE_KINDS,
    FRESHNESS_APP_INTERVAL,
    FRESHNESS_SAMPLES_PER_KIND,
    HARD_DELETE,
    HARD_DELETE_SYNC_CRON,
    PICK_TRIES,
    SAMPLE_TIMEOUT_SECONDS,
    FreshnessTarget,
    measure_freshness,
    running_daemon,
    summary,
    wait_for_sensor_cursor,
)
from convo_benchmarks.bench_reads import measure_read_latencies, round_trip_seconds, speedups
from convo_benchmarks.bench_replication import (
    ReplicationFigures,
    SubscribedFill,
    SubscriberServer,
    logical_embedded_server,
    require_logical_wal_level,
    subscriber_server,
    wal_level,
)
from convo_benchmarks.bench_runs import BenchError, DagsterRun, DagsterRunner
from convo_benchmarks.bench_scratch import Scratch
from convo_benchmarks.bench_server import embedded_server_settings
from convo_benchmarks.seed import MAX_MESSAGES_PER_CONVERSATION, seed_demo
from convo_benchmarks.seed_histories import even_share, seed_histories
from convo_pipelines.cli.database import app_database
from convo_pipelines.cli.dev import PROJECT_DAGSTER_YAML
from convo_pipelines.defs.histories.crews import load_crews
from convo_pipelines.defs.histories.jobs import HISTORIES_ASSETS
from convo_pipelines.defs.histories.schedules import discovery_tick_run_config
from convo_pipelines.defs.histories.tables import CONVERSATION_SUMMARIES, HISTORIES_SESSIONS
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS, PROJECT_LINK_ASSETS
from convo_pipelines.defs.links.link_definitions import front_definition
from convo_pipelines.defs.links.sensors import (
    FRONT_SOURCE,
    find_changed_day_ranges,
    read_fingerprints,
    scoped_run_config,
)
from convo_pipelines.defs.links.tables import (
    BEGINNING_OF_TIME,
    CHANGE_WATCHED_TABLES,
    END_OF_TIME,
    FRONT_LINK_TABLES,
    LINK_TABLES,
    PROJECT_LINKS_TABLE,
    FrontLinkTable,
    change_index_name,
    change_index_params,
)
from convo_pipelines.defs.links.windows import window_params
from convo_pipelines.lib.db import connect, count_rows
from convo_pipelines.lib.embedded_server import drop_database, embedded_is_running, ensure_database
from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.session import Session
from convo_pipelines.lib.settings import Settings
from convo_pipelines.lib.urls import redact_url, with_database

# Where the embedded scratch database keeps its tables: the project's defaults.
EMBEDDED_SOURCE_SCHEMA = "public"
EMBEDDED_ANALYTICS_SCHEMA = "analytics"
# Dagster's storage of the benchmark's runs, inside the scratch database on the embedded server.
BENCH_DAGSTER_SCHEMA = "dagster"
FRONT_LINK_SPECS = {spec.table: spec for spec in FRONT_LINK_TABLES}
HISTORIES_TABLES = (HISTORIES_SESSIONS, CONVERSATION_SUMMARIES)
READ_IDS = 1000
# The old joins take up to hundreds of ms per id: each read path stops after this long, whatever its ids.
READ_BUDGET_SECONDS = 60.0
SEEDS_BATCH_SIZE = 500
# The performance aims (bench_report.py) are set for 1,000,000 conversations and 10,000,000 history rows.
HISTORY_ROWS_PER_CONVERSATION = 10
HISTORY_CREWS = 3
TICK_NEW_SESSIONS = 10
# The fewest runs of a measurement that takes seconds at any scale (see BenchContext.short_repeats).
SHORT_RUN_REPEATS = 3
# What a bulk write's speed depends on beyond the machine: the buffers, how often checkpoints come (each
# makes the next write of a page log it whole), how commits reach the disk. The report lists them.
BULK_WRITE_SETTINGS = (
    "shared_buffers",
    "max_wal_size",
    "checkpoint_timeout",
    "wal_compression",
    "synchronous_commit",
    "maintenance_work_mem",
    "work_mem",
    "max_parallel_workers_per_gather",
)
# Names a measurement repeated on dagster-postgres' stock storage (a connection per operation) for comparison.
STOCK_STORAGE_LABEL = ", on dagster-postgres' stock storage"
# A late-change tick that finds this many new recipients is timed, fastest of SENSOR_TICK_TRIES.
SENSOR_TICK_CHANGES = 100
SENSOR_TICK_TRIES = 3
TICK_MESSAGES_PER_SESSION = 4
# The app workload beside the runs: one statement of each kind this often (seconds).
APP_INTERVAL = 0.05
# The baseline (the same workload, no run) lasts as long as the longest run it is compared with, within these bounds:
# the longest of N statements grows with N, so a shorter baseline would flatter the runs.
APP_BASELINE_MIN_SECONDS = 10.0
APP_BASELINE_MAX_SECONDS = 120.0
ALL_TIME = window_params(BEGINNING_OF_TIME, END_OF_TIME)
Report = Callable[[str], None]


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
            "median": round(self.median, 6),
            "min": round(min(self.samples), 6),
            "max": round(max(self.samples), 6),
            "runs": len(self.samples),
            "note": self.note,
        }


@dataclass
class BenchReport:
    conversations: int
    history_rows: int
    days: int
    seed: int
    machine: dict[str, object]
    # Messages per Front conversation are 1 to max_messages (the demo's shape unless --max-messages).
    max_messages: int = MAX_MESSAGES_PER_CONVERSATION
    counts: dict[str, int] = field(default_factory=dict)
    measurements: dict[str, Measurement] = field(default_factory=dict)
    sizes: list[dict[str, object]] = field(default_factory=list)
    command: str = ""
    reads: list[dict[str, object]] = field(default_factory=list)
    read_speedups: dict[str, float] = field(default_factory=dict)
    # Per run kind: the app's longest statement beside it, the baseline's, the longest lock wait the pipeline caused.
    app_beside_runs: dict[str, dict[str, object]] = field(default_factory=dict)
    # Per first fill with a logical subscriber attached: its catch-up, its lag, its errors, both copies compared.
    replication: list[dict[str, object]] = field(default_factory=list)
    # What the run measured alone after the seed (`--only-freshness`, `--only-crews`), or "" for everything.
    only: str = ""
    # Whether the contenders (plain floor, materialized views, the seeds' batches) were measured.
    contenders: bool = True
    # Whether the first fill was timed once, beside the app workload (`--one-first-fill`), rather than alone
    # and then again beside the app.
    first_fill_beside_app: bool = False
    # The last commit of the code measured ("+changes" when the checkout had uncommitted ones), "" outside a
    # checkout: two runs compare only when they measured the same code.
    revision: str = ""

    def record(self, key: str, name: str, unit: str, value: float, note: str = "") -> None:
        measurement = self.measurements.setdefault(key, Measurement(name, unit, note=note))
        measurement.samples.append(value)

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["measurements"] = {key: m.as_row() for key, m in self.measurements.items()}
        return data


def server_version(url: str) -> str:
    with connect(url) as conn:
        return "PostgreSQL " + conn.execute("select current_setting('server_version')").fetchone()[0]


# What a run measures: the product's code and SQL, and how it is installed and configured (not the docs, the
# committed figures or the bench itself).
MEASURED_PATHS = ("convo_pipelines", "sql", "setup.py", "pyproject.toml", "dagster.yaml")


def code_revision() -> str:
    """The last commit that changed the measured code (MEASURED_PATHS), "+changes" appended when the checkout's
    differ from it; "" when the code is not a git checkout."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("log", "-1", "--format=%H", "--", *MEASURED_PATHS)
        changes = git("status", "--porcelain", "--untracked-files=no", "--", *MEASURED_PATHS)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return commit + ("+changes" if changes else "")


def machine_facts() -> dict[str, object]:
    import platform

    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# ---------------------------------------------------------------- the scratch location


@contextmanager
def scratch_location(
    settings: Settings, report: Report, *, logical: bool = False, server: dict[str, str] | None = None
) -> Iterator[Scratch]:
    """Two scratch schemas in DATABASE_URL's database, or else a scratch database on the embedded server;
    `logical`: on a server at wal_level = logical (checked before anything is created); `server`: settings the
    embedded server runs with for the while (bench_server.embedded_server_settings)."""
    name = f"convo_bench_{uuid.uuid4().hex[:10]}"
    if settings.database_url:
        if server:
            raise BenchError(
                "--server-setting sets the embedded server the bench starts; DATABASE_URL's server keeps its DBA's "
                "settings: unset DATABASE_URL, or leave out --server-setting"
            )
        if logical:
            require_logical_wal_level(settings.database_url)
        with scratch_schemas(settings.database_url, name, report) as scratch:
            yield scratch
    else:
        with scratch_database(settings, name, report, logical=logical, server=server or {}) as scratch:
            yield scratch


@contextmanager
def scratch_schemas(url: str, name: str, report: Report) -> Iterator[Scratch]:
    """Schemas `name` (source), `name`_analytics and `name`_dagster in the database of `url`, dropped with CASCADE afterwards.

    The seeder and the migrations create them, so the role needs only CREATE on the database.
    """
    scratch = Scratch(url, name, f"{name}_analytics", f"{name}_dagster")
    report(
        f"scratch schemas {scratch.source_schema}, {scratch.analytics_schema} and {scratch.dagster_schema} in {redact_url(url)}"
    )
    try:
        yield scratch
    finally:
        with connect(url, autocommit=True) as conn:
            conn.execute(scratch.benchmark_sql("bench/drop_scratch_schemas.sql"))
        report(
            f"dropped the scratch schemas {scratch.source_schema}, {scratch.analytics_schema} and {scratch.dagster_schema}"
        )


@contextmanager
def scratch_database(
    settings: Settings, name: str, report: Report, *, logical: bool = False, server: dict[str, str]
) -> Iterator[Scratch]:
    """A new database on the embedded server under CONVO_HOME, dropped afterwards (and the server stopped if this started it);
    `logical`: the server switched to wal_level = logical for the while when this started it (bench_replication.py);
    `server`: settings it runs with for the while (bench_server.py)."""
    started_here = not embedded_is_running(settings.convo_home)
    with (
        app_database(settings, say=report) as app_url,
        embedded_server_settings(
            settings.convo_home, with_database(app_url, "postgres"), server, started_here=started_here, report=report
        ) as tuned,
        _logical_if(logical, settings, tuned, started_here, report) as admin,
    ):
        try:
            ensure_database(admin, name)
        except psycopg.Error as exc:
            raise BenchError(f"cannot create the scratch database {name}: {first_line(exc)}") from None
        report(f"scratch database {name}")
        try:
            yield Scratch(
                with_database(admin, name), EMBEDDED_SOURCE_SCHEMA, EMBEDDED_ANALYTICS_SCHEMA, BENCH_DAGSTER_SCHEMA
            )
        finally:
            drop_database(admin, name)


def _logical_if(
    logical: bool, settings: Settings, admin: str, started_here: bool, report: Report
) -> AbstractContextManager[str]:
    """The embedded server's admin URL, at wal_level = logical when asked (bench_replication.logical_embedded_server)."""
    if not logical:
        return nullcontext(admin)
    return logical_embedded_server(settings.convo_home, admin, started_here=started_here, report=report)


def server_settings(scratch: Scratch) -> dict[str, str]:
    """The server settings a bulk write's speed depends on (BULK_WRITE_SETTINGS), as the server shows them."""
    with connect(scratch.url) as conn:
        rows = conn.execute(
            scratch.benchmark_sql("bench/select_server_settings.sql"), {"names": list(BULK_WRITE_SETTINGS)}
        ).fetchall()
    return dict(rows)


# ---------------------------------------------------------------- the benchmark


@dataclass
class BenchContext:
    """What every part of the benchmark shares: the scratch tables, the seeded period, Dagster's home."""

    scratch: Scratch
    # The project's dagster.yaml as is; and the same instance on dagster-postgres' stock storage, for comparison.
    dagster_home: Path
    stock_dagster_home: Path
    end: datetime
    days: int
    repeats: int
    report: Report
    read_samples: int = READ_IDS
    # Where logs worth keeping after the run go (the daemon's, of the freshness samples): CONVO_HOME.
    log_dir: Path = Path()
    # Whether measurements start after a checkpoint (settle): None until the first try.
    settled: bool | None = None
    # Seconds between the app workload's statements of each kind, beside the runs and alone.
    app_interval: float = APP_INTERVAL
    # The chat-history tables the app workload writes too (none when the histories are not seeded).
    app_histories_tables: list[str] = field(default_factory=list)
    # The first fill measured beside the app in bench_link_tables (`--one-first-fill`), for bench_app_beside_runs.
    first_fill_beside_app: BesideOutcome | None = None

    @property
    def start(self) -> date:
        return (self.end - timedelta(days=self.days)).date()

    @property
    def short_repeats(self) -> int:
        """Runs of a measurement that takes seconds whatever the scale (a one-day partition, a scoped run, a
        discovery tick): at least SHORT_RUN_REPEATS, so that a run the machine slowed for a moment (an
        autovacuum, the other core busy) is not the figure even when the long measurements run once."""
        return max(self.repeats, SHORT_RUN_REPEATS)

    def runner(self, assets: tuple[str, ...], *, stock_storage: bool = False) -> DagsterRunner:
        home = self.stock_dagster_home if stock_storage else self.dagster_home
        return DagsterRunner(self.scratch, home, self.start, self.end.date(), assets)

    def settle(self) -> None:
        """A checkpoint before a timed measurement of bulk work, so that it does not pay for the writes of the
        one before it: right after the seed, a first fill otherwise shares the disk and a core with the
        checkpointer writing the seed's gigabytes out (a 1,000,000-conversation first fill: 43.8 to 44.0 s of
        SQL right after other bulk writes, 38.2 to 40.4 s after a checkpoint). A role that may not run
        CHECKPOINT (neither superuser nor pg_checkpoint) measures without, and the report says so."""
        if self.settled is False:
            return
        try:
            with connect(self.scratch.url, autocommit=True) as conn:
                conn.execute(self.scratch.benchmark_sql("bench/write_out_dirty_buffers.sql"))
            self.settled = True
        except psycopg.errors.InsufficientPrivilege:
            self.report("CHECKPOINT is not allowed for this role: the measurements run without one before each")
            self.settled = False


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
    contenders: bool = True,
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

    Without `contenders` the plain floor, the materialized views and the seeds' batches are left out; with
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
        contenders=contenders,
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
        bench.app_histories_tables = _histories_source_tables(scratch) if history_rows else []
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
        bench_link_tables(bench, result, batches=batches, contenders=contenders, one_first_fill=one_first_fill)
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
        # as the pipeline built them; the per-aim verdicts are rendered from the report by bench_report.verdicts.
    return result


@contextmanager
def dagster_storage(scratch: Scratch) -> Iterator[None]:
    """Dagster's storage for the benchmark's runs in the scratch schema `dagster_schema`, as dagster.yaml keeps it
    in PostgreSQL; DAGSTER_STORAGE_URL names it for this process's own reads of the runs, and is restored after."""
    with connect(scratch.url, autocommit=True) as conn:
        conn.execute(scratch.benchmark_sql("bench/create_dagster_schema.sql"))
    previous = os.environ.get("DAGSTER_STORAGE_URL")
    os.environ["DAGSTER_STORAGE_URL"] = scratch.run_environment()["DAGSTER_STORAGE_URL"]
    try:
        yield
    finally:
        if previous is None:
            del os.environ["DAGSTER_STORAGE_URL"]
        else:
            os.environ["DAGSTER_STORAGE_URL"] = previous


def dagster_homes(root: Path) -> tuple[Path, Path]:
    """Two DAGSTER_HOMEs on the same storage: the project's dagster.yaml as is, and the same with dagster-postgres'
    stock storage (`storage: postgres:`, a new connection per storage operation) in place of the project's."""
    project = yaml.safe_load(PROJECT_DAGSTER_YAML.read_text())
    stock = {**project, "storage": {"postgres": {"postgres_url": {"env": "DAGSTER_STORAGE_URL"}}}}
    homes = (root / "project", root / "stock")
    for home, config in zip(homes, (project, stock), strict=False):
        home.mkdir()
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return homes


def bench_many_crews(bench: BenchContext, result: BenchReport) -> None:
    """A discovery tick over many crews (bench_crews.py) on the bench's scratch tables and days."""
    time_many_crews(
        bench.scratch,
        bench.runner(HISTORIES_ASSETS),
        days=bench.days,
        ticks=bench.short_repeats,
        record=result.record,
        report=bench.report,
    )


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


def bench_link_tables(
    bench: BenchContext, result: BenchReport, *, batches: bool, contenders: bool = True, one_first_fill: bool = False
) -> None:
    scratch, report, repeats = bench.scratch, bench.report, bench.repeats
    runner = bench.runner(FRONT_LINK_ASSETS)
    bench_full_backfills(
        bench,
        result,
        runner,
        key="",
        label="",
        empty_tables=lambda: _reset_front_links_to_never_filled(scratch),
        beside_app=one_first_fill,
    )
    result.counts.update({table: _count(scratch, scratch.source_schema, table) for table in FRONT_LINK_ASSETS})
    # Sized as the pipeline built them: the floor and the batches below rebuild them another way.
    result.sizes += _table_sizes(scratch, "source", scratch.source_schema, FRONT_LINK_ASSETS)
    result.record(
        "disk_used",
        "disk used by the source and analytics schemas after the first fill (heap, indexes, TOAST; no WAL)",
        "MB",
        _schemas_disk_mb(scratch),
    )
    if one_first_fill:
        bench_rerun_after_app(bench, result, runner)
    bench_reruns(bench, result, runner, key="", label="")

    change_day = bench.end.date() - timedelta(days=max(bench.days // 2, 1))
    for attempt in range(bench.short_repeats):
        report(f"one day's partition after one change ({attempt + 1}/{bench.short_repeats})")
        _make_one_change(scratch, change_day)
        bench.settle()
        run = runner.materialize_partition(change_day)
        result.record("one_day_sql", "one-day partition after one change: SQL", "s", run.sql_seconds)
        result.record(
            "one_day_rows_written", "one-day partition after one change: rows written", "rows", run.rows_written
        )
        record_checks_sql(result, "one_day", "one-day partition after one change", run)
    scoped = "one change, the sensor's scoped run of its day"
    for attempt in range(bench.short_repeats):
        report(f"{scoped} ({attempt + 1}/{bench.short_repeats})")
        run = _scoped_run(scratch, runner, change_day)
        result.record("scoped_sql", f"{scoped}: SQL", "s", run.sql_seconds)
        result.record("scoped_rows_written", f"{scoped}: rows written", "rows", run.rows_written)
        record_checks_sql(result, "scoped", scoped, run)
        result.record(
            "scoped_overhead", f"{scoped}: Dagster overhead (process start, bookkeeping)", "s", run.overhead_seconds
        )
        result.record("scoped_run_dagster_wall", f"{scoped}: RUN_START to RUN_SUCCESS", "s", run.dagster.run_seconds)
    stock_runner = bench.runner(FRONT_LINK_ASSETS, stock_storage=True)
    for attempt in range(bench.short_repeats):
        report(f"{scoped}{STOCK_STORAGE_LABEL} ({attempt + 1}/{bench.short_repeats})")
        run = _scoped_run(scratch, stock_runner, change_day)
        result.record(
            "scoped_stock_overhead",
            f"{scoped}{STOCK_STORAGE_LABEL}: Dagster overhead (process start, bookkeeping)",
            "s",
            run.overhead_seconds,
        )

    for attempt in range(repeats):
        report(
            f"late-change sensor tick finding {SENSOR_TICK_CHANGES} changes, without and with the recommended indexes ({attempt + 1}/{repeats})"
        )
        tick = _time_sensor_tick(scratch, SENSOR_TICK_CHANGES)
        note = f"{tick.changes_found} conversations found"
        result.record(
            "sensor_tick_sql",
            f"late-change tick, {SENSOR_TICK_CHANGES} changes: SQL, no index on the change stamps",
            "s",
            tick.without_indexes,
            note=note,
        )
        result.record(
            "sensor_tick_indexed_sql",
            f"late-change tick, {SENSOR_TICK_CHANGES} changes: SQL, with the recommended indexes",
            "s",
            tick.with_indexes,
            note=note,
        )

    bench_app_reads(bench, result)

    for _ in range(repeats):
        bench.settle()
        result.record(
            "read_side",
            "read side alone (join + DISTINCT of both Front link tables, a SELECT)",
            "s",
            _time_read_side(scratch),
        )
    if not contenders:
        report("the contenders (plain floor, materialized views, the seeds' batches) are left out")
        return
    for attempt in range(repeats):
        report(f"plain set-based floor ({attempt + 1}/{repeats})")
        _truncate_front_links(scratch)
        bench.settle()
        result.record(
            "plain_floor", "plain floor: INSERT ... SELECT DISTINCT ... ON CONFLICT", "s", _time_plain_floor(scratch)
        )
    for attempt in range(repeats):
        report(
            f"the contender: a materialized view of each link join, built and refreshed concurrently ({attempt + 1}/{repeats})"
        )
        views = _time_materialized_views(scratch, change_day, bench.settle)
        result.record("matview_build", "materialized view of each link join + its indexes: build", "s", views.build)
        result.record(
            "matview_build_wal", "materialized view of each link join: WAL of its build", "MB", views.build_wal
        )
        result.record(
            "matview_refresh_unchanged",
            "materialized views: REFRESH CONCURRENTLY, nothing changed",
            "s",
            views.refresh_unchanged,
        )
        result.record(
            "matview_refresh_after_change",
            "materialized views: REFRESH CONCURRENTLY after one change",
            "s",
            views.refresh_after_change,
        )
    if batches:
        report("the seeds' approach: batches of 500 conversations, upserts")
        _truncate_front_links(scratch)
        bench.settle()
        result.record(
            "seeds_batches", "seeds' approach: batches of 500, upserts", "s", _time_seed_batches(scratch, report)
        )


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
            server_before = _wal_and_requested_checkpoints(bench.scratch)
            run = runner.materialize_range()
            written = _server_activity_since(bench.scratch, server_before)["wal_written_mb"]
            result.record(f"{key}full_backfill_wal", f"{label}first full backfill: WAL the server wrote", "MB", written)
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
            f"{key}full_backfill_overhead",
            f"{label}first full backfill: Dagster overhead (process start, bookkeeping)",
            "s",
            run.overhead_seconds,
        )
        result.record(f"{key}peak_rss", f"{label}peak RSS of the run process", "MB", run.peak_rss_mb)


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
    target = FreshnessTarget(scratch.url, scratch.benchmark_sql)
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
    label = "re-run after the app's changes beside the first fill"
    bench.report(label)
    bench.settle()
    run = runner.materialize_range()
    result.record("rerun_after_app_sql", f"{label}: SQL", "s", run.sql_seconds)
    result.record("rerun_after_app_rows_written", f"{label}: rows written", "rows", run.rows_written)
    result.record("peak_rss", "peak RSS of the run process", "MB", run.peak_rss_mb)


def bench_app_reads(bench: BenchContext, result: BenchReport) -> None:
    """App-side read latency through the link tables as the pipeline built them, and through the old joins."""
    scratch, report = bench.scratch, bench.report
    report("project_conversations through Dagster, so the project question has its link table; then its reconcile")
    project = bench.runner((PROJECT_LINKS_TABLE,))
    project.materialize_unpartitioned()
    run = project.materialize_unpartitioned()
    result.record(
        "project_reconcile_sql", "project_conversations reconcile, nothing changed: SQL", "s", run.sql_seconds
    )
    record_checks_sql(result, "project_reconcile", "project_conversations reconcile, nothing changed", run)
    moved = "one conversation moved to another project, the sensor's scoped project run"
    for attempt in range(bench.short_repeats):
        report(f"{moved} ({attempt + 1}/{bench.short_repeats})")
        run = project.materialize_unpartitioned(
            scoped_run_config([_move_one_conversation(scratch)], PROJECT_LINK_ASSETS)
        )
        result.record("project_scoped_sql", f"{moved}: SQL", "s", run.sql_seconds)
        result.record("project_scoped_rows_written", f"{moved}: rows written", "rows", run.rows_written)
        record_checks_sql(result, "project_scoped", moved, run)
    with connect(scratch.url, autocommit=True) as conn:
        for table in LINK_TABLES:
            conn.execute(
                scratch.benchmark_sql("bench/vacuum_analyze_table.sql", schema=scratch.source_schema, table=table)
            )
    report(f"app read latency over up to {bench.read_samples:,} random ids per question, each way")
    latencies = measure_read_latencies(
        scratch.url,
        scratch.source_schema,
        samples=bench.read_samples,
        budget_seconds=READ_BUDGET_SECONDS,
        report=report,
    )
    result.reads = [latency.as_row() for latency in latencies]
    result.read_speedups = {key: round(ratio, 1) for key, ratio in speedups(latencies).items()}
    result.record("round_trip", "round trip of `select 1` (floor of any read)", "s", round_trip_seconds(scratch.url))


def bench_histories(bench: BenchContext, result: BenchReport) -> None:
    """The histories assets: first full backfill, re-run with nothing changed, a discovery tick with 10 new sessions."""
    scratch, report, _repeats = bench.scratch, bench.report, bench.repeats
    runner = bench.runner(HISTORIES_ASSETS)
    bench_full_backfills(
        bench,
        result,
        runner,
        key="histories_",
        label="histories, ",
        empty_tables=lambda: _truncate_histories_analytics(scratch),
    )
    result.counts.update({table: _count(scratch, scratch.analytics_schema, table) for table in HISTORIES_TABLES})
    result.sizes += _table_sizes(scratch, "source", scratch.source_schema, _histories_source_tables(scratch))
    result.sizes += _table_sizes(scratch, "analytics", scratch.analytics_schema, HISTORIES_TABLES)
    bench_reruns(bench, result, runner, key="histories_", label="histories, ")

    for attempt in range(bench.short_repeats):
        report(f"histories: discovery tick with {TICK_NEW_SESSIONS} new sessions ({attempt + 1}/{bench.short_repeats})")
        run = _discovery_tick(scratch, runner)
        tick = f"discovery tick, {TICK_NEW_SESSIONS} new sessions"
        mode = (
            f"histories_sessions mode: {run.metadata['histories_sessions'].get('mode', 'unknown')}; SQL / step: "
            + ", ".join(
                f"{asset} {float(metadata['sql_seconds']) * 1000:.0f} / {float(metadata['seconds']) * 1000:.0f} ms"
                for asset, metadata in run.metadata.items()
            )
        )
        result.record("tick_sql", f"{tick}: SQL", "s", run.sql_seconds, note=mode)
        result.record("tick_steps", f"{tick}: the asset steps (SQL, their Python, connections)", "s", run.step_seconds)
        result.record("tick_checks", f"{tick}: the checks", "s", run.checks_seconds)
        record_checks_sql(result, "tick", tick, run)
        result.record(
            "tick_overhead", f"{tick}: Dagster overhead (process start, bookkeeping)", "s", run.overhead_seconds
        )
        result.record("tick_rows_written", f"{tick}: rows written", "rows", run.rows_written)
        # A new session is a new summary row; the day's other sessions are already summarized.
        result.record(
            "tick_sessions_found",
            f"{tick}: sessions found",
            "sessions",
            run.figure("conversation_summaries", "rows_inserted_in_window"),
        )
        result.record("histories_peak_rss", "histories: peak RSS of the run process", "MB", run.peak_rss_mb)
    stock_runner = bench.runner(HISTORIES_ASSETS, stock_storage=True)
    for attempt in range(bench.short_repeats):
        tick = f"discovery tick, {TICK_NEW_SESSIONS} new sessions{STOCK_STORAGE_LABEL}"
        report(f"histories: {tick} ({attempt + 1}/{bench.short_repeats})")
        run = _discovery_tick(scratch, stock_runner)
        result.record(
            "tick_stock_overhead", f"{tick}: Dagster overhead (process start, bookkeeping)", "s", run.overhead_seconds
        )


def bench_subscriber(bench: BenchContext, result: BenchReport, subscriber: SubscriberServer) -> None:
    """`repeats` first fills of the Front link tables with a new logical subscription attached and nothing else
    running: the fill's SQL, the subscriber's peak lag during it, its catch-up after it, both copies compared."""
    for attempt in range(bench.repeats):
        bench.report(f"first full backfill with a logical subscriber attached ({attempt + 1}/{bench.repeats})")
        _reset_front_links_to_never_filled(bench.scratch)
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


def _scoped_run(scratch: Scratch, runner: DagsterRunner, day: date) -> DagsterRun:
    """One late change on `day`, then the run the late-change sensor launches for it."""
    conversation = _make_one_change(scratch, day)
    return runner.materialize_partition(day, run_config=scoped_run_config([conversation]))


def _move_one_conversation(scratch: Scratch) -> str:
    """An app moving one conversation to another project, as the freshness samples do; returns its id."""
    with connect(scratch.url) as conn:
        for _ in range(PICK_TRIES):
            pivots = {"conversation_pivot": uuid.uuid4(), "project_pivot": uuid.uuid4()}
            moved = conn.execute(
                scratch.benchmark_sql("bench/freshness/update_conversation_moving_to_another_project.sql"), pivots
            ).fetchone()
            if moved is not None:
                conn.commit()
                return str(moved[1])
    raise BenchError(f"no conversation could be moved to another project after {PICK_TRIES} tries")


def _discovery_tick(scratch: Scratch, runner: DagsterRunner) -> DagsterRun:
    """TICK_NEW_SESSIONS new chat sessions, then a discovery tick's run of today."""
    written = _insert_new_sessions(scratch, TICK_NEW_SESSIONS)
    if written < TICK_NEW_SESSIONS:
        raise BenchError(
            f"wrote {written} new chat sessions for the discovery tick instead of {TICK_NEW_SESSIONS}: no crew?"
        )
    today = datetime.now(UTC).date()
    return runner.materialize_partition(today, run_config=discovery_tick_run_config())


# ---------------------------------------------------------------- the app beside the runs


@dataclass(frozen=True)
class RunBesideApp:
    key: str
    label: str
    launch: Callable[[], DagsterRun]
    empty_tables: Callable[[], None] | None = None
    # Held open around the app and the run: a logical subscriber attached to the tables the run writes.
    attached: Callable[[], AbstractContextManager[object]] = nullcontext


@dataclass
class BesideOutcome:
    """A run measured beside the app workload: what the app saw, how long the run took, how it ended."""

    run: RunBesideApp
    workload: WorkloadReport
    seconds: float
    failure: str | None
    server_activity: dict[str, float]
    dagster_run: DagsterRun | None

    @property
    def modes(self) -> str:
        return self.dagster_run.modes() if self.dagster_run is not None else ""


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
        server_before = _wal_and_requested_checkpoints(scratch)
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
        server_activity = _server_activity_since(scratch, server_before)
    workload = app.report()
    report(workload.summary())
    return BesideOutcome(run, workload, seconds, failure, server_activity, dagster_run)


def bench_app_beside_runs(
    bench: BenchContext, result: BenchReport, *, subscriber: SubscriberServer | None = None
) -> None:
    """The app workload (convo_benchmarks.app_workload) during a first fill with a logical subscriber attached
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
                lambda: _reset_front_links_to_never_filled(scratch),
                subscribed.attached,
            )
        )
    if bench.first_fill_beside_app is None:
        runs.append(
            RunBesideApp(
                "first_fill",
                "first fill of the Front link tables",
                front.materialize_range,
                lambda: _reset_front_links_to_never_filled(scratch),
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
                lambda: _truncate_histories_analytics(scratch),
            )
        )
    outcomes = [bench.first_fill_beside_app] if bench.first_fill_beside_app is not None else []
    outcomes += [measure_beside_app(bench, run) for run in runs]
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


def _wal_and_requested_checkpoints(scratch: Scratch) -> tuple[int, int]:
    with connect(scratch.url) as conn:
        since_17 = conn.info.server_version >= 170000
        statement = scratch.benchmark_sql(
            "bench/select_wal_and_requested_checkpoints.sql",
            view="pg_stat_checkpointer" if since_17 else "pg_stat_bgwriter",
            counter="num_requested" if since_17 else "checkpoints_req",
        )
        wal_bytes, requested = conn.execute(statement).fetchone()
    return int(wal_bytes), int(requested)


def _server_activity_since(scratch: Scratch, before: tuple[int, int]) -> dict[str, float]:
    """The WAL written and the checkpoints requested on the whole server since `before` (the run's and the
    app's): a commit waits for the WAL before it to be flushed, and a forced checkpoint flushes every
    dirty data file, so these are what the app's commits wait on beside a bulk write."""
    wal_bytes, requested = _wal_and_requested_checkpoints(scratch)
    return {"wal_written_mb": round((wal_bytes - before[0]) / 2**20, 1), "checkpoints_requested": requested - before[1]}


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
    (`_server_activity_since`), then the workload's whole report."""
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


# ---------------------------------------------------------------- SQL outside Dagster


def _render(scratch: Scratch, name: str, table: str) -> sql.Composed:
    """convo_benchmarks/sql/<name> for one Front link table, with that table's oracle composed in."""
    spec = FRONT_LINK_SPECS[table]
    return scratch.benchmark_sql(
        name, links=spec.table, owner=spec.owner_column, oracle=_contender_oracle(scratch, spec)
    )


def _contender_oracle(scratch: Scratch, spec: FrontLinkTable) -> sql.Composed:
    """The oracle a contender computes: the same SQL the project's bulk runs compute on this database (the
    join a source key proves needless left out the same way), so only how the rows are written differs."""
    with connect(scratch.url) as conn:
        return front_definition(Session(conn, scratch.source_schema, scratch.analytics_schema), spec)


def _truncate_histories_analytics(scratch: Scratch) -> None:
    with connect(scratch.url) as conn:
        conn.execute(scratch.benchmark_sql("bench/truncate_histories_analytics.sql"))


def _truncate_front_links(scratch: Scratch) -> None:
    with connect(scratch.url) as conn:
        conn.execute(
            sql.SQL("truncate {}, {}").format(
                *(sql.Identifier(scratch.source_schema, table) for table in FRONT_LINK_ASSETS)
            )
        )


def _reset_front_links_to_never_filled(scratch: Scratch) -> None:
    """Empty the Front link tables and drop their foreign keys: as their migration left them, so the next
    run takes the first-fill path a user's first backfill takes (a TRUNCATE alone keeps the keys, and the
    run would diff into an empty table instead)."""
    _truncate_front_links(scratch)
    with connect(scratch.url) as conn:
        for spec in FRONT_LINK_TABLES:
            for key in spec.foreign_keys:
                conn.execute(
                    scratch.benchmark_sql("bench/drop_link_foreign_key.sql", links=spec.table, constraint_name=key.name)
                )


def _time_plain_floor(scratch: Scratch) -> float:
    statements = [_render(scratch, "bench/insert_links_plain_floor.sql", table) for table in FRONT_LINK_ASSETS]
    with connect(scratch.url) as conn:
        started = time.perf_counter()
        for statement in statements:
            conn.execute(statement, ALL_TIME)
        conn.commit()
        return time.perf_counter() - started


@dataclass(frozen=True)
class MaterializedViewTimes:
    build: float  # both link joins created as materialized views, with their indexes
    build_wal: float  # MB of WAL the server wrote during that build
    refresh_unchanged: float  # REFRESH ... CONCURRENTLY of both, nothing changed
    refresh_after_change: float  # the same after one recipient was added to an old day


def _time_materialized_views(scratch: Scratch, change_day: date, settle: Callable[[], None]) -> MaterializedViewTimes:
    """The contender: each link join as a materialized view, built, refreshed with nothing changed and
    after one late change, each after `settle`; dropped afterwards. Its window is bound client-side: DDL
    takes no parameters."""
    views = {table: f"{table}_contender" for table in FRONT_LINK_ASSETS}

    oracles = {table: _contender_oracle(scratch, FRONT_LINK_SPECS[table]) for table in views}

    def run_for_each(name: str) -> float:
        statements = [
            scratch.benchmark_sql(name, view=view, owner=FRONT_LINK_SPECS[table].owner_column, oracle=oracles[table])
            for table, view in views.items()
        ]
        with connect(scratch.url) as conn:
            cursor = psycopg.ClientCursor(conn)
            started = time.perf_counter()
            for statement in statements:
                cursor.execute(statement, ALL_TIME)
            conn.commit()
            return time.perf_counter() - started

    try:
        settle()
        server_before = _wal_and_requested_checkpoints(scratch)
        build = run_for_each("bench/create_links_materialized_view.sql")
        build_wal = _server_activity_since(scratch, server_before)["wal_written_mb"]
        settle()
        unchanged = run_for_each("bench/refresh_links_materialized_view.sql")
        _make_one_change(scratch, change_day)
        settle()
        after_change = run_for_each("bench/refresh_links_materialized_view.sql")
    finally:
        run_for_each("bench/drop_links_materialized_view.sql")
    return MaterializedViewTimes(build, build_wal, unchanged, after_change)


@dataclass(frozen=True)
class SensorTickTimes:
    changes_found: int  # conversations the tick found changed
    without_indexes: float  # the tick's SQL, the source as DESIGN assumes it (no index on the change stamps)
    with_indexes: float  # the same once the late_change_indexes check's statements ran


def _time_sensor_tick(scratch: Scratch, changes: int) -> SensorTickTimes:
    """`changes` new recipients, then the SQL of the tick that finds them (the sensor's own
    read_fingerprints and find_changed_day_ranges from the moment before them, every bucket of the window read as
    changed, as on a tick after the sensor's first), fastest of SENSOR_TICK_TRIES,
    without then with the recommended indexes, which are dropped afterwards."""
    with connect(scratch.url, autocommit=True) as conn:
        session = Session(conn, scratch.source_schema, scratch.analytics_schema)
        after = conn.execute(scratch.benchmark_sql("bench/select_database_now.sql")).fetchone()[0]
        conn.execute(scratch.benchmark_sql("bench/insert_recipients_for_sensor_tick.sql"), {"changes": changes})

        def fastest_tick() -> tuple[int, float]:
            times, found = [], 0
            for _ in range(SENSOR_TICK_TRIES):
                started = time.perf_counter()
                changed = read_fingerprints(session, after).changed_buckets(FRONT_SOURCE, None)
                day_ranges = find_changed_day_ranges(session, changed) if changed else []
                times.append(time.perf_counter() - started)
                found = sum(conversations for _, _, conversations, _ in day_ranges)
            return found, min(times)

        found, without = fastest_tick()
        with recommended_change_indexes(scratch):
            _, with_indexes = fastest_tick()
    return SensorTickTimes(found, without, with_indexes)


@contextmanager
def recommended_change_indexes(scratch: Scratch) -> Iterator[None]:
    """The indexes on the change stamps that the late_change_indexes check recommends, for the block: created
    (the check's own statements), their statistics gathered, and dropped afterwards."""
    with connect(scratch.url, autocommit=True) as conn:
        statements = conn.execute(
            scratch.sql("links/checks/check_late_change_indexes.sql"),
            {"source_schema": scratch.source_schema, **change_index_params()},
        ).fetchone()[2]
        try:
            for statement in statements:
                conn.execute(statement)  # the check's own format(): identifiers quoted by PostgreSQL
            # What autovacuum does soon after on a live database: statistics of the new expressions, without
            # which the planner guesses how many rows a tick's interval holds.
            for table in CHANGE_WATCHED_TABLES:
                conn.execute(
                    scratch.benchmark_sql("bench/vacuum_analyze_table.sql", schema=scratch.source_schema, table=table)
                )
            yield
        finally:
            for table in CHANGE_WATCHED_TABLES:
                conn.execute(scratch.benchmark_sql("bench/drop_change_index.sql", index_name=change_index_name(table)))


def _time_seed_batches(scratch: Scratch, report: Report) -> float:
    """The seeds' way: one query per table per batch of 500 conversations, upserting each batch."""
    with connect(scratch.url) as conn:
        ids = [row[0] for row in conn.execute(scratch.benchmark_sql("bench/select_front_conversation_ids_ordered.sql"))]
        statements = {
            table: _render(scratch, "bench/insert_links_batch_upsert.sql", table) for table in FRONT_LINK_ASSETS
        }
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


def _time_read_side(scratch: Scratch) -> float:
    """The floor of any fill or diff of the Front link tables: each table's join and DISTINCT counted by a
    plain SELECT (which PostgreSQL runs in parallel at its own settings), writing nothing."""
    statements = [_render(scratch, "bench/count_links_read_side.sql", table) for table in FRONT_LINK_ASSETS]
    with connect(scratch.url) as conn:
        started = time.perf_counter()
        for statement in statements:
            conn.execute(statement, ALL_TIME).fetchone()
        return time.perf_counter() - started


def _make_one_change(scratch: Scratch, day: date) -> str:
    """Add one recipient to the day's first conversation; returns that conversation's id."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    with connect(scratch.url) as conn:
        changed = conn.execute(
            scratch.benchmark_sql("bench/insert_recipient_for_bench_change.sql"),
            {"start": start, "end": start + timedelta(days=1)},
        ).fetchone()
        if changed is None:
            raise BenchError(f"no conversation on {day} to change: seed more conversations or days")
        return changed[0]


def _insert_new_sessions(scratch: Scratch, sessions: int) -> int:
    """Write `sessions` new chat sessions, spread over the crews, in each crew's own message shape; returns how many."""
    with connect(scratch.url) as conn:
        crews = load_crews(conn, scratch.source_schema)
        if not crews:
            return 0
        session_ids: set[str] = set()
        for index, crew in enumerate(crews):
            rows = conn.execute(
                scratch.benchmark_sql(
                    "bench/insert_new_histories_sessions.sql", histories_table=crew.histories_table_name
                ),
                {
                    "sessions": even_share(sessions, len(crews), index),
                    "messages_per_session": TICK_MESSAGES_PER_SESSION,
                },
            ).fetchall()
            session_ids.update(row[0] for row in rows)
        return len(session_ids)


def _histories_source_tables(scratch: Scratch) -> list[str]:
    with connect(scratch.url) as conn:
        return [crew.histories_table_name for crew in load_crews(conn, scratch.source_schema)]


def _count(scratch: Scratch, schema: str, table: str) -> int:
    with connect(scratch.url) as conn:
        return count_rows(conn, schema, table)


def _table_sizes(
    scratch: Scratch, label: str, schema: str, tables: tuple[str, ...] | list[str]
) -> list[dict[str, object]]:
    """Heap and index sizes of `tables` in `schema`, each row naming its schema by `label` (source, analytics)."""
    with connect(scratch.url) as conn:
        rows = conn.execute(
            scratch.benchmark_sql("bench/select_table_sizes.sql"), {"schema": schema, "tables": list(tables)}
        ).fetchall()
    return [
        {"schema": label, "table": name, "table_mb": round(heap / 2**20, 1), "index_mb": round(index / 2**20, 1)}
        for name, heap, index in rows
    ]


def _schemas_disk_mb(scratch: Scratch) -> float:
    with connect(scratch.url) as conn:
        disk_bytes = conn.execute(
            scratch.benchmark_sql("bench/select_schemas_disk_bytes.sql"),
            {"schemas": [scratch.source_schema, scratch.analytics_schema]},
        ).fetchone()[0]
    return round(disk_bytes / 2**20, 1)


# ---------------------------------------------------------------- output


def write_json(result: BenchReport, path: Path) -> None:
    path.write_text(json.dumps(result.as_dict(), indent=2, default=str))
