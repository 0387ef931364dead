"""The one resource every asset, check, schedule and sensor uses: the application's PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg
from pydantic import Field, PrivateAttr

from convo_pipelines.lib.embedded.server import EMBEDDED_APP_DATABASE, start_embedded_postgres
from convo_pipelines.lib.migrations.runner import MigrationError
from convo_pipelines.lib.migrations.schema_check import ensure_schema_current_once
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.kept_connections import KeptConnections
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.postgres.urls import database_location
from convo_pipelines.lib.settings import Settings
from convo_pipelines.lib.writing.retries import (
    STEP_RETRIES,
    STEP_RETRY_DELAY_SECONDS,
    location_or_placeholder,
    step_failure,
)
from convo_pipelines.lib.writing.transactions import set_pipeline_transaction_settings

# The Dagster concurrency pool of every asset that writes to the application database: its limit
# (dagster.yaml's concurrency.pools.default_limit, or `dagster instance concurrency set app_database N`)
# bounds how many of them run at once across all runs, whatever the run queue admits.
APP_DATABASE_POOL = "app_database"

# The retry policy of every asset and check that works in the application database (lib/writing/retries.py holds the
# rules: how often, how long between attempts). session() lets it retry transient database errors only (below);
# anything else fails the step at once.
TRANSIENT_ERRORS_RETRY = dg.RetryPolicy(
    max_retries=STEP_RETRIES,
    delay=STEP_RETRY_DELAY_SECONDS,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)


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
    source_time_zone: str = Field(
        default="UTC",
        description="Zone of the source stamps stored as timestamp without time zone (SOURCE_TIME_ZONE): every "
        "connection's session TimeZone.",
    )
    # Connections a run's steps and checks finished with, for its next ones (see session()).
    _kept: KeptConnections = PrivateAttr(default_factory=KeptConnections)

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
            source_time_zone=settings.source_time_zone,
        )

    def resolved_url(self) -> str:
        if self.database_url:
            return self.database_url
        return start_embedded_postgres(Path(self.convo_home), database=EMBEDDED_APP_DATABASE)

    @contextmanager
    def session(self, autocommit: bool = False) -> Iterator[Session]:
        """A session on a connection that commits when the block ends cleanly and rolls back otherwise.

        The first connection of a process checks that the database's migrations match the code (and applies
        pending ones unless auto_migrate is off), so a first run on a new database just works.
        Inside a run, the connection comes from those the run's earlier steps and checks finished with
        (lib/postgres/kept_connections.py says why) and goes back to them when the block ends cleanly; one whose
        block raised is closed, as is every connection outside a run (sensors, schedules, the command line).
        Inside an asset or check step, what the block raises is sorted for TRANSIENT_ERRORS_RETRY:
        see only_transient_errors_retried.
        """
        with only_transient_errors_retried(lambda: database_location(self.resolved_url())) as reached:
            conn = self._run_connection(autocommit)
            reached.connected = True
            ended_cleanly = False
            try:
                yield self._session_on(conn)
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
    def read_only_session(self) -> Iterator[Session]:
        """A session in a read-only transaction on one of the run's connections (as session()), rolled back
        when the block ends.

        A check is a handful of short statements: on a new backend most of their time went to the fork and
        to filling its catalog caches again, on the backend its asset's step used they are warm. A transient
        error is sorted for the step's retry as session() does.
        """
        with only_transient_errors_retried(lambda: database_location(self.resolved_url())) as reached:
            conn = self._run_connection(autocommit=False)
            reached.connected = True
            ended_cleanly = False
            try:
                conn.read_only = True
                set_pipeline_transaction_settings(conn)
                conn.sql_seconds = 0.0  # the transaction's set-up, not the caller's statements
                yield self._session_on(conn)
                ended_cleanly = True
            finally:
                # Read only: nothing to keep. Given back, its transaction (and its SET LOCALs) is rolled back.
                self._give_back(conn, reusable=ended_cleanly)

    def _session_on(self, conn: psycopg.Connection) -> Session:
        return Session(conn, source_schema=self.source_schema, analytics_schema=self.analytics_schema)

    def _run_connection(self, autocommit: bool) -> psycopg.Connection:
        """One of the connections this run's steps and checks finished with (lib/postgres/kept_connections.py says
        why), else a new one."""
        conn = self._kept.take(autocommit)
        if conn is not None:
            return conn
        url = self.resolved_url()
        conn = connect(url, autocommit=autocommit, time_zone=self.source_time_zone)
        try:
            self._ensure_schema_current(conn, url)
            if not autocommit:
                conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    def _give_back(self, conn: psycopg.Connection, *, reusable: bool) -> None:
        """Keep `conn` for the run's next step or check when it ended cleanly inside a run; else close it."""
        self._kept.give_back(conn, reusable=reusable and current_step_attempts() is not None)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._kept.close_all()

    def _ensure_schema_current(self, conn: psycopg.Connection, url: str) -> None:
        try:
            ensure_schema_current_once(
                conn,
                url,
                self.source_schema,
                self.analytics_schema,
                auto_migrate=self.auto_migrate,
                log=dg.get_dagster_logger("convo_pipelines.lib.migrations"),
            )
        except MigrationError as exc:
            # One line saying what to run; a retry cannot help until someone runs it.
            raise dg.Failure(description=str(exc), allow_retries=False) from None


# ---------------------------------------------------------------------------------------------
# Which failures the retry policy retries


@dataclass
class Reached:
    """What session() reached: whether a failure happened while connecting or on an open connection."""

    connected: bool = False


class DatabaseUnavailable(Exception):
    """A transient database error on an attempt the step's retry policy will follow with another."""


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
def only_transient_errors_retried(location: Callable[[], str]) -> Iterator[Reached]:
    """Inside an asset or check step, let its RetryPolicy retry transient database errors only.

    A RetryPolicy retries every exception but a Failure with allow_retries=False, so anything else
    raised in the block becomes one (the original kept as its cause), and a Failure the block raised
    itself stops retrying. A transient error is left to the policy until the last attempt, which
    fails with one line naming the database (never the password). Outside a step nothing changes.
    """
    reached = Reached()
    try:
        yield reached
    except Exception as exc:
        attempts = current_step_attempts()
        if attempts is None or isinstance(exc, (dg.DagsterError, DatabaseUnavailable)):
            raise  # outside a step, Dagster's own, or already sorted by a session() inside this one
        if isinstance(exc, dg.Failure):
            exc.allow_retries = False
            raise
        attempt, allowed = attempts
        failure = step_failure(
            exc, attempt=attempt, allowed=allowed, connected=reached.connected, where=location_or_placeholder(location)
        )
        if failure.retried:
            raise DatabaseUnavailable(failure.line) from exc
        raise dg.Failure(description=failure.line, metadata=failure.metadata or None, allow_retries=False) from (
            exc if failure.permanent else None
        )
