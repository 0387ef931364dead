"""The bench's statements on its scratch tables outside Dagster: emptying the derived tables, one late change,
row counts and sizes, and the WAL and checkpoints the server wrote meanwhile."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from psycopg import sql

from convo_benchmarks.bench_runs import BenchError
from convo_benchmarks.bench_scratch import Scratch
from convo_pipelines.defs.histories.crews import load_crews
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS
from convo_pipelines.defs.links.tables import FRONT_LINK_TABLES
from convo_pipelines.lib.postgres.db import connect, count_rows


def truncate_histories_analytics(scratch: Scratch) -> None:
    with connect(scratch.url) as conn:
        conn.execute(scratch.benchmark_sql("bench/truncate_histories_analytics.sql"))


def truncate_front_links(scratch: Scratch) -> None:
    with connect(scratch.url) as conn:
        conn.execute(
            sql.SQL("truncate {}, {}").format(
                *(sql.Identifier(scratch.source_schema, table) for table in FRONT_LINK_ASSETS)
            )
        )


def reset_front_links_to_never_filled(scratch: Scratch) -> None:
    """Empty the Front link tables and drop their foreign keys: as their migration left them, so the next
    run takes the first-fill path a user's first backfill takes (a TRUNCATE alone keeps the keys, and the
    run would diff into an empty table instead)."""
    truncate_front_links(scratch)
    with connect(scratch.url) as conn:
        for spec in FRONT_LINK_TABLES:
            for key in spec.foreign_keys:
                conn.execute(
                    scratch.benchmark_sql("bench/drop_link_foreign_key.sql", links=spec.table, constraint_name=key.name)
                )


def make_one_change(scratch: Scratch, day: date) -> str:
    """Add one recipient to the day's first conversation; returns that conversation's id."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    with connect(scratch.url) as conn:
        changed = conn.execute(
            scratch.benchmark_sql("bench/insert_recipient_for_bench_change.sql"),
            {"start": start, "end": start + timedelta(days=1)},
        ).fetchone()
        if changed is None:
            raise BenchError(f"no conversation on {day} to change: seed more conversations or days")
        return changed[0]


def histories_source_tables(scratch: Scratch) -> list[str]:
    with connect(scratch.url) as conn:
        return [crew.histories_table_name for crew in load_crews(conn, scratch.source_schema)]


def scratch_row_count(scratch: Scratch, schema: str, table: str) -> int:
    with connect(scratch.url) as conn:
        return count_rows(conn, schema, table)


def table_sizes(
    scratch: Scratch, label: str, schema: str, tables: tuple[str, ...] | list[str]
) -> list[dict[str, object]]:
    """Heap and index sizes of `tables` in `schema`, each row naming its schema by `label` (source, analytics)."""
    with connect(scratch.url) as conn:
        rows = conn.execute(
            scratch.benchmark_sql("bench/select_table_sizes.sql"), {"schema": schema, "tables": list(tables)}
        ).fetchall()
    return [
        {"schema": label, "table": name, "table_mb": round(heap / 2**20, 1), "index_mb": round(index / 2**20, 1)}
        for name, heap, index in rows
    ]


def schemas_disk_mb(scratch: Scratch) -> float:
    with connect(scratch.url) as conn:
        disk_bytes = conn.execute(
            scratch.benchmark_sql("bench/select_schemas_disk_bytes.sql"),
            {"schemas": [scratch.source_schema, scratch.analytics_schema]},
        ).fetchone()[0]
    return round(disk_bytes / 2**20, 1)


def wal_and_requested_checkpoints(scratch: Scratch) -> tuple[int, int]:
    with connect(scratch.url) as conn:
        since_17 = conn.info.server_version >= 170000
        statement = scratch.benchmark_sql(
            "bench/select_wal_and_requested_checkpoints.sql",
            view="pg_stat_checkpointer" if since_17 else "pg_stat_bgwriter",
            counter="num_requested" if since_17 else "checkpoints_req",
        )
        wal_bytes, requested = conn.execute(statement).fetchone()
    return int(wal_bytes), int(requested)


def server_activity_since(scratch: Scratch, before: tuple[int, int]) -> dict[str, float]:
    """The WAL written and the checkpoints requested on the whole server since `before` (the run's and the
    app's): a commit waits for the WAL before it to be flushed, and a forced checkpoint flushes every
    dirty data file, so these are what the app's commits wait on beside a bulk write."""
    wal_bytes, requested = wal_and_requested_checkpoints(scratch)
    return {"wal_written_mb": round((wal_bytes - before[0]) / 2**20, 1), "checkpoints_requested": requested - before[1]}
