"""What the link tests share: the tables' names and the partitions they cover, the link assets run in process with
dg.materialize(), and what a run wrote read back (its metadata, its rows' versions, the tables' constraints and
indexes) or compared with the independent Python oracle of source_data.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg
import psycopg

from convo_pipelines.defs.links.assets import clients_front_conversations, people_front_conversations
from convo_pipelines_tests.helpers import wait_until, watch_while
from convo_pipelines_tests.source_data import (
    expected_client_links,
    expected_people_links,
    link_pairs,
    project_link_rows,
)

SCHEMA = "public"
PEOPLE = "people_front_conversations"
CLIENTS = "clients_front_conversations"
PROJECTS = "project_conversations"
FRONT_ASSETS = [people_front_conversations, clients_front_conversations]
FIRST_PARTITION, LAST_PARTITION = "2024-01-01", "2024-01-20"


def jan(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=UTC)


def range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


FULL_RANGE = range_tags(FIRST_PARTITION, LAST_PARTITION)


def run_assets(
    postgres, assets, tags=None, run_config=None, instance=None, raise_on_error=True
) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        assets,
        resources={"postgres": postgres},
        tags=tags or {},
        run_config=run_config,
        instance=instance,
        raise_on_error=raise_on_error,
    )
    if raise_on_error:
        assert result.success
    return result


def metadata_of(result: dg.ExecuteInProcessResult, asset_name: str) -> dict[str, object]:
    # A range run reports one materialization per partition, all with the run's metadata.
    materializations = result.asset_materializations_for_node(asset_name)
    assert materializations, f"{asset_name} was not materialized"
    return {key: value.value for key, value in materializations[0].metadata.items()}


def writes_of(result: dg.ExecuteInProcessResult, asset_name: str) -> tuple[object, ...]:
    """(mode, links inserted, updated, deleted) of a Front link run: ("diff", 0, 0, 0) when it changed nothing."""
    meta = metadata_of(result, asset_name)
    return (meta["mode"], meta["rows_inserted_in_range"], meta["rows_updated_in_range"], meta["rows_deleted_in_range"])


def row_versions(db: psycopg.Connection, table: str) -> dict[str, tuple]:
    """{id: (xmin, every column)}: a row rewritten by an UPDATE, or deleted and re-inserted, changes here."""
    rows = db.execute(
        psycopg.sql.SQL("select id::text, xmin::text, t::text from {} as t").format(psycopg.sql.Identifier(table))
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def assert_front_tables_exact(
    db: psycopg.Connection, start: datetime | None = None, end: datetime | None = None
) -> None:
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA, start, end)
    assert link_pairs(db, SCHEMA, CLIENTS) == expected_client_links(db, SCHEMA, start, end)


def conversations_of_pairs(pairs) -> set:
    return {conversation for _, conversation in pairs}


def analyzed_by_hand(db: psycopg.Connection, table: str) -> bool:
    """Whether an ANALYZE (not autovacuum's) gathered `table`'s statistics; the statistics reach the view late."""

    def last_analyze() -> object:
        db.execute("select pg_stat_clear_snapshot()")
        row = db.execute(
            "select last_analyze from pg_stat_user_tables where schemaname = %s and relname = %s", (SCHEMA, table)
        ).fetchone()
        db.commit()
        return row[0]

    return wait_until(last_analyze, timeout=10) is not None


def committed_counts_while(database_url: str, run: Callable[[], object]) -> list[int]:
    """The people links another session sees committed, read every few milliseconds while `run` goes."""
    return watch_while(
        database_url, lambda watcher: watcher.execute(f"select count(*) from {PEOPLE}").fetchone()[0], run
    )


def link_foreign_keys(db: psycopg.Connection, table: str) -> dict[str, bool]:
    rows = db.execute(
        "select conname, convalidated from pg_constraint where contype = 'f' and conrelid = %s::regclass", (table,)
    )
    return dict(rows.fetchall())


def project_triples(db: psycopg.Connection) -> set[tuple]:
    return {
        (project, conversation, added_by) for conversation, (_, project, _, added_by) in project_link_rows(db).items()
    }


def table_definitions(db: psycopg.Connection, table: str) -> set[tuple[str, str]]:
    """Every constraint and index of `table` with its DDL (not the NOT NULL constraints PostgreSQL 18 lists too:
    the columns' NOT NULL are the same on every major)."""
    constraints = db.execute(
        "select conname, pg_get_constraintdef(oid) from pg_constraint where conrelid = %s::regclass and contype <> 'n'",
        (table,),
    ).fetchall()
    indexes = db.execute(
        "select indexname, indexdef from pg_indexes where schemaname = 'public' and tablename = %s", (table,)
    ).fetchall()
    return set(constraints) | set(indexes)
