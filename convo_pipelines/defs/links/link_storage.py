"""The writers' lock of a link table and its foreign keys, made whole without ever blocking the application.

Every write of a link table is a transaction holding its writers' advisory lock (transaction-level, so
nothing outlives a transaction on a pooled server connection) and changing rows of the table itself,
so logical subscribers receive each change as a row change of that table.

A link table is created by its migration without foreign keys, so its first fill holds no lock on any
source row. Then `ensure_foreign_keys` adds each missing key NOT VALID (a moment of SHARE ROW EXCLUSIVE
on the referenced source table, under the short lock_timeout, retried), removes the links whose
referenced row the app deleted before the key existed, and validates the key, which blocks neither reads
nor writes. A foreign key is never dropped: that takes ACCESS EXCLUSIVE on the referenced source table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from convo_pipelines.defs.links.tables import ForeignKey
from convo_pipelines.lib.db import retry_concurrent_changes, set_short_lock_timeout, wait_for_own_lock
from convo_pipelines.lib.session import Session

# First key of the per-table advisory locks ('conv' in ASCII); the second is hashtext(schema.table).
LOCK_CLASS = 0x636F6E76


ON_DELETE_ACTIONS = {"cascade": sql.SQL("cascade"), "set null": sql.SQL("set null")}


# ---------------------------------------------------------------------------------------------
# Locks and state


def lock_link_table(session: Session, table: str) -> None:
    """Wait for, then hold until commit, the lock every writer of `table` takes."""
    wait_for_own_lock(
        session.conn, session.sql("links/lock_link_table.sql"), _lock_params(session.source_schema, table)
    )


def _lock_params(schema: str, table: str) -> dict[str, object]:
    return {"lock_class": LOCK_CLASS, "table": qualified_name(schema, table)}


def qualified_name(schema: str, table: str) -> str:
    """schema.table as regclass reads it (both parts are validated lowercase identifiers)."""
    return f"{schema}.{table}"


def link_table_is_empty(session: Session, table: str) -> bool:
    return session.execute(session.sql("links/select_link_table_is_empty.sql", links=table)).fetchone()[0]


def link_foreign_keys(session: Session, table: str) -> dict[str, bool]:
    """{constraint name: validated} of the foreign keys `table` has now."""
    rows = session.execute(
        session.sql("links/select_link_foreign_keys.sql"), {"schema": session.source_schema, "table": table}
    ).fetchall()
    return dict(rows)


# ---------------------------------------------------------------------------------------------
# Foreign keys


@dataclass(frozen=True)
class ForeignKeyState:
    made_whole: list[str]  # added and/or validated by this call
    pending: list[str]  # still missing: the app held the referenced table the whole time (the next run adds them)


def ensure_foreign_keys(
    session: Session,
    table: str,
    foreign_keys: tuple[ForeignKey, ...],
    log: Callable[[str], object],
) -> ForeignKeyState:
    """Make every foreign key of `table` present and validated, never blocking the application.

    Each missing key is added NOT VALID in a transaction of its own under a short lock_timeout (retried);
    from then on it cascades, so removing the links whose referenced row is already gone leaves none,
    and VALIDATE (which blocks nobody) finds none. A key the app never leaves a gap to add (a write
    transaction open on the referenced table for the whole retry budget) is left for the next run, with
    a warning: the table stays whole without it, and its orphans are removed meanwhile.
    """
    present = link_foreign_keys(session, table)
    incomplete = [key for key in foreign_keys if not present.get(key.name)]
    pending: list[str] = []
    for key in incomplete:
        if key.name in present:
            continue
        try:
            retry_concurrent_changes(
                lambda key=key: add_foreign_key_not_valid(session, table, key),
                what=f"{table}: adding {key.name}",
                log=log,
            )
        except psycopg.errors.LockNotAvailable:
            log(
                f"WARNING {table}: {key.name} not added: a transaction of the application held "
                f"{key.referenced_table} against it for the whole retry budget; the next run adds it"
            )
            pending.append(key.name)
    for key in incomplete:
        removed = retry_concurrent_changes(
            lambda key=key: remove_orphans_and_validate(session, table, key, validate=key.name not in pending),
            what=f"{table}: validating {key.name}",
            log=log,
        )
        if removed:
            log(
                f"{table}: removed {removed:,} links whose {key.referenced_table} row the app deleted before {key.name} existed"
            )
    made_whole = [key.name for key in incomplete if key.name not in pending]
    if made_whole:
        log(f"{table}: foreign keys added or validated: {', '.join(made_whole)}")
    return ForeignKeyState(made_whole, pending)


def add_foreign_key_not_valid(session: Session, table: str, key: ForeignKey) -> None:
    with session.conn.transaction():
        lock_link_table(session, table)
        if key.name in link_foreign_keys(session, table):
            return  # another run added it while this one waited for the lock
        set_short_lock_timeout(session.conn)
        session.execute(
            session.sql(
                "links/add_link_foreign_key_not_valid.sql",
                links=table,
                constraint_name=key.name,
                column=key.column,
                referenced_table=key.referenced_table,
                on_delete=ON_DELETE_ACTIONS[key.on_delete],
            )
        )


def remove_orphans_and_validate(session: Session, table: str, key: ForeignKey, validate: bool = True) -> int:
    """Validate the key; only when that finds links whose referenced row is gone (the app deleted it before
    the key existed), remove them and validate again; returns how many were removed. Each is a full scan
    of the table, so the usual case costs one. A key left pending is not validated, but its orphans are removed."""
    validate_statement = session.sql("links/validate_link_foreign_key.sql", links=table, constraint_name=key.name)
    with session.conn.transaction():
        lock_link_table(session, table)
        set_short_lock_timeout(session.conn)
        if validate:
            try:
                with (
                    session.conn.transaction()
                ):  # a savepoint: a failed validation leaves the rest of the transaction usable
                    session.execute(validate_statement)
                return 0
            except psycopg.errors.ForeignKeyViolation:
                pass
        identifiers = {"links": table, "column": key.column, "referenced_table": key.referenced_table}
        removed = session.execute(session.sql(key.orphans_statement(), **identifiers)).rowcount
        if validate:
            session.execute(validate_statement)
        return removed
