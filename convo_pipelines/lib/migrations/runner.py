"""Applying and rolling back the migrations the package ships (lib/migrations/shipped.py), once each under an
advisory lock.

Each migration runs in its own transaction together with its row in the record table, so a killed migration leaves
nothing half-applied, and a transaction-level advisory lock makes a second process wait and then see the version as
applied instead of applying it twice. The indexes of a migration's .concurrent.sql file are built concurrently beside
the app before its transaction, under the same lock (lib/writing/concurrent_indexes.py).

A migration that creates a table the application may have made itself ships NNNN_name.up.adopt.sql: a query
listing each such table that exists, with what keeps it from being adopted (NULL when nothing does). Before any
migration writes anything, every pending one's problems are raised together, one line each; otherwise each table
is recorded in convo_pipelines_adopted_tables as the migration applies, and the migrations then keep it the
application's: they add only what the project needs (recorded with it), and a rollback removes only that.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg import sql

from convo_pipelines.lib.migrations.messages import privilege_message
from convo_pipelines.lib.migrations.records import (
    adopted_tables,
    adoption_problems,
    record_adopted_tables,
    record_rows,
    record_sql,
)
from convo_pipelines.lib.migrations.shipped import AppliedMigration, Migration, SchemaState, available_migrations
from convo_pipelines.lib.postgres.sqlfiles import read_sql, render_sql
from convo_pipelines.lib.writing.concurrent_indexes import (
    IndexBuildRefused,
    another_connection,
    build_indexes_concurrently,
)
from convo_pipelines.lib.writing.retries import retry_concurrent_changes
from convo_pipelines.lib.writing.transactions import set_short_lock_timeout

RECORD_TABLE = "convo_pipelines_migrations"
# Any fixed 64-bit number works; this one is 'convo_mi' in ASCII.
MIGRATION_LOCK_KEY = 0x636F6E766F5F6D69
# How long a process waiting for another's migrations waits for their lock in one transaction, and how long it
# pauses between two such turns.
LOCK_TURN = "200ms"
LOCK_PAUSE_SECONDS = 0.02

Log = Callable[[str], object]
T = TypeVar("T")


class MigrationError(RuntimeError):
    """The schema and the code disagree in a way a person must fix; the text is one line saying how."""


def read_schema_state(conn: psycopg.Connection, source_schema: str) -> SchemaState:
    """The shipped and the applied migrations: one small query (none applied when the record table is missing)."""
    return SchemaState(shipped=tuple(available_migrations()), applied=tuple(_read_records(conn, source_schema)))


def applied_versions(conn: psycopg.Connection, source_schema: str) -> list[int]:
    return [row.version for row in _read_records(conn, source_schema)]


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
