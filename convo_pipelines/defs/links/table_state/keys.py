"""A link table's foreign keys, made whole without ever blocking the application.

A link table is created by its migration without foreign keys, so its first fill holds no lock on any source row.
Then `ensure_foreign_keys` adds each missing key NOT VALID (a moment of SHARE ROW EXCLUSIVE on the referenced
source table, under the short lock_timeout, retried), removes the links whose referenced row the app deleted
before the key existed, and validates the key, which blocks neither reads nor writes. A foreign key is never
dropped: that takes ACCESS EXCLUSIVE on the referenced source table.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import psycopg
from psycopg import sql

from convo_pipelines.defs.links.table_state.lock import lock_link_table
from convo_pipelines.defs.links.tables import ForeignKey
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.retries import retry_concurrent_changes
from convo_pipelines.lib.writing.transactions import set_short_lock_timeout

ON_DELETE_ACTIONS = {"cascade": sql.SQL("cascade"), "set null": sql.SQL("set null")}
LOG = dg.get_dagster_logger(__name__)


def link_foreign_keys(session: Session, table: str) -> dict[str, bool]:
    """{constraint name: validated} of the foreign keys `table` has now."""
    return {key.name: key.validated for key in foreign_keys_present(session, table)}


@dataclass(frozen=True)
class PresentForeignKey:
    name: str
    validated: bool
    column: str
    referenced_table: str  # as regclass prints it: bare in the search path, else schema-qualified


def foreign_keys_present(session: Session, table: str) -> list[PresentForeignKey]:
    """The foreign keys `table` has now, the project's and, on a table the application made, the application's."""
    rows = session.execute(
        session.sql("links/select_link_foreign_keys.sql"), {"schema": session.source_schema, "table": table}
    ).fetchall()
    return [PresentForeignKey(*row) for row in rows]


@dataclass(frozen=True)
class ForeignKeyState:
    made_whole: list[str]  # added and/or validated by this call
    pending: list[str]  # still missing: the app held the referenced table the whole time (the next run adds them)


def ensure_foreign_keys(
    session: Session,
    table: str,
    foreign_keys: tuple[ForeignKey, ...],
) -> ForeignKeyState:
    """Make every foreign key of `table` present and validated, never blocking the application.

    Each missing key is added NOT VALID in a transaction of its own under a short lock_timeout (retried);
    from then on it cascades, so removing the links whose referenced row is already gone leaves none,
    and VALIDATE (which blocks nobody) finds none. A key the app never leaves a gap to add (a write
    transaction open on the referenced table for the whole retry budget) is left for the next run, with
    a warning: the table stays whole without it, and its orphans are removed meanwhile.
    """
    found = foreign_keys_present(session, table)
    present = {key.name: key.validated for key in found}
    incomplete = [
        key
        for key in foreign_keys
        if not present.get(key.name) and not app_key_covers(found, key, session.source_schema)
    ]
    pending: list[str] = []
    for key in incomplete:
        if key.name in present:
            continue
        try:
            retry_concurrent_changes(
                lambda key=key: add_foreign_key_not_valid(session, table, key),
                what=f"{table}: adding {key.name}",
                log=LOG.info,
            )
        except psycopg.errors.LockNotAvailable:
            LOG.warning(
                f"WARNING {table}: {key.name} not added: a transaction of the application held "
                f"{key.referenced_table} against it for the whole retry budget; the next run adds it"
            )
            pending.append(key.name)
    for key in incomplete:
        removed = retry_concurrent_changes(
            lambda key=key: remove_orphans_and_validate(session, table, key, validate=key.name not in pending),
            what=f"{table}: validating {key.name}",
            log=LOG.info,
        )
        if removed:
            LOG.info(
                f"{table}: removed {removed:,} links whose {key.referenced_table} row the app deleted before {key.name} existed"
            )
    made_whole = [key.name for key in incomplete if key.name not in pending]
    if made_whole:
        LOG.info(f"{table}: foreign keys added or validated: {', '.join(made_whole)}")
    return ForeignKeyState(made_whole, pending)


def app_key_covers(found: list[PresentForeignKey], key: ForeignKey, schema: str) -> bool:
    """Whether a key of the application's own (another name, on a table it made) already ties `key.column` to
    `key.referenced_table`. It is kept as it is and none of the project's is added beside it: whatever its ON DELETE,
    PostgreSQL enforces both, so a cascade of the project's would change nothing while the app's key refuses the
    delete. A non-cascading key means the app deletes the links first (Rails' `dependent: :delete_all`)."""
    referenced = {key.referenced_table, f"{schema}.{key.referenced_table}"}
    return any(
        other.name != key.name and other.column == key.column and other.referenced_table in referenced
        for other in found
    )


def add_foreign_key_not_valid(session: Session, table: str, key: ForeignKey) -> None:
    with session.conn.transaction():
        lock_link_table(session, table)
        if key.name in link_foreign_keys(session, table):
            return  # another run added it while this one waited for the lock
        hold_against_maintenance(session, table)
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


def hold_against_maintenance(session: Session, table: str) -> None:
    """Hold `table` against VACUUM and ANALYZE for the rest of the transaction, waiting out an autovacuum of it
    (lock_link_table_against_maintenance.sql): adding and validating a foreign key conflict with one, and the
    short lock_timeout of their own statements would give up before PostgreSQL cancels it, at every attempt."""
    session.execute(session.sql("links/set_lock_timeout_past_deadlock_timeout.sql"))
    session.execute(session.sql("links/lock_link_table_against_maintenance.sql", links=table))


def remove_orphans_and_validate(session: Session, table: str, key: ForeignKey, validate: bool = True) -> int:
    """Validate the key; only when that finds links whose referenced row is gone (the app deleted it before
    the key existed), remove them and validate again; returns how many were removed. Each is a full scan
    of the table, so the usual case costs one. A key left pending is not validated, but its orphans are removed."""
    validate_statement = session.sql("links/validate_link_foreign_key.sql", links=table, constraint_name=key.name)
    with session.conn.transaction():
        lock_link_table(session, table)
        hold_against_maintenance(session, table)
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
