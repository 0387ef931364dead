"""Indexes a migration builds with CREATE INDEX CONCURRENTLY, on a connection of their own, before its transaction.

A migration NNNN_name may ship NNNN_name.up.concurrent.sql (and .down.concurrent.sql): statements of the form
`create [unique] index concurrently if not exists NAME on {source}.table (...)`, run one by one outside any
transaction, while the migration's transaction then only swaps what they built into place under a short
lock_timeout. A plain CREATE INDEX holds SHARE on its table for the whole build, and the app's writes of it (a
link table's cascading deletes) would queue behind it; a concurrent build blocks neither reads nor writes.
A build that was killed or failed leaves an invalid index of that name, which IF NOT EXISTS would keep: it is
dropped (concurrently) and built again, so a migration killed at any point is finished by the next one.
On a table the application made (adopted), a build is skipped when the table's own valid indexes already do its
work, so the app's indexes get no second copy under the project's name: see `already_given_by`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from convo_pipelines.lib.postgres.db import APPLICATION_NAME, set_session_time_zone
from convo_pipelines.lib.postgres.sqlfiles import read_sql

CONCURRENT_INDEX_STATEMENT = re.compile(
    r"^create (?P<unique>unique )?index concurrently if not exists (?P<index>[a-z_][a-z0-9_]{0,62})\s+"
    r"on \{(?P<schema>source|analytics)\}\.(?P<table>[a-z_][a-z0-9_]{0,62})\s*\((?P<columns>[a-z0-9_, ]+)\)$",
)
_COMMENT_LINE = re.compile(r"^\s*--.*$", re.MULTILINE)


class IndexBuildRefused(RuntimeError):
    """The table's rows make the build impossible (a unique index over keys stored twice); the text says what to do."""


@dataclass(frozen=True)
class ConcurrentIndex:
    """One statement of a .concurrent.sql file: the index it builds, in which schema placeholder."""

    index: str
    schema: str  # "source" or "analytics"
    statement: str
    table: str
    unique: bool
    # The key columns in order, each with whether it is descending.
    columns: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class ExistingIndex:
    """A valid index of a table, as select_table_indexes.sql lists it (no columns: on an expression, or partial)."""

    name: str
    unique: bool
    columns: tuple[tuple[str, bool], ...]

    def leads_with(self, columns: tuple[tuple[str, bool], ...]) -> bool:
        """Whether a b-tree scan of this index reads `columns` in their order (forwards or backwards)."""
        head = self.columns[: len(columns)]
        flipped = tuple((name, not descending) for name, descending in columns)
        return len(head) == len(columns) and head in (columns, flipped)


def already_given_by(build: ConcurrentIndex, existing: list[ExistingIndex]) -> str | None:
    """The name of an index that already gives what `build` would, or None. A plain index is given by any index led
    by its columns in their order; a unique one by a unique index on the same set of columns, provided some index
    also leads with its first column (the lookup it serves)."""
    others = [index for index in existing if index.name != build.index]
    if not build.unique:
        return next((index.name for index in others if index.leads_with(build.columns)), None)
    wanted = {name for name, _ in build.columns}
    same_set = [index for index in others if index.unique and {name for name, _ in index.columns} == wanted]
    if same_set and any(index.leads_with(build.columns[:1]) for index in others):
        return same_set[0].name
    return None


def concurrent_indexes(text: str, origin: str) -> list[ConcurrentIndex]:
    """The index builds of a .concurrent.sql file's text, in order; any other statement is refused by name."""
    statements = [part.strip() for part in _COMMENT_LINE.sub("", text).split(";") if part.strip()]
    builds = []
    for statement in statements:
        match = CONCURRENT_INDEX_STATEMENT.match(" ".join(statement.split()))
        if match is None:
            raise RuntimeError(
                f"{origin}: a .concurrent.sql file holds only `create [unique] index concurrently if not exists "
                f"NAME on {{source}}.table` statements, not: {statement.splitlines()[0]}"
            )
        columns = tuple(_key_column(part) for part in match["columns"].split(","))
        builds.append(
            ConcurrentIndex(match["index"], match["schema"], statement, match["table"], bool(match["unique"]), columns)
        )
    return builds


def _key_column(text: str) -> tuple[str, bool]:
    """('front_conversation_created_at', True) from 'front_conversation_created_at desc'."""
    name, *order = text.split()
    return name, order == ["desc"]


def build_indexes_concurrently(
    conn: psycopg.Connection,
    builds: list[ConcurrentIndex],
    schemas: dict[str, str],
    log: Callable[[str], object] | None = None,
    adopted_tables: frozenset[str] = frozenset(),
) -> None:
    """Run each build on `conn`, an autocommit connection, dropping first an invalid index a killed build left.
    `schemas` maps the placeholders ("source", "analytics") to the schemas' names. On a table of `adopted_tables`
    (the application made it), a build whose work an index of the application's already does is skipped."""
    bound = {placeholder: sql.Identifier(name) for placeholder, name in schemas.items()}
    for build in builds:
        schema = schemas[build.schema]
        validity = index_validity(conn, schema, build.index)
        if validity is True:
            continue
        if build.table in adopted_tables:
            given_by = already_given_by(build, table_indexes(conn, schema, build.table))
            if given_by is not None:
                if log is not None:
                    log(f"{schema}.{build.table}: {build.index} not built: the table's own {given_by} does its work")
                continue
        if validity is False:
            if log is not None:
                log(f"{schema}.{build.index}: dropping the invalid index a killed build left, to build it again")
            drop_index_concurrently(conn, schema, build.index)
        try:
            conn.execute(sql.SQL(build.statement).format(**bound))
        except psycopg.errors.UniqueViolation as exc:
            drop_index_concurrently(conn, schema, build.index)  # the invalid index the failed build left
            raise IndexBuildRefused(
                f"{schema}.{build.table}: the unique index {build.index} cannot be built, "
                f"{exc.diag.message_detail or 'a key is stored twice'}: delete the rows stored twice, then migrate again"
            ) from None
        if log is not None:
            log(f"{schema}.{build.table}: built {build.index} concurrently")


def drop_index_concurrently(conn: psycopg.Connection, schema: str, index: str) -> None:
    statement = sql.SQL(read_sql("lib/catalog/drop_index_concurrently.sql"))
    conn.execute(statement.format(schema=sql.Identifier(schema), index_name=sql.Identifier(index)))


def table_indexes(conn: psycopg.Connection, schema: str, table: str) -> list[ExistingIndex]:
    """The valid indexes of `schema.table` (none when there is no such table)."""
    statement = sql.SQL(read_sql("lib/catalog/select_table_indexes.sql"))
    rows = conn.execute(statement, {"schema": schema, "table_name": table}).fetchall()
    return [
        ExistingIndex(name, unique, tuple(zip(names, descending[: len(names)], strict=True)))
        for name, unique, names, descending in rows
    ]


def index_validity(conn: psycopg.Connection, schema: str, index: str) -> bool | None:
    """Whether `schema.index` is valid; None when there is no such index."""
    statement = sql.SQL(read_sql("lib/catalog/select_index_validity.sql"))
    return conn.execute(statement, {"schema": schema, "index_name": index}).fetchone()[0]


@contextmanager
def another_connection(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """An autocommit connection as the same role to the same database as `conn`, in its session TimeZone (its
    password is taken from `conn` in memory, never printed): a concurrent build cannot run inside a transaction,
    and the migrations' lock stays held by `conn`'s while it runs."""
    password = conn.pgconn.password
    with psycopg.connect(
        conn.info.dsn,
        password=password.decode() if password else None,
        autocommit=True,
        prepare_threshold=None,
        application_name=APPLICATION_NAME,
    ) as other:
        set_session_time_zone(other, conn.info.parameter_status("TimeZone"))
        yield other
