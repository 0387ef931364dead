"""A session: one connection to the application database and the schemas its SQL files are rendered for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.sql import Composable, Composed

from convo_pipelines.lib.postgres.sqlfiles import render_sql


@dataclass(frozen=True)
class Session:
    """What every function that reads or writes the application database takes: its connection (`conn`, for
    transactions and cursors) and the source and analytics schemas that sql/ files name as {source} and
    {analytics}. A Dagster step gets one from PostgresResource.session(); anything else wraps its own connection.
    """

    conn: psycopg.Connection
    source_schema: str
    analytics_schema: str

    def sql(self, name: str, **identifiers: str | Composable) -> Composed:
        """sql/<name> with this session's schemas, and `identifiers`, bound as identifiers."""
        return render_sql(name, source=self.source_schema, analytics=self.analytics_schema, **identifiers)

    def execute(self, statement: Composable | str, params: Any = None) -> psycopg.Cursor:
        """Run one statement on the session's connection (inside its current transaction, if any)."""
        return self.conn.execute(statement, params)
