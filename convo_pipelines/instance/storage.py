"""Dagster's storage in PostgreSQL with each process keeping its connections, instead of one per operation.

dagster-postgres opens a new connection for every storage operation (SQLAlchemy's NullPool), so that
no process holds connections it does not use. A run process performs hundreds of those operations:
every event of every step, every check of the run's status, and thousands for a run over hundreds of
partitions. A discovery tick's run opened 282 connections to Dagster's storage, each paying a server
process's start and the authentication, which cost more than the tick's SQL; a re-run of the two
Front link assets over 731 daily partitions opened 7,585. PooledPostgresStorage is the same storage
(the same tables, the same configuration as dagster.yaml's `storage: postgres:`), whose parts keep
their connections for the process's life: one for runs, one for schedules, two for events (recording
an asset event looks its tables up on a second connection inside its transaction, `has_table`: with
one kept, that second connection was opened and closed for every such event, 1,469 connections for
the 731-partition run, 9 with two). More open while several threads of a process (the daemon's, the webserver's) use a part at once
(MAX_OVERFLOW); those close when returned. An idle process thus holds at most four connections to
Dagster's storage, and closes them when its instance is disposed or the process ends. A kept
connection is checked before each use, so a restarted server or a terminated backend costs a
reconnection, not a failed operation.
"""

import os
import sys
from typing import Any

import sqlalchemy
import sqlalchemy.pool
from dagster_postgres import DagsterPostgresStorage, PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# Connections beyond the kept one while threads use a part at once, closed when returned: no limit (-1),
# as dagster-postgres sets none, so that a burst of the daemon's threads never waits for a connection.
MAX_OVERFLOW = -1
# A kept connection older than this is replaced at its next use (a server's or a pooler's idle limit).
POOL_RECYCLE_SECONDS = 3600


def keeping_engine(postgres_url: str, token_provider: Any, kept: int) -> sqlalchemy.engine.Engine:
    """An engine as dagster-postgres makes one (AUTOCOMMIT, its token provider) that keeps `kept` connections."""
    return create_pg_engine(
        postgres_url,
        token_provider,
        isolation_level="AUTOCOMMIT",
        poolclass=sqlalchemy.pool.QueuePool,
        pool_size=kept,
        max_overflow=MAX_OVERFLOW,
        pool_recycle=POOL_RECYCLE_SECONDS,
        pool_pre_ping=True,
    )


class KeepsConnections:
    """Mixed into a dagster-postgres storage part: after its own set-up (which creates its tables when
    missing, on a connection of its own), its engine becomes one keeping `kept_connections`, closed by dispose()."""

    _engine: sqlalchemy.engine.Engine
    postgres_url: str
    _token_provider: Any

    kept_connections = 1
    # Parts whose connections close with this one's: a DagsterInstance disposes its run and event storage,
    # never its schedule storage.
    disposed_with_it: tuple["KeepsConnections", ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self._engine.dispose()
        self._engine = keeping_engine(self.postgres_url, self._token_provider, self.kept_connections)

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self._engine.dispose()
        for part in self.disposed_with_it:
            part.dispose()


class KeepingRunStorage(KeepsConnections, PostgresRunStorage):
    """Runs, one connection kept; it closes the schedule part's with its own (PooledPostgresStorage)."""


class KeepingEventLogStorage(KeepsConnections, PostgresEventLogStorage):
    """Events, two connections kept."""

    kept_connections = 2  # recording an asset event looks up a table on a second connection inside its transaction


class KeepingScheduleStorage(KeepsConnections, PostgresScheduleStorage):
    """Schedules and sensors' state, one connection kept."""


class PooledPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres' storage whose parts keep their connections (see the module's docstring).

    dagster.yaml:  storage: {custom: {module: convo_pipelines.instance.storage,
                   class: PooledPostgresStorage, config: <what storage: postgres: takes>}}

    A config without `postgres_url` or `postgres_db` (the project's dagster.yaml) takes the URL from the
    environment as `convo-pipelines dev` does (url_from_environment).
    """

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, inst_data=None, token_provider=None):
        # DagsterPostgresStorage.__init__ would build the stock parts, each checking its tables once more.
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        self._run_storage = KeepingRunStorage(postgres_url, should_autocreate_tables, token_provider=token_provider)
        self._event_log_storage = KeepingEventLogStorage(postgres_url, should_autocreate_tables, token_provider=token_provider)
        self._schedule_storage = KeepingScheduleStorage(postgres_url, should_autocreate_tables, token_provider=token_provider)
        self._run_storage.disposed_with_it = (self._schedule_storage,)
        super(DagsterPostgresStorage, self).__init__()  # DagsterStorage's own set-up

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> "PooledPostgresStorage":
        if not (config_value.get("postgres_url") or config_value.get("postgres_db")):
            config_value = {**config_value, "postgres_url": url_from_environment()}
        return cls(
            pg_url_from_config(config_value),
            config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
            token_provider=get_token_provider_from_config(config_value),
        )


def url_from_environment() -> str:
    """DAGSTER_STORAGE_URL; unset, the database beside DATABASE_URL; neither set, the embedded demo's.

    What it chose goes into this process's environment (only the variables that were unset), so the
    processes it starts next (`dagster dev`'s webserver, daemon, code servers and runs) use the same
    databases without deciding again. A wrong setting stops the command with one line naming it."""
    # Imported here: the tools' checks and the embedded demo matter only when dagster.yaml names no URL.
    from convo_pipelines.lib.db import ConfigError
    from convo_pipelines.tools.dagster_storage import instance_environment

    try:
        chosen = instance_environment(os.environ, say=_tell)
    except ConfigError as exc:
        raise SystemExit(f"convo_pipelines: {exc}") from None
    for name, value in chosen.items():
        os.environ.setdefault(name, value)
    return chosen["DAGSTER_STORAGE_URL"]


def _tell(line: str) -> None:
    print(f"convo_pipelines: {line}", file=sys.stderr, flush=True)
