"""Discovery ticks: incremental runs over today's partition equal a full recompute, and what they cannot
see (deletions, very late commits) waits for the next full recompute."""

from __future__ import annotations

import dagster as dg
import psycopg
from psycopg import sql

from convo_pipelines.defs.histories.schedules import discovery_tick_run_config
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines_tests.histories.histories_runs import metadata_of, run
from convo_pipelines_tests.histories_data import (
    HistoriesTableSpec,
    actual_sessions,
    actual_summaries,
    create_client,
    create_crew,
    create_histories_table,
    insert_messages,
    langchain,
    n8n,
    oracle_sessions,
    oracle_summaries,
    utc,
)

TICK_DAY = "2024-03-21"  # after the generated sessions, which end before 2024-03-20


def tick(postgres: PostgresResource) -> dg.ExecuteInProcessResult:
    """What a discovery schedule tick over TICK_DAY runs."""
    return run(postgres, TICK_DAY, run_config=discovery_tick_run_config())


def crew_modes(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, str]:
    return {row["crew"]: row["mode"] for row in metadata_of(result, asset)["crews"] if row["ok"]}


def rows_written(result: dg.ExecuteInProcessResult, asset: str) -> tuple[int, int, int]:
    meta = metadata_of(result, asset)
    return meta["rows_inserted_in_window"], meta["rows_updated_in_window"], meta["rows_deleted_in_window"]


def summaries_updated_at(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "select crew_code, session_id, updated_at from analytics.conversation_summaries order by 1, 2"
    ).fetchall()


def oldest_session(db: psycopg.Connection, table: str) -> str:
    return db.execute(
        sql.SQL("select session_id::text from {} order by id limit 1").format(sql.Identifier("public", table))
    ).fetchone()[0]


def test_incremental_ticks_equal_a_full_recompute(db, postgres, scenario) -> None:
    support, sales, globex = (scenario.good[code] for code in ("acme_support", "acme_sales", "globex_bot"))
    continuing = oldest_session(db, support)  # a generated session with earlier days and a summary
    midnight = "aaaaaaaa-0000-0000-0000-000000000001"
    morning = "aaaaaaaa-0000-0000-0000-000000000002"
    insert_messages(
        db,
        support,
        [
            (midnight, utc(2024, 3, 20, 23, 59, 50), langchain("human", "still open?")),
            (midnight, utc(2024, 3, 21, 0, 0, 10), langchain("ai", "yes")),
            (
                "aaaaaaaa-0000-0000-0000-000000000005",
                utc(2024, 3, 21, 3, 0),
                langchain("human", "up early"),
            ),  # never touched again
            (morning, utc(2024, 3, 21, 9, 0), langchain("human", "good morning")),
        ],
    )
    insert_messages(db, sales, [("sales-morning", utc(2024, 3, 21, 9, 30), n8n("human", "prices?"))])
    run(postgres, "2024-03-01", TICK_DAY)
    # globex_bot has no row on the tick's day yet; the others' watermarks are 09:00 and 09:30.

    insert_messages(
        db,
        support,
        [
            ("aaaaaaaa-0000-0000-0000-000000000003", utc(2024, 3, 21, 10, 0), langchain("human", "")),
            ("aaaaaaaa-0000-0000-0000-000000000003", utc(2024, 3, 21, 10, 0, 1), langchain("human", "new session")),
            ("aaaaaaaa-0000-0000-0000-000000000003", utc(2024, 3, 21, 10, 0, 5), langchain("ai", "")),  # a tool call
            (continuing, utc(2024, 3, 21, 10, 1), langchain("human", "back again")),
            (midnight, utc(2024, 3, 21, 10, 2), langchain("ai", "closing")),
            # A session whose only message is dated inside the late-commit overlap before the 09:00
            # watermark: a transaction that committed late.
            ("aaaaaaaa-0000-0000-0000-000000000004", utc(2024, 3, 21, 8, 58, 30), langchain("human", "late commit")),
        ],
    )
    insert_messages(
        db,
        sales,
        [
            ("sales-new", utc(2024, 3, 21, 10, 0), n8n("human", "hello")),
            ("sales-new", utc(2024, 3, 21, 10, 0, 1), '{"type": "robot", "content": "beep"}'),  # malformed
            ("sales-new", utc(2024, 3, 21, 10, 0, 2), '"just a string"'),  # malformed
            ("sales-morning", utc(2024, 3, 21, 10, 5), n8n("ai", "")),
        ],
    )
    insert_messages(db, globex, [("globex-new", utc(2024, 3, 21, 10, 0), langchain("human", "hi globex"))])

    result = tick(postgres)
    for asset in ("histories_sessions", "conversation_summaries"):
        assert crew_modes(result, asset) == {
            "acme_support": "incremental",
            "acme_sales": "incremental",
            "globex_bot": "full",
        }
        meta = metadata_of(result, asset)
        assert (meta["mode"], meta["crews_incremental"], meta["crews_full"]) == ("mixed", 2, 1)
        # Bad crews are reported exactly as by a full run.
        assert meta["crews_failed"] == 3 and "`hostile`" in meta["bad_crews"] and "`ghost`" in meta["bad_crews"]
    assert actual_sessions(db) == oracle_sessions(db, scenario)
    assert actual_summaries(db) == oracle_summaries(db, scenario)
    meta = metadata_of(result, "histories_sessions")
    # A tick reads only what is new: it reports what it wrote and recomputed, no figure of the whole day.
    assert not {"rows_in_window", "sessions_in_window", "messages_in_window", "malformed_messages_in_window"} & set(
        meta
    )
    assert meta["sql_seconds"] <= meta["seconds"]
    support_row = next(row for row in meta["crews"] if row["crew"] == "acme_support")
    assert (
        support_row["session_days_recomputed"] == 5
    )  # new, continuing, midnight, late commit, morning (in the overlap)

    sessions_before, updated_before = actual_sessions(db), summaries_updated_at(db)
    again = tick(postgres)
    for asset in ("histories_sessions", "conversation_summaries"):
        assert metadata_of(again, asset)["mode"] == "incremental"
        assert rows_written(again, asset) == (0, 0, 0)
    assert actual_sessions(db) == sessions_before and summaries_updated_at(db) == updated_before

    # A full recompute of every day finds nothing to change.
    full = run(postgres, "2024-01-01", TICK_DAY)
    for asset in ("histories_sessions", "conversation_summaries"):
        assert metadata_of(full, asset)["mode"] == "full"
        assert rows_written(full, asset) == (0, 0, 0)
    assert summaries_updated_at(db) == updated_before


def test_deletions_and_very_late_commits_wait_for_a_full_recompute(db, postgres) -> None:
    create_client(db, "acme")
    create_histories_table(db, HistoriesTableSpec("late_histories"))
    create_crew(db, "late", "acme", "late_histories")
    kept, removed = "bbbbbbbb-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"
    insert_messages(
        db,
        "late_histories",
        [
            (kept, utc(2024, 3, 21, 9, 0), langchain("human", "first")),
            (removed, utc(2024, 3, 21, 9, 20), langchain("human", "soon deleted")),
        ],
    )
    first = tick(postgres)
    assert metadata_of(first, "histories_sessions")["mode"] == "full"  # nothing on the day yet
    db.execute("delete from public.late_histories where session_id = %s", (removed,))
    # Dated 10 minutes before the 09:20 watermark, beyond the late-commit overlap.
    insert_messages(db, "late_histories", [(kept, utc(2024, 3, 21, 9, 10), langchain("ai", "very late commit"))])
    before = (actual_sessions(db), summaries_updated_at(db))
    blind = tick(postgres)
    assert metadata_of(blind, "histories_sessions")["mode"] == "incremental"
    assert (actual_sessions(db), summaries_updated_at(db)) == before

    # A range of days is always recomputed fully, whatever the config says (the tick after midnight).
    caught = run(postgres, "2024-03-20", TICK_DAY, run_config=discovery_tick_run_config())
    assert metadata_of(caught, "histories_sessions")["mode"] == "full"
    assert db.execute("select session_id, message_count from analytics.histories_sessions").fetchall() == [(kept, 2)]
    assert db.execute("select session_id, message_count from analytics.conversation_summaries").fetchall() == [
        (kept, 2)
    ]
