"""histories_sessions, conversation_summaries, daily_conversation_stats equal an independent
recomputation: over a range, over every partition, from the demo seeder, merged in slices; a re-run changes
nothing, and a bulk write gathers the tables' statistics."""

from __future__ import annotations

import dagster as dg
import psycopg
from psycopg import sql

from convo_pipelines.defs.histories.run_metadata import row_count_metadata
from convo_pipelines.defs.histories.window import Window
from convo_pipelines.defs.partitions import PartitionWindow
from convo_pipelines.lib.embedded.demo_histories import seed_histories
from convo_pipelines_tests.histories.histories_runs import RANGE, metadata_of, run
from convo_pipelines_tests.histories_data import (
    HistoriesTableSpec,
    Scenario,
    actual_sessions,
    actual_summaries,
    create_crew,
    create_histories_table,
    insert_messages,
    langchain,
    oracle_sessions,
    oracle_summaries,
    read_raw,
    utc,
)


def test_range_backfill_equals_an_independent_recomputation(db, postgres, scenario) -> None:
    # From the first partition, which opens at the beginning of time, to past the scenario's last day:
    # a fixed range, so the run's work does not grow with today's date.
    result = run(postgres, "2024-01-01", RANGE[1])
    expected_sessions = oracle_sessions(db, scenario)
    assert len(expected_sessions) > 100
    assert actual_sessions(db) == expected_sessions
    assert actual_summaries(db) == oracle_summaries(db, scenario)
    # Summaries of sessions crossing midnight / lasting days exist and cover every day.
    assert db.execute("select max(active_days) from analytics.conversation_summaries").fetchone()[0] >= 3
    stats = db.execute("select sum(sessions), sum(messages) from analytics.daily_conversation_stats").fetchone()
    assert stats == (len(expected_sessions), sum(row[4] for row in expected_sessions))
    meta = metadata_of(result, "histories_sessions")
    assert meta["rows_in_window"] == len(expected_sessions)
    # Not every partition up to today: the whole table is not counted (a full scan), and a range's
    # total is not a partition's row count.
    assert "dagster/row_count" not in meta and "dagster/partition_row_count" not in meta
    assert meta["malformed_messages_in_window"] == sum(row[7] for row in expected_sessions) > 0
    # The summaries' run shows its newest rows as a small table.
    preview = metadata_of(result, "conversation_summaries")["newest_rows"]
    ends = [record.data["ended_at"] for record in preview.records]
    assert len(ends) == 10 and ends == sorted(ends, reverse=True)
    assert {"crew_code", "session_id", "message_count"} <= {column.name for column in preview.schema.columns}


def test_a_window_over_every_partition_counts_the_whole_table(db, postgres, scenario) -> None:
    run(postgres, "2024-01-01", RANGE[1])
    everything = Window.of(PartitionWindow(start=None, end=None, reaches_last_partition=True))
    assert everything.whole and everything.unpartitioned
    with postgres.session() as session:
        sessions = row_count_metadata(session, "histories_sessions", everything)
        summaries = row_count_metadata(session, "conversation_summaries", everything)
    assert sessions["dagster/row_count"] == sessions["rows_in_window"] == len(oracle_sessions(db, scenario))
    assert summaries["dagster/row_count"] == len(oracle_summaries(db, scenario))
    # A window that stops before today's partition is not everything, even from the first partition on.
    assert not Window.of(PartitionWindow(start=None, end=utc(2024, 3, 20), reaches_last_partition=False)).whole


def test_rerun_changes_nothing_not_even_updated_at(db, postgres, scenario) -> None:
    run(postgres, *RANGE)
    summaries_before = db.execute(
        "select crew_code, session_id, updated_at from analytics.conversation_summaries"
    ).fetchall()
    sessions_before = actual_sessions(db)
    result = run(postgres, *RANGE)
    assert actual_sessions(db) == sessions_before
    assert (
        db.execute("select crew_code, session_id, updated_at from analytics.conversation_summaries").fetchall()
        == summaries_before
    )
    for asset in ("histories_sessions", "conversation_summaries"):
        meta = metadata_of(result, asset)
        assert (meta["rows_inserted_in_window"], meta["rows_updated_in_window"], meta["rows_deleted_in_window"]) == (
            0,
            0,
            0,
        )


def test_a_bulk_write_gathers_the_tables_statistics_and_a_run_that_wrote_little_leaves_them(
    db, postgres, scenario
) -> None:
    """Without statistics (autovacuum not there yet) the checks after a run and the next ticks are planned
    for a third of the table changed: hash joins over all of it for a tick's few sessions."""
    for table in ("histories_sessions", "conversation_summaries"):
        db.execute(
            sql.SQL("delete from pg_statistic where starelid = {}::regclass").format(sql.Literal(f"analytics.{table}"))
        )
    result = run(postgres, *RANGE)
    gathered = db.execute(
        "select tablename from pg_stats where schemaname = 'analytics' and attname = 'updated_at'"
    ).fetchall()
    assert sorted(table for (table,) in gathered) == ["conversation_summaries", "histories_sessions"]
    assert [
        metadata_of(result, asset)["statistics_refreshed"] for asset in ("histories_sessions", "conversation_summaries")
    ] == [True, True]
    rerun = run(postgres, *RANGE)
    assert [
        metadata_of(rerun, asset)["statistics_refreshed"] for asset in ("histories_sessions", "conversation_summaries")
    ] == [False, False]


def test_demo_seeder_histories_are_discovered_exactly(db, postgres) -> None:
    with psycopg.connect(db.info.dsn) as conn:
        counts = seed_histories(conn, source_schema="public", messages=3000, crews=3, days=5, end=utc(2024, 3, 6))
    assert counts["crews"] == 3 and counts["histories_messages"] == 3000
    assert counts["histories_chat_sessions"] > 100
    crews = db.execute(
        "select cr.code, cr.histories_table_name, cl.code from public.crews as cr join public.clients as cl on cl.id = cr.client_id"
    ).fetchall()
    scenario = Scenario(
        good={code: table for code, table, _ in crews}, clients={code: client for code, _, client in crews}
    )
    assert sum(len(read_raw(db, table)) for table in scenario.good.values()) == 3000
    types = dict(
        db.execute(
            "select table_name, data_type from information_schema.columns where column_name = 'session_id' and table_name like '%demo_crew%'"
        ).fetchall()
    )
    assert sorted(types.values()) == ["character varying", "text", "uuid"]
    run(postgres, "2024-03-01", "2024-03-05")
    assert actual_sessions(db) == oracle_sessions(db, scenario)
    assert actual_summaries(db) == oracle_summaries(db, scenario)
    assert sum(row[7] for row in actual_sessions(db)) == counts["histories_malformed_messages"]


def crews_figures(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dict[str, object]]:
    return {row["crew"]: row for row in metadata_of(result, asset)["crews"] if row["ok"]}


def test_a_long_range_is_merged_in_slices_of_its_own_transactions_and_stays_exact(db, postgres, scenario) -> None:
    # A crew whose created_at has no index is merged in one transaction: each slice would read its whole table.
    unindexed = HistoriesTableSpec("acme_unindexed_histories", index_created_at=False)
    create_histories_table(db, unindexed)
    create_crew(db, "acme_unindexed", "acme", unindexed.name)
    insert_messages(
        db,
        unindexed.name,
        [("5f0e0b7e-3a4e-4b55-9c1e-2d2f8c1b9a01", utc(2024, 3, 2, 23, 50), langchain("human", "hi"))],
    )
    scenario.good["acme_unindexed"], scenario.clients["acme_unindexed"] = unindexed.name, "acme"
    # A message dated after every partition is in no window: a full run counts it once, not once per slice.
    insert_messages(db, "globex_histories", [("session-far", utc(2999, 1, 1), langchain("human", "later"))])
    db.commit()

    # Two-day slices from the first partition (2024-01-01) cut the scenario's days (2024-03-01 to 03-04) at
    # 03-01, 03-03 and 03-05, across sessions that span midnight.
    sliced = run(postgres, "2024-01-01", RANGE[1], run_config=slicing(days=2))
    assert actual_sessions(db) == {row for row in oracle_sessions(db, scenario) if row[1] != "session-far"}
    assert actual_summaries(db) == {row for row in oracle_summaries(db, scenario) if row[1] != "session-far"}
    for asset in ("histories_sessions", "conversation_summaries"):
        transactions = {crew: row["transactions"] for crew, row in crews_figures(sliced, asset).items()}
        assert transactions["acme_unindexed"] == 1
        assert all(count > 30 for crew, count in transactions.items() if crew != "acme_unindexed"), transactions

    # One transaction per crew computes the same figures, and finds nothing left to change.
    whole = run(postgres, "2024-01-01", RANGE[1], run_config=slicing(days=1000))
    assert {row["transactions"] for row in crews_figures(whole, "histories_sessions").values()} == {1}
    for figure in (
        "rows_in_window",
        "sessions_in_window",
        "messages_in_window",
        "malformed_messages_in_window",
        "skipped_rows",
    ):
        assert metadata_of(sliced, "histories_sessions")[figure] == metadata_of(whole, "histories_sessions")[figure], (
            figure
        )
    assert metadata_of(whole, "histories_sessions")["skipped_rows"]["globex_bot"]["created_at_out_of_range"] == 1
    for asset in ("histories_sessions", "conversation_summaries"):
        assert (
            metadata_of(whole, asset)["rows_inserted_in_window"]
            == metadata_of(whole, asset)["rows_updated_in_window"]
            == 0
        )


def slicing(days: int) -> dict:
    config = {"max_days_per_transaction": days}
    return {
        "ops": {
            name: {"config": config}
            for name in ("histories_sessions", "conversation_summaries", "daily_conversation_stats")
        }
    }
