"""How a link table is first filled and gets its foreign keys, without ever blocking the application.

A link table is created by its migration without foreign keys. Its first fill:
- builds fresh storage beside it (its rows computed by a CREATE TABLE AS, which PostgreSQL runs in
  parallel, with the table's columns, defaults, NOT NULLs and comments; then its indexes built in bulk
  on two connections at once, each in parallel workers, its keys' constraints added on them, and
  statistics gathered), committed on its own;
- swaps it in, in a moment: the empty table is dropped (it has no foreign key yet, so nothing but
  itself is locked) and the fresh storage takes its name, its index names, owner, grants and comment;
  the lock is asked for under a short lock_timeout and retried, so app reads never queue long;
- falls back to filling the table in place (an INSERT, which blocks no reader; its indexes are
  maintained row by row, so it is slower) when the app hung something on the empty table that a swap
  would lose (a view, a trigger, a policy) or the role may not create tables in the schema.
Then `ensure_foreign_keys` adds each missing key NOT VALID (a moment of SHARE ROW EXCLUSIVE on the
referenced source table, under the short lock_timeout, retried), removes the links whose referenced
row the app deleted before the key existed, and validates the key, which blocks neither reads nor
writes. A foreign key is never dropped: that takes ACCESS EXCLUSIVE on the referenced source table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.db import TimedClientCursor, counted_as_sql, retry_concurrent_changes, set_short_lock_timeout
from convo_pipelines.defs.links.tables import ForeignKey
from convo_pipelines.defs.resources import PostgresResource

# First key of the per-table advisory locks ('conv' in ASCII); the second is hashtext(schema.table).
LOCK_CLASS = 0x636F6E76
# Privileges a grant on a table can carry (aclexplode's privilege_type), spelled as GRANT takes them.
TABLE_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"})


ON_DELETE_ACTIONS = {"cascade": sql.SQL("cascade"), "set null": sql.SQL("set null")}


@dataclass(frozen=True)
class FillResult:
    rows_inserted: int
    how: str  # "swap" (fresh storage swapped in) or "in place"


# ---------------------------------------------------------------------------------------------
# Locks and state


def lock_link_table(conn: psycopg.Connection, postgres: PostgresResource, table: str) -> None:
    """Wait for, then hold until commit, the lock every writer of `table` takes."""
    conn.execute(postgres.sql("links/lock_link_table.sql"), _lock_params(postgres, table))


@contextmanager
def link_table_locked_for_session(conn: psycopg.Connection, postgres: PostgresResource, table: str) -> Iterator[None]:
    """Hold the writers' lock of `table` across several transactions (released at the end, or when the connection dies)."""
    conn.execute(postgres.sql("links/lock_link_table_session.sql"), _lock_params(postgres, table))
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute(postgres.sql("links/unlock_link_table_session.sql"), _lock_params(postgres, table))


def _lock_params(postgres: PostgresResource, table: str) -> dict[str, object]:
    return {"lock_class": LOCK_CLASS, "table": qualified_name(postgres, table)}


def qualified_name(postgres: PostgresResource, table: str) -> str:
    """schema.table as regclass reads it (both parts are validated lowercase identifiers)."""
    return f"{postgres.source_schema}.{table}"


def link_table_is_empty(conn: psycopg.Connection, postgres: PostgresResource, table: str) -> bool:
    return conn.execute(postgres.sql("links/select_link_table_is_empty.sql", links=table)).fetchone()[0]


def link_foreign_keys(conn: psycopg.Connection, postgres: PostgresResource, table: str) -> dict[str, bool]:
    """{constraint name: validated} of the foreign keys `table` has now."""
    rows = conn.execute(
        postgres.sql("links/select_link_foreign_keys.sql"), {"schema": postgres.source_schema, "table": table}
    ).fetchall()
    return dict(rows)


def is_never_filled(conn: psycopg.Connection, postgres: PostgresResource, table: str) -> bool:
    """True for a table with no rows and none of its foreign keys yet.

    A table that has foreign keys but no rows (emptied by hand) is diffed in bounded transactions
    instead: filling it in one would hold a key-share lock on every linked row until commit.
    """
    return link_table_is_empty(conn, postgres, table) and not link_foreign_keys(conn, postgres, table)


# ---------------------------------------------------------------------------------------------
# First fill


def fill_never_filled_table(
    conn: psycopg.Connection,
    postgres: PostgresResource,
    table: str,
    load: "RowsToLoad",
    log: Callable[[str], object],
) -> FillResult | None:
    """Fill `table` when it was never filled; None when it was (the caller diffs instead).

    `load.rows` (the table's oracle query) is computed by a CREATE TABLE AS, which PostgreSQL runs in
    parallel: straight into fresh storage, or, filling in place, into a staging table then copied in.
    `conn` must be in autocommit mode: the fill spans several transactions, under the writers' session lock.
    """
    with link_table_locked_for_session(conn, postgres, table):
        if not is_never_filled(conn, postgres, table):
            return None
        blockers = swap_blockers(conn, postgres, table)
        if blockers:
            log(f"{table}: filled in place, not built aside and swapped in: {', '.join(blockers)}")
            return FillResult(fill_in_place(conn, postgres, table, load), "in place")
        fill = fill_table_name(table)
        inserted = build_fresh_storage(conn, postgres, table, fill, load, log)
        try:
            swapped = retry_concurrent_changes(
                lambda: swap_in(conn, postgres, table, fill), what=f"{table}: swapping in its first fill", log=log
            )
        except (psycopg.errors.DependentObjectsStillExist, psycopg.errors.LockNotAvailable) as exc:
            # The app hung something on the table meanwhile, or held it for the whole retry budget.
            conn.execute(postgres.sql("links/drop_link_fill_table.sql", fill=fill))
            log(f"{table}: filled in place, not swapped in: {first_line(exc)}")
            return FillResult(fill_in_place(conn, postgres, table, load), "in place")
        if not swapped:  # the table got rows or keys meanwhile: keep them, let the caller diff
            conn.execute(postgres.sql("links/drop_link_fill_table.sql", fill=fill))
            return None
        return FillResult(inserted, "swap")


@dataclass(frozen=True)
class RowsToLoad:
    """A first fill's rows: the oracle query, its parameters, and the table columns it gives, in its order."""

    rows: sql.Composable
    params: dict[str, object]
    columns: tuple[str, ...]


def stage_rows(conn: psycopg.Connection, postgres: PostgresResource, rows: sql.Composable, params: dict[str, object]) -> int:
    """Inside the caller's transaction, compute `rows` (an oracle query) into pg_temp.link_rows_staged with a
    CREATE TABLE AS, which PostgreSQL runs in parallel; returns how many rows it holds."""
    conn.execute(postgres.sql("links/set_staging_settings.sql"))
    return TimedClientCursor(conn).execute(postgres.sql("links/stage_link_rows.sql", rows=rows), params).rowcount


def load_rows(conn: psycopg.Connection, postgres: PostgresResource, target: str, load: RowsToLoad) -> int:
    """Inside the caller's transaction, stage the rows, then copy them into `target` (an INSERT ... SELECT
    never runs in parallel: copying computed rows is the cheap part)."""
    stage_rows(conn, postgres, load.rows, load.params)
    columns = sql.SQL(", ").join(map(sql.Identifier, load.columns))
    return conn.execute(postgres.sql("links/insert_staged_link_rows.sql", links=target, columns=columns)).rowcount


def fill_table_name(table: str) -> str:
    return f"{table}_fill"


def swap_blockers(conn: psycopg.Connection, postgres: PostgresResource, table: str) -> list[str]:
    """Why the table cannot be swapped: what the swap would drop with it (the app's views, triggers,
    policies; foreign keys), or a role without CREATE on the schema (the least-privilege role has none)."""
    params = {"qualified_table": qualified_name(postgres, table), "schema": postgres.source_schema}
    rows = conn.execute(postgres.sql("links/select_link_table_swap_blockers.sql"), params)
    return [row[0] for row in rows]


def fill_in_place(conn: psycopg.Connection, postgres: PostgresResource, table: str, load: RowsToLoad) -> int:
    """Insert every row into the empty table itself in one transaction and analyze it.

    The table has no foreign key yet, so no row of a source table is locked, and its own indexes are
    kept (dropping them would lock the application's reads of it until commit): they are maintained
    row by row, which is what makes this path slower than fresh storage.
    """
    with conn.transaction():
        lock_link_table(conn, postgres, table)
        inserted = load_rows(conn, postgres, table, load)
        conn.execute(postgres.sql("lib/catalog/analyze_table.sql", schema=postgres.source_schema, table=table))
    return inserted


def build_fresh_storage(
    conn: psycopg.Connection, postgres: PostgresResource, table: str, fill: str, load: RowsToLoad, log: Callable[[str], object]
) -> int:
    """Create `fill` holding the rows, as `table` has its columns, then build its keys and indexes in bulk (on
    two connections, each in parallel workers); committed step by step, nobody but this run sees `fill`.

    The rows are computed straight into `fill` by one CREATE TABLE AS, which PostgreSQL runs in parallel;
    the columns' defaults, NOT NULLs and comments are then copied from `table`'s catalog. A leftover of a
    run killed before its swap is dropped first. Only this run's own table is locked.
    """
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(postgres.sql("links/drop_link_fill_table.sql", fill=fill))
        conn.execute(postgres.sql("links/set_staging_settings.sql"))
        columns = link_table_columns(conn, postgres, table)
        select_list = sql.SQL(", ").join(fill_column_value(postgres, column, load.columns) for column in columns)
        create = postgres.sql("links/create_link_fill_table_as.sql", fill=fill, columns=select_list, rows=load.rows)
        inserted = TimedClientCursor(conn).execute(create, load.params).rowcount
        give_fill_the_table_columns(conn, postgres, fill, columns)
    log(f"{table}: computed {inserted:,} rows into fresh storage in {time.perf_counter() - started:.1f} s; building its keys and indexes")
    started = time.perf_counter()
    indexes = [(f"{fill}_{number}", index) for number, index in enumerate(link_table_indexes(conn, postgres, table), start=1)]
    build_indexes_side_by_side(conn, postgres, fill, indexes)
    with conn.transaction():
        for name, index in indexes:
            if index.key_kind:
                conn.execute(key_constraint_statement(postgres, fill, name, index))
        conn.execute(postgres.sql("lib/catalog/analyze_table.sql", schema=postgres.source_schema, table=fill))
    log(f"{table}: built {len(indexes)} keys and indexes on {inserted:,} rows in fresh storage in {time.perf_counter() - started:.1f} s")
    return inserted


@dataclass(frozen=True)
class LinkIndex:
    """A link table index as its catalog renders it: PostgreSQL's own text, not data."""

    name: str
    definition: str  # from USING on
    is_unique: bool
    key_kind: str | None  # "primary key" or "unique" when the index backs that constraint
    deferrability: str  # "", "deferrable" or "deferrable initially deferred"
    columns: int


def link_table_indexes(conn: psycopg.Connection, postgres: PostgresResource, table: str) -> list[LinkIndex]:
    rows = conn.execute(postgres.sql("links/select_link_table_indexes.sql"), {"qualified_table": qualified_name(postgres, table)})
    return [LinkIndex(*row) for row in rows]


# Fresh storage's indexes are built on this many connections at once. A build ends in one process (the
# leader merging its workers' sorted runs and writing the index out), so a second build beside it keeps
# the other core busy: at 40,000 conversations the people links' four builds took a median 446 ms one
# after the other and 369 ms on two connections (PostgreSQL 16, 2 cores, five tries each).
INDEX_BUILD_CONNECTIONS = 2


def build_indexes_side_by_side(
    conn: psycopg.Connection, postgres: PostgresResource, fill: str, indexes: list[tuple[str, LinkIndex]]
) -> None:
    """Build `indexes` (each under its given name) on `fill` as plain indexes, shared among
    INDEX_BUILD_CONNECTIONS connections, each share in a transaction of its own: CREATE INDEX takes a
    SHARE lock, which lets builds on one table run at once (ALTER TABLE ... ADD CONSTRAINT would lock it
    whole), and `fill` is seen by no one else. The keys' constraints are added on the built indexes afterwards."""
    first, *others = shares_by_columns(indexes, INDEX_BUILD_CONNECTIONS)

    def build(connection: psycopg.Connection, share: list[tuple[str, LinkIndex]]) -> None:
        with connection.transaction():
            connection.execute(postgres.sql("lib/catalog/set_index_build_settings.sql"))
            for name, index in share:
                unique = sql.SQL("unique") if index.is_unique else sql.SQL("")
                connection.execute(
                    postgres.sql("links/create_link_index.sql", fill=fill, index_name=name, unique=unique, definition=sql.SQL(index.definition))
                )

    others = [share for share in others if share]
    with ExitStack() as stack:
        connections = [stack.enter_context(postgres.connect(autocommit=True)) for _ in others]
        # Entered after the connections, so left first: it waits for every build (this one's failing
        # included) before a connection is closed under it.
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=max(len(others), 1)))
        builds = [pool.submit(build, connection, share) for connection, share in zip(connections, others)]
        build(conn, first)
        with counted_as_sql(conn):
            for side_build in builds:
                side_build.result()


def shares_by_columns(indexes: list[tuple[str, LinkIndex]], count: int) -> list[list[tuple[str, LinkIndex]]]:
    """Split `indexes` into `count` shares of about equal work, counting an index's work as its number
    of columns: widest first, each to the share with the fewest columns so far."""
    shares: list[list[tuple[str, LinkIndex]]] = [[] for _ in range(count)]
    loads = [0] * count
    for named in sorted(indexes, key=lambda named: -named[1].columns):
        lightest = loads.index(min(loads))
        shares[lightest].append(named)
        loads[lightest] += named[1].columns
    return shares


def key_constraint_statement(postgres: PostgresResource, fill: str, name: str, index: LinkIndex) -> sql.Composed:
    # `key_kind` and `deferrability` are among the fixed spellings select_link_table_indexes.sql gives.
    return postgres.sql(
        "links/add_link_key_constraint_using_index.sql",
        fill=fill,
        index_name=name,
        key_kind=sql.SQL(index.key_kind),
        deferrability=sql.SQL(index.deferrability),
    )


@dataclass(frozen=True)
class LinkColumn:
    """A link table column as its catalog renders it: PostgreSQL's own text, not data."""

    name: str
    type: str
    default: str | None
    not_null: bool
    comment: str | None


def link_table_columns(conn: psycopg.Connection, postgres: PostgresResource, table: str) -> list[LinkColumn]:
    rows = conn.execute(postgres.sql("links/select_link_table_columns.sql"), {"qualified_table": qualified_name(postgres, table)})
    return [LinkColumn(*row) for row in rows]


# A column default (as the catalog renders it) that a first fill built in fresh storage replaces by
# numbered_fill_id.sql (a fill in place keeps it). Drawn per row it was a third of the fill's time on a
# server built without OpenSSL (3.2 to 4.4 µs a row, each a read of /dev/urandom, in the one process
# that projects the rows), against 0.7 µs for a numbered id.
RANDOM_UUID_DEFAULT = "gen_random_uuid()"


def fill_column_value(postgres: PostgresResource, column: LinkColumn, given: tuple[str, ...]) -> sql.Composed:
    """The select-list entry of `column` in the fresh storage's CREATE TABLE AS: the oracle's value when it
    gives the column, else a numbered id for a random-uuid default, else the column's default (evaluated
    per row, as an INSERT would), else null."""
    if column.name in given:
        value = sql.SQL("staged.{}").format(sql.Identifier(column.name))
    elif column.default == RANDOM_UUID_DEFAULT:
        value = postgres.sql("links/numbered_fill_id.sql")
    elif column.default is not None:
        value = sql.SQL("({})").format(sql.SQL(column.default))
    else:
        value = sql.NULL
    return sql.SQL("{}::{} as {}").format(value, sql.SQL(column.type), sql.Identifier(column.name))


def give_fill_the_table_columns(conn: psycopg.Connection, postgres: PostgresResource, fill: str, columns: list[LinkColumn]) -> None:
    """The defaults, NOT NULLs (one scan for all) and comments a CREATE TABLE AS does not carry."""
    changes = []
    for column in columns:
        if column.default is not None:
            changes.append(sql.SQL("alter column {} set default {}").format(sql.Identifier(column.name), sql.SQL(column.default)))
        if column.not_null:
            changes.append(sql.SQL("alter column {} set not null").format(sql.Identifier(column.name)))
    if changes:
        conn.execute(postgres.sql("links/alter_link_fill_columns.sql", fill=fill, changes=sql.SQL(", ").join(changes)))
    for column in columns:
        if column.comment is not None:
            conn.execute(
                postgres.sql("links/comment_on_link_fill_column.sql", fill=fill, column=column.name, comment=sql.Literal(column.comment))
            )


def swap_in(conn: psycopg.Connection, postgres: PostgresResource, table: str, fill: str) -> bool:
    """In one short transaction, replace the empty `table` by `fill` with the table's names, owner,
    grants and comment. False (nothing changed) when the table is no longer empty and key-less."""
    qualified = {"qualified_table": qualified_name(postgres, table)}
    with conn.transaction():
        set_short_lock_timeout(conn)
        conn.execute(postgres.sql("links/lock_link_table_for_swap.sql", links=table))
        if not is_never_filled(conn, postgres, table):
            return False
        index_names = [index.name for index in link_table_indexes(conn, postgres, table)]
        comment = conn.execute(postgres.sql("links/select_link_table_comment.sql"), qualified).fetchone()[0]
        carry_over_owner_and_grants(conn, postgres, table, fill)
        conn.execute(postgres.sql("links/swap_in_link_fill_table.sql", links=table, fill=fill))
        for number, index_name in enumerate(index_names, start=1):
            conn.execute(postgres.sql("links/rename_link_index.sql", index_name=f"{fill}_{number}", new_name=index_name))
        if comment is not None:
            conn.execute(postgres.sql("links/comment_on_link_table.sql", fill=table, comment=sql.Literal(comment)))
    return True


def carry_over_owner_and_grants(conn: psycopg.Connection, postgres: PostgresResource, table: str, fill: str) -> None:
    rows = conn.execute(postgres.sql("links/select_link_table_grants.sql"), {"qualified_table": qualified_name(postgres, table)}).fetchall()
    owner = rows[0][3]
    conn.execute(postgres.sql("links/set_link_table_owner.sql", fill=fill, owner=owner))
    for grantee, privilege, is_grantable, _ in rows:
        if privilege is None or privilege not in TABLE_PRIVILEGES:
            continue
        statement = postgres.sql(
            "links/grant_on_link_table.sql",
            fill=fill,
            privilege=sql.SQL(privilege),
            grantee=sql.Identifier(grantee) if grantee else sql.SQL("public"),
        )
        conn.execute(statement + (sql.SQL(" with grant option") if is_grantable else sql.SQL("")))


# ---------------------------------------------------------------------------------------------
# Foreign keys


@dataclass(frozen=True)
class ForeignKeyState:
    made_whole: list[str]  # added and/or validated by this call
    pending: list[str]  # still missing: the app held the referenced table the whole time (the next run adds them)


def ensure_foreign_keys(
    conn: psycopg.Connection,
    postgres: PostgresResource,
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
    present = link_foreign_keys(conn, postgres, table)
    incomplete = [key for key in foreign_keys if not present.get(key.name)]
    pending: list[str] = []
    for key in incomplete:
        if key.name in present:
            continue
        try:
            retry_concurrent_changes(
                lambda key=key: add_foreign_key_not_valid(conn, postgres, table, key), what=f"{table}: adding {key.name}", log=log
            )
        except psycopg.errors.LockNotAvailable:
            log(
                f"WARNING {table}: {key.name} not added: a transaction of the application held "
                f"{key.referenced_table} against it for the whole retry budget; the next run adds it"
            )
            pending.append(key.name)
    for key in incomplete:
        removed = retry_concurrent_changes(
            lambda key=key: remove_orphans_and_validate(conn, postgres, table, key, validate=key.name not in pending),
            what=f"{table}: validating {key.name}",
            log=log,
        )
        if removed:
            log(f"{table}: removed {removed:,} links whose {key.referenced_table} row the app deleted before {key.name} existed")
    made_whole = [key.name for key in incomplete if key.name not in pending]
    if made_whole:
        log(f"{table}: foreign keys added or validated: {', '.join(made_whole)}")
    return ForeignKeyState(made_whole, pending)


def add_foreign_key_not_valid(conn: psycopg.Connection, postgres: PostgresResource, table: str, key: ForeignKey) -> None:
    with conn.transaction():
        lock_link_table(conn, postgres, table)
        if key.name in link_foreign_keys(conn, postgres, table):
            return  # another run added it while this one waited for the lock
        set_short_lock_timeout(conn)
        conn.execute(
            postgres.sql(
                "links/add_link_foreign_key_not_valid.sql",
                links=table,
                constraint_name=key.name,
                column=key.column,
                referenced_table=key.referenced_table,
                on_delete=ON_DELETE_ACTIONS[key.on_delete],
            )
        )


def remove_orphans_and_validate(
    conn: psycopg.Connection, postgres: PostgresResource, table: str, key: ForeignKey, validate: bool = True
) -> int:
    """Validate the key; only when that finds links whose referenced row is gone (the app deleted it before
    the key existed), remove them and validate again; returns how many were removed. Each is a full scan
    of the table, so the usual case costs one. A key left pending is not validated, but its orphans are removed."""
    validate_statement = postgres.sql("links/validate_link_foreign_key.sql", links=table, constraint_name=key.name)
    with conn.transaction():
        lock_link_table(conn, postgres, table)
        set_short_lock_timeout(conn)
        if validate:
            try:
                with conn.transaction():  # a savepoint: a failed validation leaves the rest of the transaction usable
                    conn.execute(validate_statement)
                return 0
            except psycopg.errors.ForeignKeyViolation:
                pass
        identifiers = {"links": table, "column": key.column, "referenced_table": key.referenced_table}
        removed = conn.execute(postgres.sql(key.orphans_statement(), **identifiers)).rowcount
        if validate:
            conn.execute(validate_statement)
        return removed
