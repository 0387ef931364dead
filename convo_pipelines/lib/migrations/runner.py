"""Numbered migrations for everything the project owns, applied once each under an advisory lock.

Files are sql/migrations/NNNN_name.up.sql with a matching NNNN_name.down.sql. Each one runs in
its own transaction together with its row in the record table, so a killed migration leaves
nothing half-applied, and a transaction-level advisory lock makes a second process wait and
then see the version as applied instead of applying it twice. A migration may also ship
NNNN_name.up.concurrent.sql (and .down.concurrent.sql): indexes built concurrently beside the app
before its transaction, under the same lock (lib/writing/concurrent_indexes.py).

A migration that creates a table the application may have made itself ships NNNN_name.up.adopt.sql: a query
listing each such table that exists, with what keeps it from being adopted (NULL when nothing does). Before any
migration writes anything, every pending one's problems are raised together, one line each; otherwise each table
is recorded in convo_pipelines_adopted_tables as the migration applies, and the migrations then keep it the
application's: they add only what the project needs (recorded with it), and a rollback removes only that.

The record table keeps the sha256 of the .up.sql text each migration was applied from, so an
applied migration whose file was edited afterwards (its edit never reaches databases that already
applied it) is named instead of silently diverging.

Runs apply pending migrations themselves (`ensure_schema_current_once`, on a process's first connection) unless CONVO_AUTO_MIGRATE=false; every problem a person has to act on is a
MigrationError whose text is one line saying what is wrong and which command fixes it.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from psycopg import sql

from convo_pipelines.lib.migrations.messages import (
    changed_message,
    count_migrations,
    database_description,
    labels,
    not_shipped_message,
    pending_message,
    privilege_message,
    read_only_message,
)
from convo_pipelines.lib.migrations.records import (
    adopted_tables,
    adoption_problems,
    record_adopted_tables,
    record_rows,
    record_sql,
)
from convo_pipelines.lib.postgres.sqlfiles import list_sql, read_sql, render_sql
from convo_pipelines.lib.postgres.timing import sql_seconds
from convo_pipelines.lib.writing.concurrent_indexes import (
    ConcurrentIndex,
    IndexBuildRefused,
    another_connection,
    build_indexes_concurrently,
    concurrent_indexes,
)
from convo_pipelines.lib.writing.retries import retry_concurrent_changes
from convo_pipelines.lib.writing.transactions import set_short_lock_timeout

# Earlier texts of a shipped migration that leave the same schema, by version: a database that applied one is
# current. 0007's first text gave histories_sessions.updated_at a volatile default in its ADD COLUMN, a table
# rewrite that logical replication never sends, so a subscriber applying the same DDL kept other stamps; the
# shipped text writes them with an UPDATE, which replicates.
# 0001, 0003, 0005 and 0008 learnt to adopt the application's own Front link tables; where none existed, their
# earlier texts did exactly what the shipped ones do.
EQUIVALENT_EARLIER_CHECKSUMS: dict[int, tuple[str, ...]] = {
    1: ("d91a788acdb20ef0fce362351c98593851f615bd2395e7b573c5de02263c4af2",),
    3: ("c849c8c0ca62fe95db2cc2a206bcb154e8f8350a10aa2615dd292e32944ca7a4",),
    5: ("712801fc6580d341032ba5d9c80b6d01e745f57a33285567a6de1448bb968219",),
    7: ("2f258fbf01f721366e36d04e1f55f76e12a662e34dad57a4d3802ab14d712ec9",),
    8: ("7d5fe865991873505f2cec6604acf0a108aad94c63c08b47b80dc5d47b68d351",),
}
MIGRATION_FILE = re.compile(
    r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.(?P<direction>up|down)(?P<extra>\.concurrent|\.adopt)?\.sql$"
)
RECORD_TABLE = "convo_pipelines_migrations"
# Any fixed 64-bit number works; this one is 'convo_mi' in ASCII.
MIGRATION_LOCK_KEY = 0x636F6E766F5F6D69
# How long a process waiting for another's migrations waits for their lock in one transaction, and how long it
# pauses between two such turns.
LOCK_TURN = "200ms"
LOCK_PAUSE_SECONDS = 0.02

Log = Callable[[str], object]
T = TypeVar("T")

# (url, source schema, analytics schema) whose migrations this process found current: the check runs
# on the first connection of a process only, never at code-location load.
_schemas_found_current: set[tuple[str, str, str]] = set()
_schema_check_locks: dict[tuple[str, str, str], threading.Lock] = {}
_schema_check_locks_guard = threading.Lock()


class MigrationError(RuntimeError):
    """The schema and the code disagree in a way a person must fix; the text is one line saying how."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str

    def file(self, direction: str) -> str:
        return f"migrations/{self.version:04d}_{self.name}.{direction}.sql"

    def concurrent_builds(self, direction: str) -> list[ConcurrentIndex]:
        """The indexes its .concurrent.sql file of `direction` builds before its transaction (none without one)."""
        name = f"{self.version:04d}_{self.name}.{direction}.concurrent.sql"
        if name not in list_sql("migrations"):
            return []
        return concurrent_indexes(read_sql(f"migrations/{name}"), f"sql/migrations/{name}")

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    def checksum(self) -> str:
        """sha256 of the .up.sql text this code ships, after the statements of its .up.concurrent.sql if any."""
        concurrent = "".join(build.statement + ";\n" for build in self.concurrent_builds("up"))
        return hashlib.sha256((concurrent + read_sql(self.file("up"))).encode("utf-8")).hexdigest()

    def accepted_checksums(self) -> set[str]:
        """The shipped text's checksum and those of earlier texts that left the same schema."""
        return {self.checksum(), *EQUIVALENT_EARLIER_CHECKSUMS.get(self.version, ())}


@dataclass(frozen=True)
class AppliedMigration:
    """A row of the record table; `checksum` is None for rows recorded before checksums existed."""

    version: int
    name: str
    checksum: str | None

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class SchemaState:
    """What the code ships against what the database recorded as applied."""

    shipped: tuple[Migration, ...]
    applied: tuple[AppliedMigration, ...]

    @property
    def pending(self) -> list[Migration]:
        done = {row.version for row in self.applied}
        return [migration for migration in self.shipped if migration.version not in done]

    @property
    def not_shipped(self) -> list[AppliedMigration]:
        """Applied migrations this code does not know: the schema is ahead of the code."""
        known = {migration.version for migration in self.shipped}
        return [row for row in self.applied if row.version not in known]

    @property
    def changed(self) -> list[Migration]:
        """Applied migrations whose file differs from the one they were applied from (or from an earlier text
        of it that leaves the same schema: EQUIVALENT_EARLIER_CHECKSUMS)."""
        recorded = {row.version: row.checksum for row in self.applied if row.checksum is not None}
        return [m for m in self.shipped if m.version in recorded and recorded[m.version] not in m.accepted_checksums()]

    @property
    def without_checksum(self) -> list[AppliedMigration]:
        """Applied before checksums were recorded; the next migrate adopts the current file's."""
        return [row for row in self.applied if row.checksum is None]


def available_migrations() -> list[Migration]:
    """Every migration shipped with the package, in version order; each must have both files."""
    found: dict[tuple[int, str], set[str]] = {}
    for filename in list_sql("migrations"):
        match = MIGRATION_FILE.match(filename)
        if not match:
            raise RuntimeError(f"sql/migrations/{filename} is not named NNNN_name.up.sql or NNNN_name.down.sql")
        key = (int(match["version"]), match["name"])
        found.setdefault(key, set()).add(match["direction"] + (match["extra"] or ""))
    for (version, name), directions in found.items():
        if not {"up", "down"} <= directions:
            raise RuntimeError(f"migration {version:04d}_{name} needs both an .up.sql and a .down.sql file")
    return [Migration(version, name) for version, name in sorted(found)]


def read_schema_state(conn: psycopg.Connection, source_schema: str) -> SchemaState:
    """The shipped and the applied migrations: one small query (none applied when the record table is missing)."""
    return SchemaState(shipped=tuple(available_migrations()), applied=tuple(_read_records(conn, source_schema)))


def applied_versions(conn: psycopg.Connection, source_schema: str) -> list[int]:
    return [row.version for row in _read_records(conn, source_schema)]


def ensure_schema_current(
    conn: psycopg.Connection,
    source_schema: str,
    analytics_schema: str,
    *,
    auto_migrate: bool,
    log: logging.Logger,
) -> list[Migration]:
    """Make sure the code may run against this database; returns the migrations this call applied.

    Nothing pending: two small reads (whether the server takes writes, the migration records), no writes.
    Pending: applies them (under the lock) when `auto_migrate`, else raises a one-line MigrationError naming them. A schema ahead of the code always raises.
    A changed applied migration is only a warning: its tables exist, they just miss the edit.
    """
    where = database_description(conn)
    read_only = _read_only_reason(conn)
    if read_only is not None:
        raise MigrationError(read_only_message(read_only, where))
    state = read_schema_state(conn, source_schema)
    if state.not_shipped:
        raise MigrationError(not_shipped_message(state.not_shipped, where))
    for migration in state.changed:
        log.warning(changed_message(migration))
    pending = state.pending
    if not pending:
        return []
    if not auto_migrate:
        raise MigrationError(pending_message(pending, where))
    log.info(
        f"{count_migrations(pending)} pending in {where} ({labels(pending)}): applying them (CONVO_AUTO_MIGRATE=false stops runs from doing so)"
    )
    applied = migrate(conn, source_schema, analytics_schema, log=log.info)
    for migration in applied:
        log.info(f"applied migration {migration.label}")
    return applied


def ensure_schema_current_once(
    conn: psycopg.Connection,
    url: str,
    source_schema: str,
    analytics_schema: str,
    *,
    auto_migrate: bool,
    log: logging.Logger,
) -> None:
    """ensure_schema_current on this process's first connection to `url` and these schemas; nothing after it
    succeeded once. Its statements are not the caller's work: they are kept out of the connection's sql_seconds."""
    key = (url, source_schema, analytics_schema)
    if key in _schemas_found_current:
        return
    with _schema_check_lock(key):
        if key in _schemas_found_current:
            return
        spent_before = sql_seconds(conn)
        try:
            ensure_schema_current(conn, source_schema, analytics_schema, auto_migrate=auto_migrate, log=log)
        finally:
            conn.sql_seconds = spent_before
        _schemas_found_current.add(key)


def _schema_check_lock(key: tuple[str, str, str]) -> threading.Lock:
    with _schema_check_locks_guard:
        return _schema_check_locks.setdefault(key, threading.Lock())


def migrate(
    conn: psycopg.Connection, source_schema: str, analytics_schema: str, log: Log | None = None
) -> list[Migration]:
    """Apply every pending migration; returns the ones this call applied.

    Each migration commits on its own, so what the caller left open on `conn` is committed first.
    """
    _end_callers_transaction(conn)
    state = read_schema_state(conn, source_schema)
    # Under the migrations' lock, against the migrations pending then: another process may be applying 0001 now,
    # whose tables are the project's own, not the application's.
    _in_locked_transaction(
        conn, lambda: _refuse_tables_not_adoptable(conn, read_schema_state(conn, source_schema).pending, source_schema)
    )
    try:
        _prepare_record_table(conn, source_schema, list(state.shipped), log)
    except psycopg.errors.InsufficientPrivilege as exc:
        pending = state.pending
        action = (
            f"apply migration {pending[0].label}"
            if pending
            else f"update the record table {source_schema}.{RECORD_TABLE}"
        )
        raise MigrationError(privilege_message(action, _current_role(conn), exc)) from exc
    applied: list[Migration] = []
    added_before = {table.name: table.added for table in adopted_tables(conn, source_schema)}
    for migration in state.shipped:
        try:
            if _apply_unless_applied(conn, migration, source_schema, analytics_schema, log):
                applied.append(migration)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise MigrationError(
                privilege_message(f"apply migration {migration.label}", _current_role(conn), exc)
            ) from exc
    if log is not None:
        for table in adopted_tables(conn, source_schema):
            added = [item for item in table.added if item not in added_before.get(table.name, ())]
            if added:
                log(f"{source_schema}.{table.name} (the application's, owner {table.owner}): added {', '.join(added)}")
    return applied


def rollback_last(conn: psycopg.Connection, source_schema: str, analytics_schema: str) -> Migration | None:
    """Undo the newest applied migration; returns it, or None when nothing is applied (what the caller left open on
    `conn` is committed first)."""
    _end_callers_transaction(conn)
    by_version = {m.version: m for m in available_migrations()}
    versions = applied_versions(conn, source_schema)
    if versions and versions[-1] in by_version:
        newest = by_version[versions[-1]]
        _build_before_transaction(conn, newest, "down", source_schema, analytics_schema, None)

    def undo_newest() -> Migration | None:
        versions = applied_versions(conn, source_schema)
        if not versions:
            return None
        newest = versions[-1]
        if newest not in by_version:
            raise RuntimeError(
                f"migration {newest:04d} is applied but this version of convo_pipelines does not ship it"
            )
        migration = by_version[newest]
        set_short_lock_timeout(conn)
        conn.execute(render_sql(migration.file("down"), source=source_schema, analytics=analytics_schema))
        conn.execute(record_sql("delete_migration_record", source_schema), {"version": migration.version})
        return migration

    return retry_concurrent_changes(
        lambda: _in_locked_transaction(conn, undo_newest), what="rolling back the newest migration"
    )


# ---------------------------------------------------------------- record table


def _prepare_record_table(
    conn: psycopg.Connection, source_schema: str, shipped: list[Migration], log: Log | None
) -> None:
    """Create the record table, add its checksum column, and adopt rows recorded before checksums existed."""

    def prepare() -> None:
        set_short_lock_timeout(conn)
        conn.execute(record_sql("create_migrations_record_table", source_schema))
        conn.execute(record_sql("add_migrations_record_checksum", source_schema))
        conn.execute(record_sql("create_adopted_tables_record", source_schema))
        conn.execute(
            record_sql("fill_missing_migration_checksums", source_schema),
            {"versions": [m.version for m in shipped], "checksums": [m.checksum() for m in shipped]},
        )

    retry_concurrent_changes(
        lambda: _in_locked_transaction(conn, prepare), what="preparing the migrations record table", log=log
    )


def _apply_unless_applied(
    conn: psycopg.Connection, migration: Migration, source_schema: str, analytics_schema: str, log: Log | None
) -> bool:
    """Apply one migration in its own transaction unless another process already did; True when this call did.

    Its DDL gives up on a lock after a short wait and the whole transaction is retried, so a migration
    waiting for a table the application holds never makes the application's statements queue behind it.
    """

    _build_before_transaction(conn, migration, "up", source_schema, analytics_schema, log)

    def apply() -> bool:
        if migration.version in applied_versions(conn, source_schema):
            return False
        _refuse_tables_not_adoptable(conn, [migration], source_schema)
        record_adopted_tables(conn, migration.label, migration.version, source_schema, log)
        set_short_lock_timeout(conn)
        conn.execute(render_sql(migration.file("up"), source=source_schema, analytics=analytics_schema))
        conn.execute(
            record_sql("insert_migration_record", source_schema),
            {"version": migration.version, "name": migration.name, "checksum": migration.checksum()},
        )
        return True

    return retry_concurrent_changes(
        lambda: _in_locked_transaction(conn, apply), what=f"migration {migration.label}", log=log
    )


def _build_before_transaction(
    conn: psycopg.Connection,
    migration: Migration,
    direction: str,
    source_schema: str,
    analytics_schema: str,
    log: Log | None,
) -> None:
    """Build the indexes of `migration`'s .concurrent.sql file of `direction` on a second connection, outside any
    transaction, while this connection's transaction holds the migrations' lock: unless it is applied already (up),
    or no longer the newest applied (down). Its own transaction then swaps them into place."""
    builds = migration.concurrent_builds(direction)
    if not builds:
        return

    def build(builder: psycopg.Connection) -> None:
        versions = applied_versions(conn, source_schema)
        still_to_do = migration.version not in versions if direction == "up" else versions[-1:] == [migration.version]
        if still_to_do:
            schemas = {"source": source_schema, "analytics": analytics_schema}
            adopted = frozenset(table.name for table in adopted_tables(conn, source_schema))
            try:
                build_indexes_concurrently(builder, builds, schemas, log, adopted)
            except IndexBuildRefused as exc:
                raise MigrationError(f"migration {migration.label}: {exc}") from None

    with another_connection(conn) as builder:
        _in_locked_transaction(conn, lambda: build(builder))


def _refuse_tables_not_adoptable(conn: psycopg.Connection, pending: list[Migration], source_schema: str) -> None:
    """Raise, before anything is written, one line naming each difference between a table the application made and
    what the contract needs of it, over every pending migration."""
    problems = adoption_problems(conn, [migration.label for migration in pending], source_schema)
    if problems:
        raise MigrationError(
            "; ".join(problems) + " (tables the application made are adopted once each of these is fixed, see"
            " docs/adopting-link-tables.md; nothing was written)"
        )


def _read_records(conn: psycopg.Connection, source_schema: str) -> list[AppliedMigration]:
    rows = record_rows(conn, "select_migration_records", source_schema)
    return [AppliedMigration(version, name, checksum) for version, name, checksum in rows]


def _read_only_reason(conn: psycopg.Connection) -> str | None:
    """Why the server takes no writes (a hot standby, read-only by default), or None; in a transaction of its own,
    so a caller outside one (migrate commits each migration on its own) stays outside one."""
    with conn.transaction():
        return conn.execute(sql.SQL(read_sql("lib/session/select_read_only_reason.sql"))).fetchone()[0]


def _end_callers_transaction(conn: psycopg.Connection) -> None:
    """Commit the transaction the caller left open on `conn` (its reads, say): a migration's transactions must be
    its own, and its concurrent index builds wait for every older transaction, which one left open would make wait
    forever on this very connection."""
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        conn.commit()


def _in_locked_transaction(conn: psycopg.Connection, work: Callable[[], T]) -> T:
    """`work()` in a transaction of `conn` that holds the migrations' lock: one process migrates at a time. While
    another holds it, this one waits for it in turns of LOCK_TURN, each a transaction of its own: a transaction that
    waited for it all along would hold its snapshot, which the holder's concurrent index build waits for, and neither
    would ever end; a turn ends by itself, and the build goes on."""
    while True:
        with conn.transaction():
            if _lock_within_a_turn(conn):
                return work()
        time.sleep(LOCK_PAUSE_SECONDS * random.uniform(0.5, 1.5))


def _lock_within_a_turn(conn: psycopg.Connection) -> bool:
    """Whether the migrations' lock was taken within LOCK_TURN (in a savepoint of the caller's transaction, which keeps
    its own lock_timeout for what follows)."""
    previous = conn.execute("select current_setting('lock_timeout')").fetchone()[0]
    try:
        with conn.transaction():
            conn.execute("select set_config('lock_timeout', %s, true)", (LOCK_TURN,))
            conn.execute(sql.SQL(read_sql("lib/migration_records/lock_migrations.sql")), {"key": MIGRATION_LOCK_KEY})
    except psycopg.errors.LockNotAvailable:
        return False
    finally:
        conn.execute("select set_config('lock_timeout', %s, true)", (previous,))
    return True


def _current_role(conn: psycopg.Connection) -> str:
    return conn.execute(sql.SQL(read_sql("lib/migration_records/select_current_role.sql"))).fetchone()[0]
