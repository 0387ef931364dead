"""Which database errors a later attempt of the same work can get past, and the one line that says each."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg.conninfo import conninfo_to_dict

from convo_pipelines.lib.db import CONCURRENT_CHANGE_SQLSTATES, psycopg_url
from convo_pipelines.lib.errors import first_line

# SQLSTATEs after which the same work, started again a little later, can succeed: the server ended
# the session (57P01 admin shutdown: pg_terminate_backend, a restart; 57P02 crash shutdown; 57P03
# starting up or shutting down), or a concurrent transaction won (serialization failure, deadlock,
# lock timeout, which the assets already retry inside the step before giving up). Class 08 is
# "connection exception".
SESSION_ENDED_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
TRANSIENT_SQLSTATES = SESSION_ENDED_SQLSTATES | CONCURRENT_CHANGE_SQLSTATES
# libpq reports a failed connection without a SQLSTATE; these (English) texts are failures no retry fixes.
PERMANENT_CONNECTION_FAILURES = (
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
    "certificate",
)
# The statement timeout's SQLSTATE is also a cancel by hand (pg_cancel_backend): its text tells them apart.
STATEMENT_TIMEOUT_TEXT = "statement timeout"


def is_transient_database_error(exc: BaseException) -> bool:
    """True for an error after which the same work, started again a little later, can succeed."""
    if not isinstance(exc, psycopg.Error):
        return False
    if exc.sqlstate is None:
        # Raised by libpq, not by a statement: the connection could not be made, or was lost.
        text = str(exc).lower()
        return isinstance(exc, psycopg.OperationalError) and not any(
            failure in text for failure in PERMANENT_CONNECTION_FAILURES
        )
    return exc.sqlstate in TRANSIENT_SQLSTATES or exc.sqlstate.startswith("08")


def database_location(url: str) -> str:
    """'host:port database name' of a PostgreSQL URL, never its user or password."""
    try:
        params = conninfo_to_dict(psycopg_url(url))
    except (psycopg.Error, ValueError):
        return "an unparseable URL"
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"{host}:{params.get('port') or 5432} database {params.get('dbname') or params.get('user') or 'postgres'}"


def location_or_placeholder(location: Callable[[], str]) -> str:
    """What `location` says, or a placeholder when the URL itself could not be resolved (an embedded
    server that did not start)."""
    try:
        return location()
    except Exception:
        return "the application database"


def transient_failure_summary(exc: psycopg.Error, *, connected: bool, where: str) -> str:
    """What a transient error did, for a step that met it: `connected` tells a failed connection from a lost one."""
    if not connected:
        return f"could not connect to PostgreSQL at {where}"
    if exc.sqlstate == psycopg.errors.LockNotAvailable.sqlstate:
        return (
            f"PostgreSQL at {where} kept giving up on a lock (lock_timeout) held by the application's transactions: "
            "see the docs' Deploying page, A DBA's limits"
        )
    if exc.sqlstate in CONCURRENT_CHANGE_SQLSTATES:
        return f"PostgreSQL at {where} kept reporting concurrent changes ({exc.sqlstate})"
    return f"lost the connection to PostgreSQL at {where}"


def permanent_failure_line(exc: Exception, where: str) -> str:
    """The one line of an error no retry fixes: a DBA's limit with its remedy, else the server's own words."""
    if isinstance(exc, psycopg.Error):
        limit = server_limit_reached(exc)
        if limit is not None:
            return f"PostgreSQL at {where} {limit}"
        code = f" ({exc.sqlstate})" if exc.sqlstate else ""
        return f"PostgreSQL at {where} failed the step{code}: {first_line(exc)}"
    return f"{type(exc).__name__}: {first_line(exc)}"


def server_limit_reached(exc: psycopg.Error) -> str | None:
    """What a DBA's limit did and its remedy, for an error one caused; None for any other error.

    A database- or role-level statement_timeout is the DBA's to lift for the pipeline's role (runs respect
    it rather than override it), and a read-only server is the wrong DATABASE_URL."""
    if exc.sqlstate == psycopg.errors.QueryCanceled.sqlstate and STATEMENT_TIMEOUT_TEXT in str(exc):
        return (
            "canceled a statement after statement_timeout (set for this database or role): give the pipeline's "
            "role room with `alter role <role> set statement_timeout = 0` (the docs' Deploying page, A DBA's limits)"
        )
    if exc.sqlstate == psycopg.errors.ReadOnlySqlTransaction.sqlstate:
        return "takes no writes (a hot standby, or default_transaction_read_only): point DATABASE_URL at the primary"
    return None
