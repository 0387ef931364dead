"""Numbered migrations for everything the project owns, applied once each under an advisory lock.

Files are sql/migrations/NNNN_name.up.sql with a matching NNNN_name.down.sql. Each one runs in
its own transaction together with its row in the record table, so a killed migration leaves
nothing half-applied, and a transaction-level advisory lock makes a second process wait and
then see the version as applied instead of applying it twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql

from convo_pipelines.sqlfiles import list_sql, render_sql

MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.(?P<direction>up|down)\.sql$")
RECORD_TABLE = "convo_pipelines_migrations"
# Any fixed 64-bit number works; this one is 'convo_mi' in ASCII.
MIGRATION_LOCK_KEY = 0x636F6E766F5F6D69


@dataclass(frozen=True)
class Migration:
    version: int
    name: str

    def file(self, direction: str) -> str:
        return f"migrations/{self.version:04d}_{self.name}.{direction}.sql"


def available_migrations() -> list[Migration]:
    """Every migration shipped with the package, in version order; each must have both files."""
    found: dict[tuple[int, str], set[str]] = {}
    for filename in list_sql("migrations"):
        match = MIGRATION_FILE.match(filename)
        if not match:
            raise RuntimeError(f"sql/migrations/{filename} is not named NNNN_name.up.sql or NNNN_name.down.sql")
        key = (int(match["version"]), match["name"])
        found.setdefault(key, set()).add(match["direction"])
    for (version, name), directions in found.items():
        if directions != {"up", "down"}:
            raise RuntimeError(f"migration {version:04d}_{name} needs both an .up.sql and a .down.sql file")
    return [Migration(version, name) for version, name in sorted(found)]


def applied_versions(conn: psycopg.Connection, source_schema: str) -> list[int]:
    if not _record_table_exists(conn, source_schema):
        return []
    query = sql.SQL("select version from {}.{} order by version").format(
        sql.Identifier(source_schema), sql.Identifier(RECORD_TABLE)
    )
    return [row[0] for row in conn.execute(query)]


def migrate(conn: psycopg.Connection, source_schema: str, analytics_schema: str) -> list[Migration]:
    """Apply every pending migration; returns the ones this call applied."""
    applied: list[Migration] = []
    for migration in available_migrations():
        with conn.transaction():
            _lock(conn)
            _ensure_record_table(conn, source_schema)
            if migration.version in applied_versions(conn, source_schema):
                continue
            conn.execute(render_sql(migration.file("up"), source=source_schema, analytics=analytics_schema))
            conn.execute(
                sql.SQL("insert into {}.{} (version, name) values (%s, %s)").format(
                    sql.Identifier(source_schema), sql.Identifier(RECORD_TABLE)
                ),
                (migration.version, migration.name),
            )
            applied.append(migration)
    return applied


def rollback_last(conn: psycopg.Connection, source_schema: str, analytics_schema: str) -> Migration | None:
    """Undo the newest applied migration; returns it, or None when nothing is applied."""
    by_version = {m.version: m for m in available_migrations()}
    with conn.transaction():
        _lock(conn)
        versions = applied_versions(conn, source_schema)
        if not versions:
            return None
        newest = versions[-1]
        if newest not in by_version:
            raise RuntimeError(f"migration {newest:04d} is applied but this version of convo_pipelines does not ship it")
        migration = by_version[newest]
        conn.execute(render_sql(migration.file("down"), source=source_schema, analytics=analytics_schema))
        conn.execute(
            sql.SQL("delete from {}.{} where version = %s").format(
                sql.Identifier(source_schema), sql.Identifier(RECORD_TABLE)
            ),
            (migration.version,),
        )
    return migration


def _lock(conn: psycopg.Connection) -> None:
    conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))


def _record_table_exists(conn: psycopg.Connection, source_schema: str) -> bool:
    row = conn.execute(
        "select exists (select 1 from pg_catalog.pg_tables where schemaname = %s and tablename = %s)",
        (source_schema, RECORD_TABLE),
    ).fetchone()
    return bool(row[0])


def _ensure_record_table(conn: psycopg.Connection, source_schema: str) -> None:
    conn.execute(
        sql.SQL(
            "create table if not exists {}.{} ("
            " version integer primary key,"
            " name text not null,"
            " applied_at timestamptz not null default now())"
        ).format(sql.Identifier(source_schema), sql.Identifier(RECORD_TABLE))
    )
