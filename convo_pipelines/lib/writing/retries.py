"""The retry rules, in one place: which database errors a later attempt of the same work can get past, how a
transaction is retried inside a step when the application changed something under it, how often a step
itself is retried (the assets' RetryPolicy), and the one line that says each failure."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg
from psycopg import sql

from convo_pipelines.lib.errors import first_line

T = TypeVar("T")

# SQLSTATEs that mean "the application moved under this statement", not "this statement is wrong":
# a lock the app held past our lock_timeout, a deadlock with an app transaction, a serialization
# failure. Retried with backoff; the statement is idempotent, so a retry converges.
LOCK_NOT_AVAILABLE = "55P03"
DEADLOCK_DETECTED = "40P01"
SERIALIZATION_FAILURE = "40001"
# A row the app deleted after this statement's snapshot was taken: the insert of a link to it fails
# its foreign-key check. Transient only for statements that insert links computed from a snapshot.
FOREIGN_KEY_VIOLATION = "23503"
CONCURRENT_CHANGE_SQLSTATES = frozenset({LOCK_NOT_AVAILABLE, DEADLOCK_DETECTED, SERIALIZATION_FAILURE})


def retry_concurrent_changes(
    attempt: Callable[[], T],
    *,
    what: str,
    log: Callable[[str], object] | None = None,
    also_retry: frozenset[str] = frozenset(),
    max_attempts: int = 40,
    first_delay: float = 0.05,
    max_delay: float = 2.0,
) -> T:
    """Run `attempt` (one whole transaction), again after a jittered, growing pause when it failed
    because the application changed or locked something meanwhile (CONCURRENT_CHANGE_SQLSTATES, plus
    `also_retry`). After `max_attempts` the last error is raised, with a note saying how often it was tried.
    """
    retried = CONCURRENT_CHANGE_SQLSTATES | also_retry
    delay = first_delay
    for number in range(1, max_attempts + 1):
        try:
            return attempt()
        except psycopg.Error as exc:
            if exc.sqlstate not in retried or number == max_attempts:
                if number > 1:
                    exc.add_note(f"{what}: gave up after {number} attempts")
                raise
            if log is not None:
                log(f"{what}: attempt {number} met a concurrent change ({exc.sqlstate}: {first_line(exc)}); retrying")
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")


# How often an insert of links computed from a snapshot is tried again in its savepoint when a foreign-key check
# met a row the application deleted meanwhile (each attempt reads the source again).
SAVEPOINT_ATTEMPTS = 50


def retry_in_savepoint(conn: psycopg.Connection, statement: sql.Composable, params: dict[str, object]) -> int:
    """Run `statement` in a savepoint inside the caller's transaction, again when a foreign-key check met a row the
    application deleted meanwhile (up to SAVEPOINT_ATTEMPTS times); returns its row count."""
    for attempt in range(1, SAVEPOINT_ATTEMPTS + 1):
        try:
            with conn.transaction():  # a savepoint inside the caller's transaction
                return conn.execute(statement, params).rowcount
        except psycopg.errors.ForeignKeyViolation:
            if attempt == SAVEPOINT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


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


# How a step that met a transient error is retried (the RetryPolicy of every asset and check that works in the
# application database): up to STEP_RETRIES more attempts, the pauses growing from STEP_RETRY_DELAY_SECONDS
# exponentially (about 3, 9 and 21 seconds), jittered so that runs which lost the server together do not all come
# back in the same second: enough to ride out a restart, a failover of a few seconds or a dropped connection.
# Every asset is idempotent, so a retried step ends exactly where an uninterrupted one would.
STEP_RETRIES = 3
STEP_RETRY_DELAY_SECONDS = 3


@dataclass(frozen=True)
class StepFailure:
    """What a step does with an error its block raised: `retried` by the step's retry policy (an attempt is left and
    the error is transient), else it fails for good with `line`; `permanent` when no retry could have helped."""

    line: str
    retried: bool
    permanent: bool
    metadata: dict[str, object] = field(default_factory=dict)


def step_failure(exc: Exception, *, attempt: int, allowed: int, connected: bool, where: str) -> StepFailure:
    """How attempt `attempt` of `allowed` of a step ends on `exc`, met while connecting (`connected` False) or on an
    open connection to the database at `where`."""
    if not is_transient_database_error(exc):
        return StepFailure(permanent_failure_line(exc, where), retried=False, permanent=True)
    what = transient_failure_summary(exc, connected=connected, where=where)
    if attempt < allowed:
        return StepFailure(
            f"{what} (attempt {attempt} of {allowed}, retrying): {first_line(exc)}", retried=True, permanent=False
        )
    return StepFailure(
        f"{what} after {attempt} attempt{'s' if attempt > 1 else ''}: {first_line(exc)}",
        retried=False,
        permanent=False,
        metadata={"database": where, "attempts": attempt, "sqlstate": exc.sqlstate or "none"},
    )
