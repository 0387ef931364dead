"""The one resource every asset, check, schedule and sensor uses: the application's PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg.sql import Composable, Composed
from pydantic import Field, PrivateAttr

from convo_pipelines.lib.db import (
    CONCURRENT_CHANGE_SQLSTATES,
    connect,
    psycopg_url,
    redact_url,
    set_pipeline_transaction_settings,
    sql_seconds,
    start_embedded_postgres,
)
from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.migrations import MigrationError, ensure_schema_current
from convo_pipelines.lib.settings import Settings
from convo_pipelines.lib.sqlfiles import render_sql

# The Dagster concurrency pool of every asset that writes to the application database: its limit
# (dagster.yaml's concurrency.pools.default_limit, or `dagster instance concurrency set app_database N`)
# bounds how many of them run at once across all runs, whatever the run queue admits.
APP_DATABASE_POOL = "app_database"

# The retry policy of every asset and check that works in the application database. connect() lets
# it retry transient database errors only (below); anything else fails the step at once. The pauses
# are about 3, 9 and 21 seconds, jittered so that runs which lost the server together do not all
# come back in the same second: enough to ride out a restart, a failover of a few seconds or a
# dropped connection. Every asset is idempotent, so a retried step ends exactly where an
# uninterrupted one would.
TRANSIENT_ERRORS_RETRY = dg.RetryPolicy(
    max_retries=3, delay=3, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

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

# Connections a run keeps for its next steps and checks, which run one at a time.
MAX_IDLE_RUN_CONNECTIONS = 1
# A kept connection idle longer than this is closed rather than reused: a run's steps follow one another
# within seconds, and one left idle for long (a step queued for a pool slot) may have been dropped by a
# firewall or a failover without a word, which only TCP's own time-out (minutes) would reveal.
MAX_IDLE_SECONDS = 60.0

# (url, source schema, analytics schema) whose migrations this process found current: the check runs
# on the first connection of a process only, never at code-location load.
_schemas_found_current: set[tuple[str, str, str]] = set()
_schema_check_locks: dict[tuple[str, str, str], threading.Lock] = {}
_schema_check_locks_guard = threading.Lock()


class PostgresResource(dg.ConfigurableResource):
    """The application database: reads the source schema, writes link tables and analytics.

    An empty `database_url` means the embedded PostgreSQL under `convo_home` (started on
    first use), which is what `make dev` and the tests run on.
    """

    database_url: str = Field(default="", description="PostgreSQL URL; empty for the embedded server.")
    convo_home: str = Field(default=".convo", description="Folder of the embedded server's data.")
    source_schema: str = Field(default="public", description="Schema of the source tables and link tables.")
    analytics_schema: str = Field(default="analytics", description="Schema of the analytics tables.")
    auto_migrate: bool = Field(
        default=True,
        description="Apply pending migrations on the first connection of a run (CONVO_AUTO_MIGRATE); "
        "false makes a run with pending migrations fail with one line naming them.",
    )
    # Connections a run's steps and checks finished with, for its next ones (see connect()).
    # Each with the time.monotonic() it was given back at.
    _idle: list[tuple[psycopg.Connection, float]] = PrivateAttr(default_factory=list)
    _idle_guard: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> PostgresResource:
        # EnvVar keeps the URL (and its password) out of the UI's resource config view.
        url = dg.EnvVar("DATABASE_URL") if settings.database_url else ""
        return cls(
            database_url=url,
            convo_home=str(settings.convo_home),
            source_schema=settings.source_schema,
            analytics_schema=settings.analytics_schema,
            auto_migrate=settings.auto_migrate,
        )

    def resolved_url(self) -> str:
        if self.database_url:
            return self.database_url
        return start_embedded_postgres(Path(self.convo_home), database="convo")

    def display_url(self) -> str:
        """The URL without its password, for logs and metadata."""
        return redact_url(self.resolved_url())

    @contextmanager
    def connect(self, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A connection that commits when the block ends cleanly and rolls back otherwise.

        The first one of a process checks that the database's migrations match the code (and applies
        pending ones unless auto_migrate is off), so a first run on a new database just works.
        Inside a run, the connection comes from those the run's earlier steps and checks finished with
        (_run_connection says why) and goes back to them when the block ends cleanly; one whose block
        raised is closed, as is every connection outside a run (sensors, schedules, the command line).
        Inside an asset or check step, what the block raises is sorted for TRANSIENT_ERRORS_RETRY:
        see only_transient_errors_retried.
        """
        with only_transient_errors_retried(lambda: database_location(self.resolved_url())) as session:
            conn = self._run_connection(autocommit)
            session.connected = True
            ended_cleanly = False
            try:
                yield conn
                if conn.broken:
                    # The block handled a lost connection itself (histories record it per crew): the
                    # step must not pass for done with work that never reached the database.
                    raise psycopg.OperationalError("the connection was lost while the step went on")
                if not autocommit:
                    conn.commit()
                ended_cleanly = True
            finally:
                self._give_back(conn, reusable=ended_cleanly)

    @contextmanager
    def read_only_connection(self) -> Iterator[psycopg.Connection]:
        """A read-only transaction on one of the run's connections (as connect()), rolled back when the block ends.

        A check is a handful of short statements: on a new backend most of their time went to the fork and
        to filling its catalog caches again, on the backend its asset's step used they are warm. A transient
        error is sorted for the step's retry as connect() does.
        """
        with only_transient_errors_retried(lambda: database_location(self.resolved_url())) as session:
            conn = self._run_connection(autocommit=False)
            session.connected = True
            ended_cleanly = False
            try:
                conn.read_only = True
                set_pipeline_transaction_settings(conn)
                conn.sql_seconds = 0.0  # the transaction's set-up, not the caller's statements
                yield conn
                ended_cleanly = True
            finally:
                # Read only: nothing to keep. Given back, its transaction (and its SET LOCALs) is rolled back.
                self._give_back(conn, reusable=ended_cleanly)

    def _run_connection(self, autocommit: bool) -> psycopg.Connection:
        """One of the connections this run's steps and checks finished with, else a new one.

        A run's statements are short next to a new backend's start: PostgreSQL forks a process and fills
        its catalog caches anew on each relation's first use, which costs a check or a scoped run's step
        several times its statements' own time. So a run hands the connection of one step to the next and to its checks (Dagster runs them
        one after another in the run's process). The pipeline keeps nothing on a session (a transaction pooler
        may hand the server connection to another client), so there is nothing to reset; one round trip tells
        a connection the server ended meanwhile (a restart), which is closed for a new one.
        """
        while (conn := self._idle_connection()) is not None:
            try:
                conn.autocommit = True
                conn.read_only = conn.isolation_level = conn.deferrable = None
                conn.execute("select")
                conn.autocommit = autocommit
            except psycopg.Error:
                conn.close()
                continue
            except BaseException:
                conn.close()  # the step is being stopped: nobody would close it
                raise
            conn.sql_seconds = 0.0
            return conn
        url = self.resolved_url()
        conn = connect(url, autocommit=autocommit)
        try:
            self._ensure_schema_current(conn, url)
            if not autocommit:
                conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    def _idle_connection(self) -> psycopg.Connection | None:
        """The connection given back last, closing any kept longer than MAX_IDLE_SECONDS (a network device
        may have dropped it without a word, and the reset would then wait for TCP to give up)."""
        with self._idle_guard:
            while self._idle:
                conn, given_back_at = self._idle.pop()
                if time.monotonic() - given_back_at <= MAX_IDLE_SECONDS:
                    return conn
                conn.close()
        return None

    def _give_back(self, conn: psycopg.Connection, *, reusable: bool) -> None:
        """Keep `conn`, its transaction rolled back, for the run's next step or check when it ended cleanly
        inside a run; else close it (the server then rolls back whatever it had open)."""
        if reusable and not conn.closed and not conn.broken and current_step_attempts() is not None:
            try:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.rollback()
            except psycopg.Error:
                conn.close()
                return
            with self._idle_guard:
                if len(self._idle) < MAX_IDLE_RUN_CONNECTIONS:
                    self._idle.append((conn, time.monotonic()))
                    return
        conn.close()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        with self._idle_guard:
            idle, self._idle[:] = list(self._idle), []
        for conn, _ in idle:
            conn.close()

    def _ensure_schema_current(self, conn: psycopg.Connection, url: str) -> None:
        key = (url, self.source_schema, self.analytics_schema)
        if key in _schemas_found_current:
            return
        with _schema_check_lock(key):
            if key in _schemas_found_current:
                return
            spent_before = sql_seconds(conn)
            try:
                ensure_schema_current(
                    conn,
                    self.source_schema,
                    self.analytics_schema,
                    auto_migrate=self.auto_migrate,
                    log=dg.get_dagster_logger("convo_pipelines.lib.migrations"),
                )
            except MigrationError as exc:
                # One line saying what to run; a retry cannot help until someone runs it.
                raise dg.Failure(description=str(exc), allow_retries=False) from None
            finally:
                # The check (or the migrations) is not the caller's work: keep it out of its SQL time.
                conn.sql_seconds = spent_before
            _schemas_found_current.add(key)

    def sql(self, name: str, **identifiers: str | Composable) -> Composed:
        """sql/<name> with this database's schemas bound as identifiers."""
        return render_sql(name, source=self.source_schema, analytics=self.analytics_schema, **identifiers)


def _schema_check_lock(key: tuple[str, str, str]) -> threading.Lock:
    with _schema_check_locks_guard:
        return _schema_check_locks.setdefault(key, threading.Lock())


# ---------------------------------------------------------------------------------------------
# Which failures the retry policy retries


@dataclass
class DatabaseSession:
    """What connect() reached: whether a failure happened while connecting or on an open connection."""

    connected: bool = False


class DatabaseUnavailable(Exception):
    """A transient database error on an attempt the step's retry policy will follow with another."""


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


def current_step_attempts() -> tuple[int, int] | None:
    """(number of this attempt, attempts its retry policy allows) of the asset or check step running
    in this thread, or None outside a step (sensors, schedules, the command line)."""
    for context_type in (dg.AssetExecutionContext, dg.AssetCheckExecutionContext):
        try:
            context = context_type.get()
        except dg.DagsterInvariantViolationError:
            continue
        policy = context.op_execution_context.op_def.retry_policy
        return context.retry_number + 1, 1 + (policy.max_retries if policy else 0)
    return None


@contextmanager
def only_transient_errors_retried(location: Callable[[], str]) -> Iterator[DatabaseSession]:
    """Inside an asset or check step, let its RetryPolicy retry transient database errors only.

    A RetryPolicy retries every exception but a Failure with allow_retries=False, so anything else
    raised in the block becomes one (the original kept as its cause), and a Failure the block raised
    itself stops retrying. A transient error is left to the policy until the last attempt, which
    fails with one line naming the database (never the password). Outside a step nothing changes.
    """
    session = DatabaseSession()
    try:
        yield session
    except Exception as exc:
        attempts = current_step_attempts()
        if attempts is None or isinstance(exc, (dg.DagsterError, DatabaseUnavailable)):
            raise  # outside a step, Dagster's own, or already sorted by a connect() inside this one
        if isinstance(exc, dg.Failure):
            exc.allow_retries = False
            raise
        attempt, allowed = attempts
        where = _location_or_placeholder(location)
        if not is_transient_database_error(exc):
            raise dg.Failure(description=_permanent_failure_line(exc, where), allow_retries=False) from exc
        what = _transient_failure_summary(exc, session, where)
        if attempt < allowed:
            raise DatabaseUnavailable(f"{what} (attempt {attempt} of {allowed}, retrying): {first_line(exc)}") from exc
        raise dg.Failure(
            description=f"{what} after {attempt} attempt{'s' if attempt > 1 else ''}: {first_line(exc)}",
            metadata={"database": where, "attempts": attempt, "sqlstate": exc.sqlstate or "none"},
            allow_retries=False,
        ) from None


def _transient_failure_summary(exc: psycopg.Error, session: DatabaseSession, where: str) -> str:
    if not session.connected:
        return f"could not connect to PostgreSQL at {where}"
    if exc.sqlstate == psycopg.errors.LockNotAvailable.sqlstate:
        return (
            f"PostgreSQL at {where} kept giving up on a lock (lock_timeout) held by the application's transactions: "
            "see the docs' Deploying page, A DBA's limits"
        )
    if exc.sqlstate in CONCURRENT_CHANGE_SQLSTATES:
        return f"PostgreSQL at {where} kept reporting concurrent changes ({exc.sqlstate})"
    return f"lost the connection to PostgreSQL at {where}"


def _location_or_placeholder(location: Callable[[], str]) -> str:
    try:
        return location()
    except Exception:  # the URL itself could not be resolved (an embedded server that did not start)
        return "the application database"


def _permanent_failure_line(exc: Exception, where: str) -> str:
    if isinstance(exc, psycopg.Error):
        limit = _server_limit_reached(exc)
        if limit is not None:
            return f"PostgreSQL at {where} {limit}"
        code = f" ({exc.sqlstate})" if exc.sqlstate else ""
        return f"PostgreSQL at {where} failed the step{code}: {first_line(exc)}"
    return f"{type(exc).__name__}: {first_line(exc)}"


# The statement timeout's SQLSTATE is also a cancel by hand (pg_cancel_backend): its text tells them apart.
STATEMENT_TIMEOUT_TEXT = "statement timeout"


def _server_limit_reached(exc: psycopg.Error) -> str | None:
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
