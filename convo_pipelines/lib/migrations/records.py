"""The migrations' records in the source schema: which migrations are applied (lib/migrations/runner.py reads them), and the
tables the application made that a migration adopted instead of creating, with what the project added to each.

A migration that creates a table the application may have made itself ships NNNN_name.up.adopt.sql: a query listing
each such table that exists, with what keeps it from being adopted (NULL when nothing does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from convo_pipelines.lib.postgres.sqlfiles import list_sql, render_sql


@dataclass(frozen=True)
class AdoptedTable:
    """A table the application made that a migration adopted: whose it stays, and what the project added to it."""

    name: str
    migration_version: int
    owner: str
    added: tuple[str, ...]


def record_sql(name: str, source_schema: str) -> sql.Composed:
    # The records live in the source schema; these files name no analytics object.
    return render_sql(f"lib/migration_records/{name}.sql", source=source_schema, analytics=source_schema)


def record_rows(conn: psycopg.Connection, name: str, source_schema: str) -> list[tuple]:
    """The rows of a record query, none when its table is missing. In a transaction of its own (a savepoint inside
    the caller's), so a missing table or schema, which means nothing is recorded yet, leaves the connection usable."""
    try:
        with conn.transaction():
            return conn.execute(record_sql(name, source_schema)).fetchall()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        return []


def adopted_tables(conn: psycopg.Connection, source_schema: str) -> list[AdoptedTable]:
    """The tables the migrations adopted (none before the record exists)."""
    rows = record_rows(conn, "select_adopted_tables", source_schema)
    return [
        AdoptedTable(name, version, owner, tuple(added.split(", ")) if added else ())
        for name, version, owner, added in rows
    ]


def tables_to_adopt(conn: psycopg.Connection, label: str, source_schema: str) -> list[tuple[str, str | None]]:
    """(table, problem) for each table the migration `label` (NNNN_name) creates that the application made already
    (problem None: adoptable), from its .up.adopt.sql; none without one."""
    name = f"{label}.up.adopt.sql"
    if name not in list_sql("migrations"):
        return []
    statement = render_sql(f"migrations/{name}", source=source_schema, analytics=source_schema)
    return conn.execute(statement, {"schema": source_schema}).fetchall()


def adoption_problems(conn: psycopg.Connection, labels: list[str], source_schema: str) -> list[str]:
    """One line for each difference between a table the application made and what the migrations `labels` need."""
    with conn.transaction():
        return [
            f"{source_schema}.{table} {problem}"
            for label in labels
            for table, problem in tables_to_adopt(conn, label, source_schema)
            if problem is not None
        ]


def record_adopted_tables(
    conn: psycopg.Connection, label: str, version: int, source_schema: str, log: Callable[[str], object] | None
) -> None:
    """Inside the migration's transaction, before its .up.sql: record each table it adopts."""
    for table, _ in tables_to_adopt(conn, label, source_schema):
        conn.execute(
            record_sql("insert_adopted_table", source_schema),
            {"table_name": table, "version": version, "schema": source_schema},
        )
        if log is not None:
            log(f"{source_schema}.{table}: made by the application already, adopted by migration {label}")
