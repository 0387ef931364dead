"""Opening connections to PostgreSQL the way every part of the project does."""

from __future__ import annotations

import psycopg
from psycopg import sql

from convo_pipelines.lib.timing import TimedCursor
from convo_pipelines.lib.urls import psycopg_url, scrub_secrets

APPLICATION_NAME = "convo_pipelines"


def connect(url: str, **kwargs) -> psycopg.Connection:
    """A psycopg connection tagged with the application name that never prepares statements and sets nothing
    for its session, so it works the same through a transaction pooler (pgbouncer), which hands each
    transaction whatever server connection is free and refuses the `options` startup parameter.

    psycopg prepares a query server-side after a few executions, and PostgreSQL may then plan it
    once for any value; the window and scope filters (`$n is null or id = any($n)`) only fold
    away when planned with the values, so every execution is planned with its own (and a pooler
    without prepared statements never meets one). Day boundaries never depend on the session's
    TimeZone: the SQL says `at time zone 'UTC'` wherever it takes a day.
    Tooling that is not the pipeline (the app workload, the lock monitor) passes its own
    `application_name`, so that pg_stat_activity tells it apart from the pipeline's backends.
    """
    kwargs.setdefault("application_name", APPLICATION_NAME)
    try:
        return psycopg.connect(psycopg_url(url), prepare_threshold=None, cursor_factory=TimedCursor, **kwargs)
    except psycopg.Error as exc:
        # libpq and psycopg may quote the connection string they were given, and the error's pgconn
        # holds the password: raised outside this block, the original is not even its suppressed context.
        failure = type(exc)(scrub_secrets(str(exc), url))
    raise failure


def count_rows(conn: psycopg.Connection, schema: str, table: str) -> int:
    """The number of rows of schema.table (a full count: for small tables, reports and tests)."""
    return conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))).fetchone()[0]
