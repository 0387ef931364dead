"""Whether the code may run against a database, checked on a process's first connection to it.

Runs apply pending migrations themselves (`ensure_schema_current_once`) unless CONVO_AUTO_MIGRATE=false; every
problem a person has to act on is a MigrationError whose text is one line saying what is wrong and which command
fixes it.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from psycopg import sql

from convo_pipelines.lib.migrations.messages import (
    changed_message,
    count_migrations,
    database_description,
    labels,
    not_shipped_message,
    pending_message,
    read_only_message,
)
from convo_pipelines.lib.migrations.runner import MigrationError, migrate, read_schema_state
from convo_pipelines.lib.migrations.shipped import Migration
from convo_pipelines.lib.postgres.sqlfiles import read_sql
from convo_pipelines.lib.postgres.timing import sql_seconds

# (url, source schema, analytics schema) whose migrations this process found current: the check runs
# on the first connection of a process only, never at code-location load.
_schemas_found_current: set[tuple[str, str, str]] = set()
_schema_check_locks: dict[tuple[str, str, str], threading.Lock] = {}
_schema_check_locks_guard = threading.Lock()


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


def _read_only_reason(conn: psycopg.Connection) -> str | None:
    """Why the server takes no writes (a hot standby, read-only by default), or None; in a transaction of its own,
    so a caller outside one (migrate commits each migration on its own) stays outside one."""
    with conn.transaction():
        return conn.execute(sql.SQL(read_sql("lib/session/select_read_only_reason.sql"))).fetchone()[0]
