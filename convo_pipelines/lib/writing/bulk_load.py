"""Bulk loads into empty tables with their keys, indexes and foreign keys lifted, then rebuilt.

Rebuilding after the load costs one sort per index and one anti-join per foreign key instead of
an index insertion and a trigger check per row. The definitions come from the catalog
(sql/lib/catalog/), so the migrations and the source DDL stay their single source of truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import psycopg
from psycopg import sql

from convo_pipelines.lib.postgres.sqlfiles import render_sql


class RebuildableObject(NamedTuple):
    """A key, standalone index or foreign key, and the DDL PostgreSQL gave for it."""

    rebuild_order: int
    kind: str  # "constraint" or "index"
    schema_name: str
    table_name: str
    object_name: str
    definition: str


@contextmanager
def constraints_lifted(
    conn: psycopg.Connection,
    schema: str,
    tables: Sequence[str],
    report: Callable[[str], object] | None = None,
) -> Iterator[None]:
    """Drop the keys, indexes and foreign keys of `tables` (and the foreign keys pointing at them)
    for the block, then rebuild them from their catalog definitions.

    Must run inside the caller's transaction: if the block fails, nothing is rebuilt and the
    rollback restores every object untouched. Dropping a foreign key locks its referenced table
    against writes until commit, which is also what keeps the rebuilt key valid meanwhile.
    """
    objects = rebuildable_objects(conn, schema, tables)
    for obj in reversed(objects):
        conn.execute(drop_statement(obj))
    yield
    started = time.monotonic()
    conn.execute(render_sql("lib/catalog/set_index_build_settings.sql", source=schema, analytics=schema))
    for obj in objects:
        conn.execute(create_statement(obj))
    if report is not None:
        report(f"  rebuilt {len(objects)} keys, indexes and foreign keys in {time.monotonic() - started:.1f} s")


def rebuildable_objects(conn: psycopg.Connection, schema: str, tables: Sequence[str]) -> list[RebuildableObject]:
    """The objects `constraints_lifted` drops, in the order they are rebuilt (keys, indexes, foreign keys)."""
    statement = render_sql("lib/catalog/select_rebuildable_definitions.sql", source=schema, analytics=schema)
    rows = conn.execute(statement, {"schema": schema, "tables": list(tables)}).fetchall()
    return [RebuildableObject(*row) for row in rows]


def drop_statement(obj: RebuildableObject) -> sql.Composed:
    if obj.kind == "index":
        return _catalog_sql("lib/catalog/drop_table_index.sql", obj)
    return _catalog_sql("lib/catalog/drop_table_constraint.sql", obj)


def create_statement(obj: RebuildableObject) -> sql.Composable:
    # `definition` is PostgreSQL's own rendering from the catalog (pg_get_indexdef / pg_get_constraintdef), not data.
    if obj.kind == "index":
        return sql.SQL(obj.definition)  # a complete CREATE INDEX
    return _catalog_sql("lib/catalog/add_table_constraint.sql", obj, definition=sql.SQL(obj.definition))


def _catalog_sql(name: str, obj: RebuildableObject, **identifiers: str | sql.Composable) -> sql.Composed:
    # The object's own schema is bound: a foreign key pointing at a lifted table may live elsewhere.
    return render_sql(
        name,
        source=obj.schema_name,
        analytics=obj.schema_name,
        schema=obj.schema_name,
        table=obj.table_name,
        object_name=obj.object_name,
        **identifiers,
    )
