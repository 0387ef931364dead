"""Indexes a migration builds with CREATE INDEX CONCURRENTLY, on a connection of their own, before its transaction.

A migration NNNN_name may ship NNNN_name.up.concurrent.sql (and .down.concurrent.sql): statements of the form
`create [unique] index concurrently if not exists NAME on {source}.table (...)`, run one by one outside any
transaction, while the migration's transaction then only swaps what they built into place under a short
lock_timeout. A plain CREATE INDEX holds SHARE on its table for the whole build, and the app's writes of it (a
link table's cascading deletes) would queue behind it; a concurrent build blocks neither reads nor writes.
A build that was killed or failed leaves an invalid index of that name, which IF NOT EXISTS would keep: it is
dropped (concurrently) and built again, so a migration killed at any point is finished by the next one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from convo_pipelines.lib.db import APPLICATION_NAME, set_session_time_zone
from convo_pipelines.lib.sqlfiles import read_sql

CONCURRENT_INDEX_STATEMENT = re.compile(
    r"^create (?:unique )?index concurrently if not exists (?P<index>[a-z_][a-z0-9_]{0,62})\s+"
    r"on \{(?P<schema>source|analytics)\}\.",
)
_COMMENT_LINE = re.compile(r"^\s*--.*$", re.MULTILINE)


@dataclass(frozen=True)
class ConcurrentIndex:
    """One statement of a .concurrent.sql file: the index it builds, in which schema placeholder."""

    index: str
    schema: str  # "source" or "analytics"
    statement: str


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
        builds.append(ConcurrentIndex(match["index"], match["schema"], statement))
    return builds


def build_indexes_concurrently(
    conn: psycopg.Connection,
    builds: list[ConcurrentIndex],
    schemas: dict[str, str],
    log: Callable[[str], object] | None = None,
) -> None:
    """Run each build on `conn`, an autocommit connection, dropping first an invalid index a killed build left.
    `schemas` maps the placeholders ("source", "analytics") to the schemas' names."""
    bound = {placeholder: sql.Identifier(name) for placeholder, name in schemas.items()}
    for build in builds:
        schema = schemas[build.schema]
        if index_validity(conn, schema, build.index) is False:
            if log is not None:
                log(f"{schema}.{build.index}: dropping the invalid index a killed build left, to build it again")
            drop = sql.SQL(read_sql("lib/catalog/drop_index_concurrently.sql")).format(
                schema=sql.Identifier(schema), index_name=sql.Identifier(build.index)
            )
            conn.execute(drop)
        conn.execute(sql.SQL(build.statement).format(**bound))


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
