"""The writers' lock of a link table and its foreign keys, made whole without ever blocking the application.

Every write of a link table is a transaction holding its writers' advisory lock (transaction-level, so
nothing outlives a transaction on a pooled server connection) and changing rows of the table itself,
so logical subscribers receive each change as a row change of that table.

A link table is created by its migration without foreign keys, so its first fill holds no lock on any
source row. Then `ensure_foreign_keys` adds each missing key NOT VALID (a moment of SHARE ROW EXCLUSIVE
on the referenced source table, under the short lock_timeout, retried), removes the links whose
referenced row the app deleted before the key existed, and validates the key, which blocks neither reads
nor writes. A foreign key is never dropped: that takes ACCESS EXCLUSIVE on the referenced source table.

A Front link table's first fill stages the pairs of its whole range once, in an unlogged table of the
analytics schema, and inserts them slice by slice in conversation order, so its primary key and its unique pair
(led by the conversation) grow at their right edge; it writes the table without its index by owner newest
first when its role may build it back, once, sorted. Which state the table is in is read from the catalog in
each transaction, never remembered by a session: the fill owns the empty table's windows only while its staged
pairs exist, and every other writer drops them and builds the index back before it writes
(take_over_from_first_fill), so a killed fill leaves a table the next run makes whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from convo_pipelines.defs.links.tables import ForeignKey, FrontLinkTable
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.concurrent_indexes import index_validity
from convo_pipelines.lib.writing.retries import retry_concurrent_changes
from convo_pipelines.lib.writing.transactions import set_short_lock_timeout, wait_for_own_lock

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


# ---------------------------------------------------------------------------------------------
# The index by owner newest first


def newest_index_present(session: Session, spec: FrontLinkTable) -> bool:
    """True when `spec.table` has its index by owner newest first, built and valid."""
    return index_validity(session.conn, session.source_schema, spec.newest_index) is True


def drop_newest_index_of_empty_table(session: Session, spec: FrontLinkTable, log: Callable[[str], object]) -> None:
    """Drop the index by owner newest first of `spec.table` for its first fill, when the table is empty, has no
    foreign key and has that index. A reader holding the table past the short lock_timeout leaves
    it, and so does a role that could not build it back (the least-privileged writer role has no CREATE in the
    source schema): the fill then keeps it up row by row, as slower but as exact."""
    if not may_build_indexes(session, spec.table):
        log(f"{spec.table}: filled with all its indexes kept: the role has no CREATE on the schema to build one back")
        return
    try:
        with session.conn.transaction():
            lock_link_table(session, spec.table)
            if (
                link_foreign_keys(session, spec.table)
                or not link_table_is_empty(session, spec.table)
                or not newest_index_present(session, spec)
            ):
                return
            set_short_lock_timeout(session.conn)
            session.execute(session.sql("links/drop_front_link_newest_index.sql", **_index_identifiers(spec)))
    except psycopg.errors.LockNotAvailable:
        log(f"{spec.table}: filled with all its indexes kept: a transaction held the table")
        return
    log(f"{spec.table}: first fill without its index by owner newest first, built once its rows are in")


def first_fill_staged(session: Session, spec: FrontLinkTable) -> int | None:
    """The oid of a first fill's staged pairs of `spec.table`, None when there are none: while the table a fill
    staged exists, that fill owns the table's windows; its name alone would also match a later fill's."""
    params = {"schema": session.analytics_schema, "first_fill": spec.first_fill_table}
    return session.execute(session.sql("links/select_front_link_first_fill_staged.sql"), params).fetchone()[0]


def take_over_from_first_fill(session: Session, spec: FrontLinkTable, log: Callable[[str], object]) -> None:
    """Inside the caller's transaction, which holds the table's writers' lock: end any first fill's hold on
    `spec.table` before writing it, by dropping the pairs it staged (its next chunk then diffs) and building the
    index by owner it dropped. A fill's own last write does the same; so does the run after a killed fill."""
    if first_fill_staged(session, spec) is not None:
        session.execute(session.sql("links/drop_front_link_first_fill.sql", first_fill=spec.first_fill_table))
    build_newest_index_if_missing(session, spec, log)


def may_build_indexes(session: Session, table: str) -> bool:
    """Whether the run's role may build an index on `table` (CREATE INDEX needs CREATE on the schema and the table's
    ownership: a table the application made stays the application's)."""
    statement = session.sql("links/select_may_build_link_indexes.sql")
    return session.execute(statement, {"schema": session.source_schema, "table": table}).fetchone()[0]


def build_newest_index_if_missing(session: Session, spec: FrontLinkTable, log: Callable[[str], object]) -> None:
    """Inside the caller's transaction, which holds the table's writers' lock: build the index by owner newest first
    of `spec.table` when it is missing (a first fill dropped it; it, or a run after a killed one, builds it back)."""
    if newest_index_present(session, spec):
        return
    log(f"{spec.table}: building its index by owner newest first")
    started = time.perf_counter()
    session.execute(session.sql("links/build_front_link_newest_index.sql", **_index_identifiers(spec)))
    log(f"{spec.table}: index by owner newest first built in {time.perf_counter() - started:.1f}s")


def _index_identifiers(spec: FrontLinkTable) -> dict[str, str]:
    return {
        "links": spec.table,
        "owner": spec.owner_column,
        "newest_index": spec.newest_index,
    }


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
