"""The tests' own SQL files (the package convo_pipelines_tests.sql: the app workload's statements and the app's
changes), read and bound as the product reads its own."""

from __future__ import annotations

from psycopg import sql

from convo_pipelines.lib.postgres import sqlfiles

SQL_PACKAGE = "convo_pipelines_tests.sql"


def render_sql(name: str, *, source: str, analytics: str, **identifiers: str | sql.Composable) -> sql.Composed:
    """convo_pipelines_tests/sql/<name> with {source}, {analytics} and any other placeholder bound as an identifier."""
    return sqlfiles.render_sql(name, source=source, analytics=analytics, package=SQL_PACKAGE, **identifiers)
