"""The analytics tables themselves: every table and column commented, the column schemas Dagster shows
equal to the tables', and analytics_reader able to read them and nothing else."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from convo_pipelines.defs.histories.schemas import (
    CONVERSATION_SUMMARIES_SCHEMA,
    DAILY_CONVERSATION_STATS_SCHEMA,
    HISTORIES_SESSIONS_SCHEMA,
)


def test_every_analytics_table_and_column_has_a_comment(db) -> None:
    missing = db.execute(
        """
        select c.relname, a.attname
        from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        left join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = 'analytics' and c.relkind in ('r', 'v', 'm')
          and (obj_description(c.oid, 'pg_class') is null or col_description(c.oid, a.attnum) is null)
        """
    ).fetchall()
    assert missing == []
    relations = {
        row[0]
        for row in db.execute(
            "select relname from pg_class where relnamespace = 'analytics'::regnamespace and relkind in ('r', 'v')"
        )
    }
    # histories_id_ranges: the times of the messages of crews dated by id (internal to the pipeline).
    assert relations == {
        "histories_sessions",
        "conversation_summaries",
        "daily_conversation_stats",
        "histories_id_ranges",
    }


@pytest.mark.parametrize(
    ("table", "schema"),
    [
        ("histories_sessions", HISTORIES_SESSIONS_SCHEMA),
        ("conversation_summaries", CONVERSATION_SUMMARIES_SCHEMA),
        ("daily_conversation_stats", DAILY_CONVERSATION_STATS_SCHEMA),
    ],
)
def test_column_schemas_in_dagster_match_the_tables(db, table, schema) -> None:
    columns = [
        row[0]
        for row in db.execute(
            "select column_name from information_schema.columns where table_schema = 'analytics' and table_name = %s order by ordinal_position",
            (table,),
        )
    ]
    assert columns == [column.name for column in schema.columns]


def test_analytics_reader_can_only_read_analytics(db) -> None:
    assert db.execute("select rolcanlogin from pg_roles where rolname = 'analytics_reader'").fetchone() == (False,)
    db.execute("create table analytics.created_later (x int)")  # default privileges cover it
    with db.transaction():
        db.execute("set local role analytics_reader")
        for relation in ("histories_sessions", "conversation_summaries", "daily_conversation_stats", "created_later"):
            db.execute(sql.SQL("select count(*) from analytics.{}").format(sql.Identifier(relation)))
    for statement in (
        "insert into analytics.histories_sessions (crew_code, session_id, activity_date, message_count, human_message_count, "
        "ai_message_count, malformed_message_count, first_message_at, last_message_at) values ('c', 's', current_date, 1, 0, 0, 0, now(), now())",
        "delete from analytics.conversation_summaries",
        "create table analytics.mine (x int)",
        "select count(*) from public.people",
        "select count(*) from public.crews",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
            db.execute("set local role analytics_reader")
            db.execute(statement)
