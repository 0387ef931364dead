"""The application database a command works on: DATABASE_URL, or the embedded PostgreSQL under CONVO_HOME.

`convo-pipelines migrate` and `status` run through here, and so do `dev` and the benchmarks' commands. It
imports no Dagster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from convo_pipelines.lib.embedded.server import (
    EMBEDDED_APP_DATABASE,
    embedded_is_running,
    embedded_pgdata,
    start_embedded_postgres,
    stop_embedded_postgres,
)
from convo_pipelines.lib.errors import ConfigError
from convo_pipelines.lib.postgres.source_tables import SOURCE_TABLES
from convo_pipelines.lib.postgres.urls import redact_url
from convo_pipelines.lib.settings import Settings

Say = Callable[[str], None]


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
