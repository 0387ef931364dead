"""Dagster's storage in PostgreSQL with each process keeping its connections, instead of one per operation.

dagster-postgres opens a new connection for every storage operation (SQLAlchemy's NullPool), so that no
process holds connections it does not use. A run process performs hundreds of those operations (every
event of every step, every check of the run's status), so each would pay a server process's start and
the authentication, which costs more than a small run's SQL. PooledPostgresStorage is the same storage
(the same tables; dagster.yaml's `storage: postgres:` configuration), whose parts keep their connections
for the process's life: one for runs, one for schedules, two for events (recording an asset event looks
its tables up on a second connection inside its transaction). More open while several threads of a
process use a part at once; those close when returned. A kept connection is checked before each use, so
a restarted server or a terminated backend costs a reconnection, not a failed operation. The figures are
on the docs' performance page.

The pool is configured in dagster.yaml with the names dagster-postgres' open pull request 33936 gives
its own storage (pool_size, max_overflow, pool_recycle, pool_mode), so that moving to upstream once it
lands changes one line: `pool_mode: transaction` opens one connection per operation again, for a storage
URL that is a transaction pooler's.

Every process that loads this storage also records a range run's per-partition materializations in batches
(Dagster's own DAGSTER_EVENT_BATCH_SIZE, which dagster-postgres writes as one insert per batch): a range of N
days otherwise costs each asset step N event writes, each in transactions of its own, after its SQL is done. Set
the variable to 0 to record them one by one again.
"""

import os
import sys
from dataclasses import dataclass
from typing import Any

import dagster as dg
import sqlalchemy
import sqlalchemy.pool
from dagster_postgres import (
    DagsterPostgresStorage,
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

from convo_pipelines.instance.storage_location import instance_environment
from convo_pipelines.lib.errors import ConfigError

POOL_MODES = ("session", "transaction")
EVENT_BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"
# Partition materializations per insert: a year's range in four statements, each of bounded size.
EVENT_BATCH_SIZE = 100


@dataclass(frozen=True)
class PoolSettings:
    """How each storage part pools its connections (dagster.yaml's pool_* keys of the storage's config)."""

    # Connections each part keeps; None: its own need (one for runs and schedules, two for events).
    pool_size: int | None = None
    # Connections beyond those while threads use a part at once, closed when returned: no limit (-1), as
    # dagster-postgres sets none, so that a burst of the daemon's threads never waits for a connection.
    max_overflow: int = -1
    # A kept connection older than this (seconds) is replaced at its next use (a server's or pooler's idle limit).
    pool_recycle: int = 3600
    # "transaction": keep nothing, one connection per operation (a transaction pooler's URL).
    pool_mode: str = "session"

    @classmethod
    def from_config(cls, config_value: dict[str, Any]) -> "PoolSettings":
        mode = config_value.get("pool_mode") or "session"
        if mode not in POOL_MODES:
            raise SystemExit(
                f"convo_pipelines: dagster.yaml's storage pool_mode is {mode!r}: expected one of {', '.join(POOL_MODES)}"
            )
        defaults = cls()
        return cls(
            pool_size=config_value.get("pool_size", defaults.pool_size),
            max_overflow=config_value.get("max_overflow", defaults.max_overflow),
            pool_recycle=config_value.get("pool_recycle", defaults.pool_recycle),
            pool_mode=mode,
        )

    def engine(self, postgres_url: str, token_provider: Any, kept: int) -> sqlalchemy.engine.Engine:
        """An engine as dagster-postgres makes one (AUTOCOMMIT, its token provider), pooled as configured."""
        if self.pool_mode == "transaction":
            return create_pg_engine(
                postgres_url, token_provider, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool
            )
        return create_pg_engine(
            postgres_url,
            token_provider,
            isolation_level="AUTOCOMMIT",
            poolclass=sqlalchemy.pool.QueuePool,
            pool_size=self.pool_size if self.pool_size is not None else kept,
            max_overflow=self.max_overflow,
            pool_recycle=self.pool_recycle,
            pool_pre_ping=True,
        )


class KeepsConnections:
    """Mixed into a dagster-postgres storage part: after its own set-up (which creates its tables when
    missing, on a connection of its own), its engine becomes one pooled as `pool` says, closed by dispose().
    (dagster-postgres offers no other way to choose a part's pool than to replace its engine.)"""

    _engine: sqlalchemy.engine.Engine
    postgres_url: str
    _token_provider: Any

    kept_connections = 1
    # Parts whose connections close with this one's: a DagsterInstance disposes its run and event storage,
    # never its schedule storage.
    disposed_with_it: tuple["KeepsConnections", ...] = ()

    def __init__(self, *args: Any, pool: PoolSettings | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self._engine.dispose()
        self._engine = (pool or PoolSettings()).engine(self.postgres_url, self._token_provider, self.kept_connections)

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


class OutOfReach:
    """Mixed into a dagster-postgres storage part that stands for a storage this process did not reach: making it
    connects nowhere, and its first use stops the command with the one line `why` (see url_or_why_not)."""

    def __init__(self, why: str) -> None:  # dagster-postgres' own __init__ would connect: not called
        self._why = why
        self._inst_data = None
        self._instance_weakref = None  # what DagsterInstance sets when it registers itself

    def __getattr__(self, name: str) -> Any:
        # Only for what the part's own set-up would have made (its engine, its URL): its first use.
        raise SystemExit(f"convo_pipelines: {self._why}")

    def dispose(self) -> None:
        """Nothing was opened."""


class RunStorageOutOfReach(OutOfReach, PostgresRunStorage):
    """Runs, not reached."""

    def get_cursor_values(self, keys: set[str]) -> dict[str, str]:
        # Where a code location's load looks for the state of state-backed definitions: the project has none.
        return {}


class EventLogStorageOutOfReach(OutOfReach, PostgresEventLogStorage):
    """Events, not reached."""


class ScheduleStorageOutOfReach(OutOfReach, PostgresScheduleStorage):
    """Schedules and sensors' state, not reached."""


class PooledPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres' storage whose parts keep their connections (see the module's docstring).

    dagster.yaml:  storage: {custom: {module: convo_pipelines.instance.storage, class: PooledPostgresStorage,
                   config: <what storage: postgres: takes, plus pool_size, max_overflow, pool_recycle, pool_mode>}}

    A config without `postgres_url` or `postgres_db` (the project's dagster.yaml) takes the URL from the
    environment as `convo-pipelines dev` does (url_or_why_not); when it finds none, the storage is `out_of_reach`.
    """

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data=None,
        token_provider=None,
        pool: PoolSettings | None = None,
    ):
        # Read by the instance at each event it records, so set before the process's first run event.
        if not os.environ.get(EVENT_BATCH_SIZE_VARIABLE):  # Dagster fails on the variable set empty
            os.environ[EVENT_BATCH_SIZE_VARIABLE] = str(EVENT_BATCH_SIZE)
        # DagsterPostgresStorage.__init__ would build the stock parts, each checking its tables once more.
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        self._run_storage = KeepingRunStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider, pool=pool
        )
        self._event_log_storage = KeepingEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider, pool=pool
        )
        self._schedule_storage = KeepingScheduleStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider, pool=pool
        )
        self._run_storage.disposed_with_it = (self._schedule_storage,)
        super(DagsterPostgresStorage, self).__init__()  # DagsterStorage's own set-up

    @classmethod
    def out_of_reach(cls, why: str, inst_data: Any = None) -> "PooledPostgresStorage":
        """A storage that connects nowhere, for a process that found none: it loads definitions as any other does,
        and its first use of runs, events or schedules stops it with the one line `why`."""
        storage = cls.__new__(cls)
        storage.postgres_url = ""
        storage.should_autocreate_tables = False
        storage._inst_data = inst_data
        storage._run_storage = RunStorageOutOfReach(why)
        storage._event_log_storage = EventLogStorageOutOfReach(why)
        storage._schedule_storage = ScheduleStorageOutOfReach(why)
        super(DagsterPostgresStorage, storage).__init__()
        return storage

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            **DagsterPostgresStorage.config_type(),
            "pool_size": dg.Field(dg.IntSource, is_required=False),
            "max_overflow": dg.Field(dg.IntSource, is_required=False),
            "pool_recycle": dg.Field(dg.IntSource, is_required=False),
            "pool_mode": dg.Field(dg.StringSource, is_required=False),
        }

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> "PooledPostgresStorage":
        pool = PoolSettings.from_config(config_value)
        if not (config_value.get("postgres_url") or config_value.get("postgres_db")):
            url, why_not = url_or_why_not()
            if url is None:
                return cls.out_of_reach(why_not, inst_data)
            config_value = {**config_value, "postgres_url": url}
        return cls(
            pg_url_from_config(config_value),
            config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
            token_provider=get_token_provider_from_config(config_value),
            pool=pool,
        )


# Set by `dagster definitions validate` and `dg check defs` (Dagster's documented sign of a process that only
# validates definitions): such a process never uses the storage, so it chooses none and connects nowhere.
VALIDATION_VARIABLE = "DAGSTER_IS_DEFS_VALIDATION_CLI"


def url_or_why_not() -> tuple[str, None] | tuple[None, str]:
    """Where the storage is (url_from_environment), or why this process has none: it only validates definitions,
    or the storage cannot be reached or chosen (the one line naming the setting or what to run).

    Loading the definitions needs no database, so a process that cannot reach one still loads them (`dg list defs`,
    a code server) and stops with that line at its first use of the storage. `dagster dev` and `dg dev` stop at
    once: the processes they start must share one choice, made before they start."""
    if os.environ.get(VALIDATION_VARIABLE):
        return None, "Dagster's storage is not chosen while definitions are validated"
    try:
        return url_from_environment(), None
    except ConfigError as exc:
        if starts_dagster_processes():
            raise SystemExit(f"convo_pipelines: {exc}") from None
        return None, str(exc)


def starts_dagster_processes() -> bool:
    """Whether this process is `dagster dev` or `dg dev` (both set DAGSTER_IS_DEV_CLI, as every `dg` command does)."""
    return os.environ.get("DAGSTER_IS_DEV_CLI") == "1" and sys.argv[1:2] == ["dev"]


def url_from_environment() -> str:
    """DAGSTER_STORAGE_URL; unset, the database beside DATABASE_URL; neither set, the embedded demo's.

    What it chose goes into this process's environment (only the variables that were unset), so the
    processes it starts next (`dagster dev`'s webserver, daemon, code servers and runs) use the same
    databases without deciding again. A wrong setting or a database out of reach raises ConfigError naming it."""
    chosen = instance_environment(os.environ, say=_tell)
    for name, value in chosen.items():
        os.environ.setdefault(name, value)
    return chosen["DAGSTER_STORAGE_URL"]


def _tell(line: str) -> None:
    print(f"convo_pipelines: {line}", file=sys.stderr, flush=True)
