"""Numbered migrations for everything the project owns, applied once each under an advisory lock.

Files are sql/migrations/NNNN_name.up.sql with a matching NNNN_name.down.sql. Each one runs in
its own transaction together with its row in the record table, so a killed migration leaves
nothing half-applied, and a transaction-level advisory lock makes a second process wait and
then see the version as applied instead of applying it twice.

The record table keeps the sha256 of the .up.sql text each migration was applied from, so an
applied migration whose file was edited afterwards (its edit never reaches databases that already
applied it) is named instead of silently diverging.

Runs apply pending migrations themselves (`ensure_schema_current_once`, on a process's first connection) unless CONVO_AUTO_MIGRATE=false; every problem a person has to act on is a
MigrationError whose text is one line saying what is wrong and which command fixes it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from convo_pipelines.lib.retries import retry_concurrent_changes
from convo_pipelines.lib.sqlfiles import list_sql, read_sql, render_sql
from convo_pipelines.lib.timing import sql_seconds
from convo_pipelines.lib.transactions import set_short_lock_timeout, wait_for_own_lock

# Earlier texts of a shipped migration that leave the same schema, by version: a database that applied one is
# current. 0007's first text gave histories_sessions.updated_at a volatile default in its ADD COLUMN, a table
# rewrite that logical replication never sends, so a subscriber applying the same DDL kept other stamps; the
# shipped text writes them with an UPDATE, which replicates.
EQUIVALENT_EARLIER_CHECKSUMS: dict[int, tuple[str, ...]] = {
    7: ("2f258fbf01f721366e36d04e1f55f76e12a662e34dad57a4d3802ab14d712ec9",),
}
MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.(?P<direction>up|down)\.sql$")
RECORD_TABLE = "convo_pipelines_migrations"
# Any fixed 64-bit number works; this one is 'convo_mi' in ASCII.
MIGRATION_LOCK_KEY = 0x636F6E766F5F6D69
MIGRATE_COMMAND = "convo-pipelines migrate"

Log = Callable[[str], object]

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

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    def checksum(self) -> str:
        """sha256 of the .up.sql text this code ships."""
        return hashlib.sha256(read_sql(self.file("up")).encode("utf-8")).hexdigest()

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
        found.setdefault(key, set()).add(match["direction"])
    for (version, name), directions in found.items():
        if directions != {"up", "down"}:
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
        f"{_count(pending)} pending in {where} ({_labels(pending)}): applying them (CONVO_AUTO_MIGRATE=false stops runs from doing so)"
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

    Call it outside a transaction: each migration commits on its own.
    """
    state = read_schema_state(conn, source_schema)
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
    for migration in state.shipped:
        try:
            if _apply_unless_applied(conn, migration, source_schema, analytics_schema, log):
                applied.append(migration)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise MigrationError(
                privilege_message(f"apply migration {migration.label}", _current_role(conn), exc)
            ) from exc
    return applied


def rollback_last(conn: psycopg.Connection, source_schema: str, analytics_schema: str) -> Migration | None:
    """Undo the newest applied migration; returns it, or None when nothing is applied."""
    by_version = {m.version: m for m in available_migrations()}

    def attempt() -> Migration | None:
        with conn.transaction():
            _lock(conn)
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
            conn.execute(_record_sql("delete_migration_record", source_schema), {"version": migration.version})
            return migration

    return retry_concurrent_changes(attempt, what="rolling back the newest migration")


# ---------------------------------------------------------------- one-line messages


def database_description(conn: psycopg.Connection) -> str:
    """'database convo on host db.example': where, without user or password."""
    return f"database {conn.info.dbname} on host {conn.info.host}"


def pending_message(pending: list[Migration], where: str) -> str:
    return (
        f"{_count(pending)} pending in {where} ({_labels(pending)}): apply them with `{MIGRATE_COMMAND}` "
        "as the owner of the application's tables (CONVO_AUTO_MIGRATE=false keeps runs from applying them)"
    )


def not_shipped_message(rows: list[AppliedMigration], where: str) -> str:
    return (
        f"{_count(rows)} applied in {where} that this code does not ship ({_labels(rows)}): the database is ahead "
        "of this code; deploy the convo_pipelines version that ships them, or roll them back with that "
        "version's `convo-pipelines migrate --rollback`"
    )


def read_only_message(reason: str, where: str) -> str:
    return (
        f"DATABASE_URL points at a server that takes no writes ({where}: {reason}): point it at the primary "
        "(the docs' Deploying page, A DBA's limits)"
    )


def changed_message(migration: Migration) -> str:
    return (
        f"migration {migration.label} was applied from a different file than this code ships (checksum differs): "
        "the edit never reaches databases that already applied it; put the change in a new migration"
    )


def privilege_message(action: str, role: str, exc: psycopg.Error) -> str:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return (
        f"cannot {action} as role {role} ({reason}): run `{MIGRATE_COMMAND}` as a role that holds that privilege "
        "(the owner of the application's tables; the docs' Deploying page, Deploying on your database, says what it needs)"
    )


def _count(items: list) -> str:
    return f"{len(items)} migration{'s' if len(items) != 1 else ''}"


def _labels(items: list[Migration] | list[AppliedMigration]) -> str:
    return ", ".join(item.label for item in items)


# ---------------------------------------------------------------- record table


def _prepare_record_table(
    conn: psycopg.Connection, source_schema: str, shipped: list[Migration], log: Log | None
) -> None:
    """Create the record table, add its checksum column, and adopt rows recorded before checksums existed."""

    def attempt() -> None:
        with conn.transaction():
            _lock(conn)
            set_short_lock_timeout(conn)
            conn.execute(_record_sql("create_migrations_record_table", source_schema))
            conn.execute(_record_sql("add_migrations_record_checksum", source_schema))
            conn.execute(
                _record_sql("fill_missing_migration_checksums", source_schema),
                {"versions": [m.version for m in shipped], "checksums": [m.checksum() for m in shipped]},
            )

    retry_concurrent_changes(attempt, what="preparing the migrations record table", log=log)


def _apply_unless_applied(
    conn: psycopg.Connection, migration: Migration, source_schema: str, analytics_schema: str, log: Log | None
) -> bool:
    """Apply one migration in its own transaction unless another process already did; True when this call did.

    Its DDL gives up on a lock after a short wait and the whole transaction is retried, so a migration
    waiting for a table the application holds never makes the application's statements queue behind it.
    """

    def attempt() -> bool:
        with conn.transaction():
            # The advisory lock is taken before the short lock timeout: waiting for another migrating
            # process is expected and blocks nobody else.
            _lock(conn)
            if migration.version in applied_versions(conn, source_schema):
                return False
            set_short_lock_timeout(conn)
            conn.execute(render_sql(migration.file("up"), source=source_schema, analytics=analytics_schema))
            conn.execute(
                _record_sql("insert_migration_record", source_schema),
                {"version": migration.version, "name": migration.name, "checksum": migration.checksum()},
            )
            return True

    return retry_concurrent_changes(attempt, what=f"migration {migration.label}", log=log)


def _read_records(conn: psycopg.Connection, source_schema: str) -> list[AppliedMigration]:
    # In its own transaction (a savepoint inside the caller's) so a missing table or schema, which
    # means nothing is applied yet, leaves the connection usable.
    try:
        with conn.transaction():
            rows = conn.execute(_record_sql("select_migration_records", source_schema)).fetchall()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        return []
    return [AppliedMigration(version, name, checksum) for version, name, checksum in rows]


def _read_only_reason(conn: psycopg.Connection) -> str | None:
    """Why the server takes no writes (a hot standby, read-only by default), or None; in a transaction of its own,
    so a caller outside one (migrate commits each migration on its own) stays outside one."""
    with conn.transaction():
        return conn.execute(sql.SQL(read_sql("lib/session/select_read_only_reason.sql"))).fetchone()[0]


def _lock(conn: psycopg.Connection) -> None:
    wait_for_own_lock(conn, sql.SQL(read_sql("lib/migration_records/lock_migrations.sql")), {"key": MIGRATION_LOCK_KEY})


def _current_role(conn: psycopg.Connection) -> str:
    return conn.execute(sql.SQL(read_sql("lib/migration_records/select_current_role.sql"))).fetchone()[0]


def _record_sql(name: str, source_schema: str) -> sql.Composed:
    # The record table lives in the source schema; these files name no analytics object.
    return render_sql(f"lib/migration_records/{name}.sql", source=source_schema, analytics=source_schema)
