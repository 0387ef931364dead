"""What the histories assets compute of a session's days and messages: a partition run replaces only its
days, a day is the UTC day whatever the server's time zone, and the first human message, durations and
message shapes are read as documented."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
from psycopg import sql

from convo_pipelines.defs.histories.crew_merges import HISTORIES_SESSIONS_MERGE, merge_crew
from convo_pipelines.defs.histories.crews import inspect_histories_table, load_crews
from convo_pipelines.defs.histories.window import Window
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines_tests.histories.histories_runs import metadata_of, run
from convo_pipelines_tests.histories_data import (
    HistoriesTableSpec,
    create_client,
    create_crew,
    create_histories_table,
    insert_messages,
    langchain,
    n8n,
    utc,
)


def test_a_partition_run_replaces_only_its_days_and_whole_sessions(db, postgres) -> None:
    create_client(db, "acme")
    create_histories_table(db, HistoriesTableSpec("support_histories"))
    create_crew(db, "support", "acme", "support_histories")
    week = "11111111-1111-1111-1111-111111111111"
    gone = "22222222-2222-2222-2222-222222222222"
    insert_messages(
        db,
        "support_histories",
        [
            *[(week, utc(2024, 3, day, 10), langchain("human", f"day {day}")) for day in range(1, 8)],
            (gone, utc(2024, 3, 4, 9), langchain("human", "soon deleted")),
            (gone, utc(2024, 3, 4, 9, 1), langchain("ai", "")),
        ],
    )
    run(postgres, "2024-03-01", "2024-03-07")
    assert db.execute(
        "select active_days, message_count from analytics.conversation_summaries where session_id = %s", (week,)
    ).fetchone() == (7, 7)

    # Late changes: a message added on 03-04 and on 03-06, the whole "gone" session deleted.
    insert_messages(
        db,
        "support_histories",
        [
            (week, utc(2024, 3, 4, 11), langchain("ai", "late reply")),
            (week, utc(2024, 3, 6, 11), langchain("ai", "late reply")),
        ],
    )
    db.execute("delete from public.support_histories where session_id = %s", (gone,))
    result = run(postgres, "2024-03-04")
    # A one-day tick counts its day only: no full-table count.
    meta = metadata_of(result, "histories_sessions")
    assert meta["dagster/partition_row_count"] == 1 and "dagster/row_count" not in meta

    days = dict(
        db.execute(
            "select activity_date, message_count from analytics.histories_sessions where session_id = %s", (week,)
        ).fetchall()
    )
    assert days[date(2024, 3, 4)] == 2  # replaced
    assert days[date(2024, 3, 6)] == 1  # other partition untouched
    assert (
        db.execute("select count(*) from analytics.histories_sessions where session_id = %s", (gone,)).fetchone()[0]
        == 0
    )
    # The summary of the touched session is recomputed over ALL its days, including 03-06's new message.
    assert db.execute(
        "select message_count, ai_message_count, active_days from analytics.conversation_summaries where session_id = %s",
        (week,),
    ).fetchone() == (9, 2, 7)
    assert (
        db.execute("select count(*) from analytics.conversation_summaries where session_id = %s", (gone,)).fetchone()[0]
        == 0
    )


def test_first_human_message_durations_and_message_shapes(db, postgres) -> None:
    create_client(db, "acme")
    create_histories_table(db, HistoriesTableSpec("shapes_histories", session_id_type="text", message_type="text"))
    create_crew(db, "shapes", "acme", "shapes_histories")
    long_text = "é" * 250
    insert_messages(
        db,
        "shapes_histories",
        [
            ("s1", utc(2024, 3, 2, 23, 59, 0), langchain("human", "")),  # empty: skipped, not malformed
            ("s1", utc(2024, 3, 2, 23, 59, 30), n8n("human", "lower id wins")),  # tie on created_at -> lowest id
            ("s1", utc(2024, 3, 2, 23, 59, 30), n8n("human", "higher id")),
            ("s1", utc(2024, 3, 3, 0, 0, 5), langchain("ai", "")),  # tool call: empty AI content
            ("s1", utc(2024, 3, 3, 0, 1, 0), "not json at all"),  # not JSON: skipped and counted
            ("s1", utc(2024, 3, 3, 0, 1, 1), '["an", "array"]'),  # malformed: not an object
            ("s1", utc(2024, 3, 3, 0, 1, 2), '{"data": {"content": "x"}}'),  # malformed: no type
            ("s1", utc(2024, 3, 3, 0, 1, 3), '{"type": "robot"}'),  # malformed: unknown type
            ("s1", utc(2024, 3, 3, 0, 1, 4), n8n("system", "sys")),
            ("s2", utc(2024, 3, 3, 8), langchain("human", long_text)),
        ],
    )
    result = run(postgres, "2024-03-02", "2024-03-03")
    rows = db.execute(
        "select activity_date, message_count, human_message_count, ai_message_count, malformed_message_count "
        "from analytics.histories_sessions where session_id = 's1' order by activity_date"
    ).fetchall()
    assert rows == [(date(2024, 3, 2), 3, 3, 0, 0), (date(2024, 3, 3), 5, 0, 1, 3)]
    assert metadata_of(result, "histories_sessions")["skipped_rows"] == {"shapes": {"invalid_json": 1}}
    s1 = db.execute(
        "select message_count, human_message_count, ai_message_count, duration_seconds, active_days, first_human_message "
        "from analytics.conversation_summaries where session_id = 's1'"
    ).fetchone()
    assert s1 == (8, 3, 1, 124, 2, "lower id wins")
    assert (
        db.execute(
            "select first_human_message from analytics.conversation_summaries where session_id = 's2'"
        ).fetchone()[0]
        == "é" * 200
    )


def test_activity_date_is_the_utc_day_whatever_the_server_timezone(db, postgres, database_url) -> None:
    db.execute(sql.SQL("alter database {} set timezone = 'America/Los_Angeles'").format(sql.Identifier(db.info.dbname)))
    create_client(db, "acme")
    create_histories_table(db, HistoriesTableSpec("tz_histories"))
    create_crew(db, "tz", "acme", "tz_histories")
    # 2024-03-02 03:00 UTC is still 2024-03-01 in Los Angeles.
    insert_messages(
        db, "tz_histories", [("33333333-3333-3333-3333-333333333333", utc(2024, 3, 2, 3), langchain("human", "hi"))]
    )
    run(postgres, "2024-03-02")
    assert db.execute("select activity_date from analytics.histories_sessions").fetchall() == [(date(2024, 3, 2),)]
    # The SQL itself, on a connection left in the database's Los Angeles time zone, gives the same day.
    with psycopg.connect(database_url.replace("postgresql+psycopg2", "postgresql")) as conn:
        assert conn.execute("show timezone").fetchone()[0] == "America/Los_Angeles"
        conn.execute("delete from analytics.histories_sessions")
        [crew] = load_crews(conn, "public")
        window = Window(utc(2024, 3, 2), utc(2024, 3, 3))
        session = Session(conn, postgres.source_schema, postgres.analytics_schema)
        merged = merge_crew(session, inspect_histories_table(conn, "public", crew), HISTORIES_SESSIONS_MERGE, window)
        assert merged.counts["rows_inserted"] == 1
        assert conn.execute("select activity_date from analytics.histories_sessions").fetchall() == [
            (date(2024, 3, 2),)
        ]


@pytest.mark.parametrize("message_type", ["jsonb", "json"])
def test_first_human_message_reads_the_text_blocks_of_list_content(db, postgres, message_type) -> None:
    # LangChain stores multimodal content as a list of blocks; only the text blocks are the message's text.
    create_client(db, "acme")
    table = f"blocks_{message_type}_histories"
    create_histories_table(db, HistoriesTableSpec(table, message_type=message_type))
    create_crew(db, f"blocks_{message_type}", "acme", table)
    session = "44444444-4444-4444-4444-444444444444"
    image_only = {"type": "human", "data": {"content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}}
    blocks = {
        "type": "human",
        "data": {
            "content": [
                {"type": "image_url", "image_url": {"url": "data:,"}},
                {"type": "text", "text": "what is on"},
                {"type": "text", "text": "this picture?"},
            ]
        },
    }
    insert_messages(
        db,
        table,
        [
            (session, utc(2024, 3, 2, 9, 0), image_only),  # no text at all: empty, so not the first human message
            (session, utc(2024, 3, 2, 9, 1), blocks),
            (session, utc(2024, 3, 2, 9, 2), langchain("ai", "a cat")),
        ],
    )
    run(postgres, "2024-03-02")
    summary = db.execute(
        "select message_count, human_message_count, first_human_message from analytics.conversation_summaries"
    ).fetchone()
    assert summary == (3, 2, "what is on this picture?")
