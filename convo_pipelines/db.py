"""Connection URLs, the embedded PostgreSQL, and opening connections."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}
APPLICATION_NAME = "convo_pipelines"


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the variable and never holds a password."""


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, safe to print or store in metadata."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:***@{netloc[1]}"))


def validate_database_url(url: str, variable: str) -> None:
    """Raise ConfigError naming `variable` unless `url` is a PostgreSQL URL psycopg can use."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme
        parts.port  # raises ValueError on a port that is not a number
    except ValueError:
        raise ConfigError(f"{variable}={redact_url(url)!r} does not parse: expected postgresql://user:password@host:5432/database") from None
    if scheme not in POSTGRES_SCHEMES:
        raise ConfigError(
            f"{variable}={redact_url(url)!r} is not a PostgreSQL URL: expected "
            "postgresql://user:password@host:5432/database"
        )
    try:
        conninfo_to_dict(psycopg_url(url))
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"{variable}={redact_url(url)!r} does not parse: {exc}") from None


def psycopg_url(url: str) -> str:
    """The URL in the libpq form psycopg takes (no SQLAlchemy dialect suffix)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


def dagster_storage_url(url: str) -> str:
    """The URL for dagster-postgres, which needs SQLAlchemy's psycopg2 dialect (see DAGSTER_NOTES)."""
    return "postgresql+psycopg2://" + psycopg_url(url).split("://", 1)[1]


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(psycopg_url(url))
    return urlunsplit(parts._replace(path=f"/{database}"))


def start_embedded_postgres(convo_home: Path, database: str = "postgres") -> str:
    """Start (or reuse) the embedded PostgreSQL under CONVO_HOME and return a URL to `database`.

    pgserver keeps the data in CONVO_HOME/pgdata and listens on a unix socket only, so two
    projects on one machine never fight over a port. The server outlives this process
    (cleanup_mode=None) so that the Dagster webserver, daemon and run workers share it.
    """
    import pgserver  # imported lazily: only the embedded mode needs it

    pgdata = convo_home / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    ensure_database(server.get_uri("postgres"), database)
    return server.get_uri(database)


def ensure_database(admin_url: str, database: str) -> None:
    """Create `database` on the server behind `admin_url` when it does not exist yet."""
    with psycopg.connect(psycopg_url(admin_url), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))


def drop_database(admin_url: str, database: str) -> None:
    """Drop `database` on the server behind `admin_url` if it exists, ending its sessions."""
    with psycopg.connect(psycopg_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))


def count_rows(conn: psycopg.Connection, schema: str, table: str) -> int:
    """The number of rows of schema.table (a full count: for small tables, reports and tests)."""
    return conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))).fetchone()[0]


class TimedCursor(psycopg.Cursor):
    """A cursor that adds each statement's time (round trip, planning, execution) to its connection's
    `sql_seconds`, so an asset can report the time spent in PostgreSQL apart from its own Python."""

    def execute(self, query, params=None, **kwargs):  # noqa: ANN001, ANN201 (psycopg's own signature)
        started = time.perf_counter()
        try:
            return super().execute(query, params, **kwargs)
        finally:
            self.connection.sql_seconds = sql_seconds(self.connection) + time.perf_counter() - started


def sql_seconds(conn: psycopg.Connection) -> float:
    """Seconds this connection has spent executing statements (0 for a connection not made by `connect`)."""
    return getattr(conn, "sql_seconds", 0.0)


def connect(url: str, **kwargs) -> psycopg.Connection:
    """A psycopg connection tagged with the application name, in UTC, that never prepares statements.

    psycopg prepares a query server-side after a few executions, and PostgreSQL may then plan it
    once for any value; the window and scope filters (`$n is null or id = any($n)`) only fold
    away when planned with the values, so every execution is planned with its own.
    """
    return psycopg.connect(
        psycopg_url(url),
        application_name=APPLICATION_NAME,
        options="-c TimeZone=UTC",
        prepare_threshold=None,
        cursor_factory=TimedCursor,
        **kwargs,
    )
