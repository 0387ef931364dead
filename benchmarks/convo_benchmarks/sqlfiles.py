"""The benchmarks' SQL files (the package convo_benchmarks.sql), read and bound as the product reads its own."""

from __future__ import annotations

from psycopg import sql

from convo_pipelines.lib.postgres import sqlfiles

SQL_PACKAGE = "convo_benchmarks.sql"


def read_sql(name: str) -> str:
    """The text of convo_benchmarks/sql/<name> (e.g. 'bench/select_table_sizes.sql')."""
    return sqlfiles.read_sql(name, SQL_PACKAGE)


def render_sql(name: str, *, source: str, analytics: str, **identifiers: str | sql.Composable) -> sql.Composed:
    """convo_benchmarks/sql/<name> with {source}, {analytics} and any other placeholder bound as an identifier."""
    return sqlfiles.render_sql(name, source=source, analytics=analytics, package=SQL_PACKAGE, **identifiers)
