"""Where the benchmark's tables live: a scratch database and its schemas, and the SQL bound to them."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from convo_benchmarks.sqlfiles import render_sql as render_benchmark_sql
from convo_pipelines.lib.postgres.sqlfiles import render_sql
from convo_pipelines.lib.postgres.urls import dagster_storage_url


@dataclass(frozen=True)
class Scratch:
    """Where the benchmark's tables live: a database and its source and analytics schemas."""

    url: str
    source_schema: str
    analytics_schema: str
    # Dagster's storage (runs, events) for the benchmark's runs, as dagster.yaml keeps it: in PostgreSQL.
    dagster_schema: str

    def sql(self, name: str, **identifiers: str | sql.Composable) -> sql.Composed:
        """The product's sql/<name> with the scratch schemas bound."""
        return render_sql(
            name, source=self.source_schema, analytics=self.analytics_schema, dagster=self.dagster_schema, **identifiers
        )

    def benchmark_sql(self, name: str, **identifiers: str | sql.Composable) -> sql.Composed:
        """convo_benchmarks/sql/<name> with the scratch schemas bound."""
        return render_benchmark_sql(
            name, source=self.source_schema, analytics=self.analytics_schema, dagster=self.dagster_schema, **identifiers
        )

    def run_environment(self) -> dict[str, str]:
        """What a Dagster run needs to read and write the scratch tables, and to keep its events in the scratch storage."""
        return {
            "DATABASE_URL": self.url,
            "SOURCE_SCHEMA": self.source_schema,
            "ANALYTICS_SCHEMA": self.analytics_schema,
            "DAGSTER_STORAGE_URL": dagster_storage_url(self.url, schema=self.dagster_schema),
        }
