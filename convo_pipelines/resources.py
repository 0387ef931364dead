"""The one resource every asset, check, schedule and sensor uses: the application's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psycopg
from psycopg.sql import Composable, Composed
from pydantic import Field

from convo_pipelines.db import connect, redact_url, start_embedded_postgres
from convo_pipelines.settings import Settings
from convo_pipelines.sqlfiles import render_sql

# The Dagster concurrency pool of every asset that writes to the application database: its limit
# (dagster.yaml's concurrency.pools.default_limit, or `dagster instance concurrency set app_database N`)
# bounds how many of them run at once across all runs, whatever the run queue admits.
APP_DATABASE_POOL = "app_database"


class PostgresResource(dg.ConfigurableResource):
    """The application database: reads the source schema, writes link tables and analytics.

    An empty `database_url` means the embedded PostgreSQL under `convo_home` (started on
    first use), which is what `make dev` and the tests run on.
    """

    database_url: str = Field(default="", description="PostgreSQL URL; empty for the embedded server.")
    convo_home: str = Field(default=".convo", description="Folder of the embedded server's data.")
    source_schema: str = Field(default="public", description="Schema of the source tables and link tables.")
    analytics_schema: str = Field(default="analytics", description="Schema of the analytics tables.")

    @classmethod
    def from_settings(cls, settings: Settings) -> PostgresResource:
        # EnvVar keeps the URL (and its password) out of the UI's resource config view.
        url = dg.EnvVar("DATABASE_URL") if settings.database_url else ""
        return cls(
            database_url=url,
            convo_home=str(settings.convo_home),
            source_schema=settings.source_schema,
            analytics_schema=settings.analytics_schema,
        )

    def resolved_url(self) -> str:
        if self.database_url:
            return self.database_url
        return start_embedded_postgres(Path(self.convo_home), database="convo")

    def display_url(self) -> str:
        """The URL without its password, for logs and metadata."""
        return redact_url(self.resolved_url())

    @contextmanager
    def connect(self, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A connection that commits when the block ends cleanly and rolls back otherwise."""
        with connect(self.resolved_url(), autocommit=autocommit) as conn:
            yield conn

    def sql(self, name: str, **identifiers: str | Composable) -> Composed:
        """sql/<name> with this database's schemas bound as identifiers."""
        return render_sql(name, source=self.source_schema, analytics=self.analytics_schema, **identifiers)
