"""The bench's scratch location: three scratch schemas in DATABASE_URL's database or a scratch database on the
embedded server, dropped afterwards; the server settings a bulk write depends on; Dagster's storage and homes there."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import psycopg
import yaml

from convo_benchmarks.bench_context import Report
from convo_benchmarks.bench_replication import logical_embedded_server, require_logical_wal_level
from convo_benchmarks.bench_runs import BenchError
from convo_benchmarks.bench_scratch import Scratch
from convo_benchmarks.bench_server import embedded_server_settings
from convo_pipelines.cli.database import app_database
from convo_pipelines.cli.dev import PROJECT_DAGSTER_YAML
from convo_pipelines.lib.embedded.server import drop_database, embedded_is_running, ensure_database
from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.urls import redact_url, with_database
from convo_pipelines.lib.settings import Settings

# Where the embedded scratch database keeps its tables: the project's defaults.
EMBEDDED_SOURCE_SCHEMA = "public"
EMBEDDED_ANALYTICS_SCHEMA = "analytics"
# Dagster's storage of the benchmark's runs, inside the scratch database on the embedded server.
BENCH_DAGSTER_SCHEMA = "dagster"
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


@contextmanager
def scratch_location(
    settings: Settings, report: Report, *, logical: bool = False, server: dict[str, str] | None = None
) -> Iterator[Scratch]:
    """Three scratch schemas in DATABASE_URL's database (source, analytics, Dagster's storage), or else a scratch
    database on the embedded server; `logical`: on a server at wal_level = logical (checked before anything is
    created); `server`: settings the embedded server runs with for the while (bench_server.embedded_server_settings)."""
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
