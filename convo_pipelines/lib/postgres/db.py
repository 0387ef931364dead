"""Opening connections to PostgreSQL the way every part of the project does."""

from __future__ import annotations

import psycopg
from psycopg import sql

from convo_pipelines.lib.postgres.sqlfiles import read_sql
from convo_pipelines.lib.postgres.timing import TimedCursor
from convo_pipelines.lib.postgres.urls import psycopg_url, scrub_secrets
from convo_pipelines.lib.settings import source_time_zone

APPLICATION_NAME = "convo_pipelines"


def connect(url: str, *, time_zone: str | None = None, **kwargs) -> psycopg.Connection:
    """A psycopg connection tagged with the application name that never prepares statements, its session's
    TimeZone set to `time_zone` (SOURCE_TIME_ZONE when None) in autocommit before it is handed out in the
    autocommit mode asked for.

    Why the zone: the application may store its stamps as `timestamp without time zone` holding UTC (Rails,
    Prisma, Django) or SOURCE_TIME_ZONE's wall time, and PostgreSQL reads such a stamp in the session's
    TimeZone wherever it meets a timestamptz (a window's bound, a cast, a copy into a timestamptz column);
    a `timestamptz` stamp reads the same in any zone. Set here, no result depends on the server's, the
    database's or the role's TimeZone, nor on PGTZ. A day is taken as `(stamp::timestamptz at time zone
    'UTC')::date`, right for both types. It is the one setting the pipeline keeps on a session: a transaction
    pooler (pgbouncer) tracks TimeZone per client and sets it again on whichever server connection serves the
    client's next transaction. Every other setting is SET LOCAL, and nothing goes in the `options` startup
    parameter, which pgbouncer refuses.

    psycopg prepares a query server-side after a few executions, and PostgreSQL may then plan it
    once for any value; the window and scope filters (`$n is null or id = any($n)`) only fold
    away when planned with the values, so every execution is planned with its own (and a pooler
    without prepared statements never meets one).
    Tooling that is not the pipeline (the app workload, the lock monitor) passes its own
    `application_name`, so that pg_stat_activity tells it apart from the pipeline's backends.
    """
    kwargs.setdefault("application_name", APPLICATION_NAME)
    autocommit = kwargs.pop("autocommit", False)
    zone = time_zone or source_time_zone()
    try:
        conn = psycopg.connect(
            psycopg_url(url), prepare_threshold=None, cursor_factory=TimedCursor, autocommit=True, **kwargs
        )
    except psycopg.Error as exc:
        # libpq and psycopg may quote the connection string they were given, and the error's pgconn
        # holds the password: raised outside this block, the original is not even its suppressed context.
        failure = type(exc)(scrub_secrets(str(exc), url))
    else:
        try:
            set_session_time_zone(conn, zone)
            conn.autocommit = autocommit
            conn.sql_seconds = 0.0  # the session's set-up, not the caller's statements
        except BaseException:
            conn.close()
            raise
        return conn
    raise failure


def set_session_time_zone(conn: psycopg.Connection, time_zone: str) -> None:
    """Set `conn`'s session TimeZone; `conn` must be in autocommit: a transaction that rolled back would undo it."""
    conn.execute(read_sql("lib/session/set_session_time_zone.sql"), {"time_zone": time_zone})


def count_rows(conn: psycopg.Connection, schema: str, table: str) -> int:
    """The number of rows of schema.table (a full count: for small tables, reports and tests)."""
    return conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))).fetchone()[0]
