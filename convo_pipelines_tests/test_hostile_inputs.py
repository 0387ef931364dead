"""Hostile inputs to the histories pipeline, one table row per case: crews' table names, the crews and
clients rows, and the rows of the histories tables (messages, NULLs, timestamps, duplicates).

Every case is one crew of the same database, discovered by one full run (with the checks) and then
one discovery tick, as in production where one run covers every crew. The runs go in a process of
their own whose partitions start two days ago, so their cost does not grow with the date
(hostile_discovery.py says how). Each case asserts its
documented outcome: a bad crew with its reason, a row skipped with its reason, a message counted as
malformed, or written; and that no source relation changed (content and catalog hashed before and
after the runs).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.helpers import fresh_database
from convo_pipelines_tests.histories_data import HOSTILE_TABLE_NAME, create_client, langchain, n8n
from convo_pipelines_tests.hostile_discovery import (
    CheckOutcome,
    RunOutcome,
    run_full_discovery_then_tick,
    source_fingerprint,
)

BAD_CREW = "bad crew"
SKIPPED = "row skipped"
MALFORMED = "counted as malformed"
WRITTEN = "written"

CLIENT = "acme"
SESSION = "s-1"
NOW = datetime.now(UTC)
TODAY = NOW.date()
# Rows of today for the tick, within its 2-minute late-commit overlap, never after now (nor before today).
TODAY_BASE = max(NOW - timedelta(seconds=40), datetime.combine(TODAY, datetime.min.time(), UTC))
# Every case's crew has these two messages of one session besides its hostile rows (unless it says otherwise).
BASELINE = [
    (SESSION, "2024-03-01 10:00:00+00", json.dumps(langchain("human", "hello"))),
    (SESSION, "2024-03-01 10:01:00+00", json.dumps(langchain("ai", "hi"))),
]
BASELINE_TOTALS = (2, 1, 1, 0)  # messages, human, ai, malformed

Row = tuple[str | None, str | None, str | None]  # session_id, created_at (text, cast by PostgreSQL), message (text)


def message(kind: str, content: object, shape: str = "langchain") -> str:
    return json.dumps(langchain(kind, content) if shape == "langchain" else n8n(kind, content))


def nested(levels: int, inner: str) -> str:
    """JSON text of `inner` inside `levels` objects (built as text: json.dumps stops at Python's recursion limit)."""
    return '{"a": ' * levels + inner + "}" * levels


# ------------------------------------------------------------------------------------------------
# Arranging: tables, crews and rows


def create_table(
    db: psycopg.Connection,
    name: str,
    message_type: str = "jsonb",
    session_id_type: str = "text",
    schema: str = "public",
) -> None:
    """A histories table as a crew may really have one: every column nullable, no primary key."""
    table = sql.Identifier(schema, name)
    db.execute(
        sql.SQL("create table {} (id integer, session_id {}, message {}, created_at timestamptz)").format(
            table, sql.SQL(session_id_type), sql.SQL(message_type)
        )
    )
    db.execute(sql.SQL("create index on {} (session_id)").format(table))
    db.execute(sql.SQL("create index on {} (created_at)").format(table))


def insert_rows(db: psycopg.Connection, name: str, rows: list[Row], schema: str = "public") -> None:
    """Rows given as text, cast by PostgreSQL (so 'infinity' or year 294276 go in as they are); ids count up."""
    message_type = db.execute(
        "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = %s::regclass and attname = 'message'",
        (sql.Identifier(schema, name).as_string(db),),
    ).fetchone()[0]
    statement = sql.SQL(
        "insert into {} (id, session_id, message, created_at) values (%s, %s, %s::{}, %s::timestamptz)"
    ).format(sql.Identifier(schema, name), sql.SQL(message_type))
    start = db.execute(sql.SQL("select coalesce(max(id), 0) from {}").format(sql.Identifier(schema, name))).fetchone()[
        0
    ]
    for number, (session_id, created_at, text) in enumerate(rows, start=start + 1):
        db.execute(statement, (number, session_id, text, created_at))


def create_crew(db: psycopg.Connection, code: str, table_name: str, client: str | None = CLIENT) -> None:
    db.execute(
        "insert into public.crews (code, client_id, histories_table_name) values (%s, (select id from public.clients where code = %s), %s)",
        (code, client, table_name),
    )


def crew_with_rows(
    rows: list[Row], message_type: str = "jsonb", session_id_type: str = "text", baseline: bool = True
) -> Callable[[psycopg.Connection, str], list[str]]:
    """Arrange: a table <code>_h of that shape with the baseline and `rows`, and the crew pointing at it."""

    def arrange(db: psycopg.Connection, code: str) -> list[str]:
        table = f"{code}_h"
        create_table(db, table, message_type, session_id_type)
        insert_rows(db, table, [*(BASELINE if baseline else []), *rows])
        create_crew(db, code, table)
        return [table]

    return arrange


def crew_named(table_name: str, create: str | None = None) -> Callable[[psycopg.Connection, str], list[str]]:
    """Arrange: a crew whose histories_table_name is `table_name`; with `create`, a readable table of that
    (exact) name is created too, with messages, to show the name is refused even though the table exists."""

    def arrange(db: psycopg.Connection, code: str) -> list[str]:
        if create is not None:
            create_table(db, create)
            insert_rows(db, create, BASELINE)
        create_crew(db, code, table_name)
        return [create] if create is not None else []

    return arrange


def arrange_view(db: psycopg.Connection, code: str) -> list[str]:
    create_table(db, "view_base")
    insert_rows(db, "view_base", BASELINE)
    db.execute("create view public.view_histories as select id, session_id, message, created_at from public.view_base")
    create_crew(db, code, "view_histories")
    return ["view_base", "view_histories"]


def arrange_unpopulated_matview(db: psycopg.Connection, code: str) -> list[str]:
    create_table(db, "matview_base")
    insert_rows(db, "matview_base", BASELINE)
    db.execute("create materialized view public.matview_histories as select * from public.matview_base with no data")
    create_crew(db, code, "matview_histories")
    return ["matview_base"]  # an unpopulated view has no rows to hash; the catalog hash covers it


def arrange_other_schema(db: psycopg.Connection, code: str) -> list[str]:
    db.execute("create schema elsewhere")
    create_table(db, "elsewhere_histories", schema="elsewhere")
    insert_rows(db, "elsewhere_histories", BASELINE, schema="elsewhere")
    create_crew(db, code, "elsewhere_histories")
    return []


def arrange_duplicate_code(db: psycopg.Connection, code: str) -> list[str]:
    # A source without the unique key on crews.code: the same code, two different tables.
    db.execute("alter table public.crews drop constraint crews_code_key")
    for table in (f"{code}_one", f"{code}_two"):
        create_table(db, table)
        insert_rows(db, table, BASELINE)
        create_crew(db, code, table)
    return [f"{code}_one", f"{code}_two"]


def arrange_exact_duplicate_crew(db: psycopg.Connection, code: str) -> list[str]:
    # Runs after arrange_duplicate_code dropped the unique key: two identical rows are one crew.
    tables = crew_with_rows([])(db, code)
    create_crew(db, code, tables[0])
    return tables


def arrange_missing_client(db: psycopg.Connection, code: str) -> list[str]:
    # A source without the foreign key: the crew's client_id points at no client.
    db.execute("alter table public.crews drop constraint crews_client_id_fkey")
    tables = crew_with_rows([])(db, "tmp_missing_client")
    db.execute("delete from public.crews where code = 'tmp_missing_client'")
    db.execute(
        "insert into public.crews (code, client_id, histories_table_name) values (%s, gen_random_uuid(), %s)",
        (code, tables[0]),
    )
    return tables


def arrange_no_client(db: psycopg.Connection, code: str) -> list[str]:
    tables = crew_with_rows([])(db, "tmp_no_client")
    db.execute("update public.crews set code = %s, client_id = null where code = 'tmp_no_client'", (code,))
    return tables


def arrange_shared_table(db: psycopg.Connection, code: str) -> list[str]:
    # Points at the table of the "n8n_every_shape" crew: both crews count its rows.
    create_crew(db, code, "n8n_every_shape_h")
    return ["n8n_every_shape_h"]


def arrange_duplicate_row(db: psycopg.Connection, code: str) -> list[str]:
    # The same row twice, id included: a table without a key cannot tell them apart, and neither can the pipeline.
    tables = crew_with_rows([(SESSION, "2024-03-01 11:00+00", message("human", "again"))])(db, code)
    db.execute(
        sql.SQL("insert into {table} select * from {table} where id = 3").format(
            table=sql.Identifier("public", tables[0])
        )
    )
    return tables


def arrange_thirty_rows_and_a_null_session(db: psycopg.Connection, code: str) -> list[str]:
    rows: list[Row] = [
        (
            f"thirty-{number % 5}",
            f"2024-03-02 {8 + number // 5:02d}:{number:02d}:00+00",
            message("human" if number % 2 else "ai", f"m{number}"),
        )
        for number in range(30)
    ]
    rows.insert(17, (None, "2024-03-02 09:30:00+00", message("human", "no session")))
    return crew_with_rows(rows, baseline=False)(db, code)


# ------------------------------------------------------------------------------------------------
# The cases


@dataclass(frozen=True)
class Case:
    """One crew arranged with a hostile input, and what the pipeline must do with it.

    outcome BAD_CREW: `reason` is part of the crew's reason, in the run's metadata and the failing check.
    Otherwise the crew is written: `totals` are its (messages, human, ai, malformed) summed over
    histories_sessions and equal in conversation_summaries, `skipped` the run's skipped_rows of the crew.
    """

    id: str
    outcome: str
    arrange: Callable[[psycopg.Connection, str], list[str]]
    reason: str = ""
    totals: tuple[int, int, int, int] = BASELINE_TOTALS
    skipped: dict[str, int] = field(default_factory=dict)
    verify: Callable[[psycopg.Connection, str], None] | None = None

    @property
    def code(self) -> str:
        return self.id


def plus(messages: int, human: int = 0, ai: int = 0, malformed: int = 0) -> tuple[int, int, int, int]:
    return tuple(a + b for a, b in zip(BASELINE_TOTALS, (messages, human, ai, malformed), strict=True))


def first_human_message_is(expected: str | None) -> Callable[[psycopg.Connection, str], None]:
    def verify(db: psycopg.Connection, code: str) -> None:
        rows = db.execute(
            "select first_human_message from analytics.conversation_summaries where crew_code = %s and session_id = 's-2'",
            (code,),
        ).fetchall()
        assert rows == [(expected,)]

    return verify


def activity_dates_are(*expected: date) -> Callable[[psycopg.Connection, str], None]:
    def verify(db: psycopg.Connection, code: str) -> None:
        rows = db.execute(
            "select distinct activity_date from analytics.histories_sessions where crew_code = %s order by 1", (code,)
        ).fetchall()
        assert [row[0] for row in rows] == list(expected)

    return verify


def client_is_null(db: psycopg.Connection, code: str) -> None:
    assert db.execute(
        "select distinct client_code from analytics.conversation_summaries where crew_code = %s", (code,)
    ).fetchall() == [(None,)]


def session_ids_are(*expected: str) -> Callable[[psycopg.Connection, str], None]:
    def verify(db: psycopg.Connection, code: str) -> None:
        rows = db.execute(
            "select session_id from analytics.conversation_summaries where crew_code = %s order by 1", (code,)
        ).fetchall()
        assert [row[0] for row in rows] == sorted(expected)

    return verify


DEEP_HUMAN = '{"type": "human", "data": {"content": "deep", "additional_kwargs": ' + nested(1000, '"bottom"') + "}}"
FIVE_MB = "x" * (5 * 1024 * 1024)
LOOK_ALIKE = "h\u0456stories"  # Cyrillic і

CASES = [
    # --- table names: never quoted into SQL unless they are plain lowercase identifiers of at most 63 characters
    Case("name_double_quote", BAD_CREW, crew_named('hist"ories'), "not a valid table name"),
    Case("name_sql_injection", BAD_CREW, crew_named(HOSTILE_TABLE_NAME), "not a valid table name"),
    Case("name_semicolon", BAD_CREW, crew_named("hist; delete from crews"), "not a valid table name"),
    Case("name_single_quote", BAD_CREW, crew_named("o'brien_histories"), "not a valid table name"),
    Case("name_uppercase", BAD_CREW, crew_named("Upper_Histories", create="Upper_Histories"), "not a valid table name"),
    Case("name_look_alike_unicode", BAD_CREW, crew_named(LOOK_ALIKE, create=LOOK_ALIKE), "not a valid table name"),
    # PostgreSQL would truncate a 64-character name to the existing 63-character table.
    Case("name_64_characters", BAD_CREW, crew_named("k" * 64, create="k" * 63), "not a valid table name"),
    Case("name_63_characters", WRITTEN, crew_named("w" * 63, create="w" * 63)),
    Case(
        "name_trailing_newline",
        BAD_CREW,
        crew_named("newline_histories\n", create="newline_histories"),
        "not a valid table name",
    ),
    Case("name_empty", BAD_CREW, crew_named(""), "not a valid table name"),
    Case("name_schema_qualified", BAD_CREW, crew_named("analytics.histories_sessions"), "not a valid table name"),
    Case("name_source_crews_table", BAD_CREW, crew_named("crews"), "lacks column(s) session_id, message"),
    Case("name_link_table", BAD_CREW, crew_named("people_front_conversations"), "lacks column(s) session_id, message"),
    Case(
        "name_analytics_table", BAD_CREW, crew_named("histories_sessions"), "public.histories_sessions does not exist"
    ),
    Case("name_table_of_another_schema", BAD_CREW, arrange_other_schema, "public.elsewhere_histories does not exist"),
    Case("name_view", WRITTEN, arrange_view),
    # Passes the catalog inspection; the read fails on the crew's own object (55000): skipped at query time.
    Case(
        "name_unpopulated_materialized_view", BAD_CREW, arrange_unpopulated_matview, "query failed: materialized view"
    ),
    # --- the crews and clients rows, in a source without its keys
    Case("crew_code_twice_with_two_tables", BAD_CREW, arrange_duplicate_code, "has 2 different rows in public.crews"),
    Case("crew_row_twice_identical", WRITTEN, arrange_exact_duplicate_crew),
    Case("crew_pointing_at_missing_client", WRITTEN, arrange_missing_client, verify=client_is_null),
    Case("crew_without_client", WRITTEN, arrange_no_client, verify=client_is_null),
    Case("crew_sharing_another_crews_table", WRITTEN, arrange_shared_table, totals=(4, 1, 1, 0)),
    # --- messages that are JSON but not a known message: counted as malformed, never a crash
    Case(
        "message_json_string",
        MALFORMED,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", '"just text"')]),
        totals=plus(1, malformed=1),
    ),
    Case(
        "message_json_array",
        MALFORMED,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", "[1, 2, 3]")]),
        totals=plus(1, malformed=1),
    ),
    Case(
        "message_json_number",
        MALFORMED,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", "42")]),
        totals=plus(1, malformed=1),
    ),
    Case(
        "message_json_null",
        MALFORMED,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", "null")]),
        totals=plus(1, malformed=1),
    ),
    Case(
        "message_without_type",
        MALFORMED,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", '{"data": {"content": "x"}}')]),
        totals=plus(1, malformed=1),
    ),
    Case(
        "message_unknown_type",
        MALFORMED,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", '{"type": "robot"}')]),
        totals=plus(1, malformed=1),
    ),
    Case(
        "message_type_not_a_string",
        MALFORMED,
        crew_with_rows(
            [
                (SESSION, "2024-03-01 11:00+00", '{"type": 1}'),
                (SESSION, "2024-03-01 11:01+00", '{"type": {"human": true}}'),
            ]
        ),
        totals=plus(2, malformed=2),
    ),
    Case(
        "message_type_capitalized",
        MALFORMED,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", '{"type": "Human", "content": "x"}')]),
        totals=plus(1, malformed=1),
    ),
    Case(
        "message_nested_1000_levels",
        MALFORMED,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", nested(1000, "1"))], message_type="json"),
        totals=plus(1, malformed=1),
    ),
    # --- messages that are written
    Case(
        "message_human_nested_1000_levels",
        WRITTEN,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", DEEP_HUMAN)]),
        totals=plus(1, human=1),
    ),
    Case(
        "message_5_mb",
        WRITTEN,
        crew_with_rows([("s-2", "2024-03-01 11:00+00", message("human", FIVE_MB))]),
        totals=plus(1, human=1),
        verify=first_human_message_is("x" * 200),
    ),
    Case(
        "langchain_every_shape",
        WRITTEN,
        crew_with_rows(
            [
                ("00000000-0000-0000-0000-000000000001", f"2024-03-01 12:0{n}+00", message(kind, f"{kind} text"))
                for n, kind in enumerate(("human", "ai", "system", "tool"))
            ],
            session_id_type="uuid",
            baseline=False,
        ),
        totals=(4, 1, 1, 0),
    ),
    Case(
        "n8n_every_shape",
        WRITTEN,
        crew_with_rows(
            [
                ("n8n-1", f"2024-03-01 12:0{n}+00", message(kind, f"{kind} text", "n8n"))
                for n, kind in enumerate(("human", "ai", "system", "tool"))
            ],
            session_id_type="varchar(255)",
            message_type="json",
            baseline=False,
        ),
        totals=(4, 1, 1, 0),
    ),
    Case(
        "langchain_content_blocks",
        WRITTEN,
        crew_with_rows(
            [
                (
                    "s-2",
                    "2024-03-01 11:00+00",
                    json.dumps(
                        {
                            "type": "human",
                            "data": {
                                "content": [
                                    {"type": "image_url", "image_url": {"url": "data:,"}},
                                    {"type": "text", "text": "look"},
                                ]
                            },
                        }
                    ),
                )
            ]
        ),
        totals=plus(1, human=1),
        verify=first_human_message_is("look"),
    ),
    Case(
        "message_empty_content",
        WRITTEN,
        crew_with_rows(
            [
                ("s-2", "2024-03-01 11:00+00", message("human", "", "n8n")),
                ("s-2", "2024-03-01 11:01+00", message("ai", "")),
            ]
        ),
        totals=plus(2, human=1, ai=1),
        verify=first_human_message_is(None),
    ),
    Case(
        "message_content_not_a_string",
        WRITTEN,
        crew_with_rows(
            [
                ("s-2", "2024-03-01 11:00+00", message("ai", {"x": 1}, "n8n")),
                ("s-2", "2024-03-01 11:01+00", message("human", 7)),
            ]
        ),
        totals=plus(2, human=1, ai=1),
        verify=first_human_message_is("7"),
    ),
    Case(
        "message_escaped_backslash_then_u0000",
        WRITTEN,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", message("human", "C:\\u0000"))], message_type="json"),
        totals=plus(1, human=1),
    ),
    # --- rows skipped and counted: no session, no day, or no readable JSON
    Case(
        "message_sql_null",
        SKIPPED,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", None)]),
        skipped={"null_message": 1},
    ),
    Case(
        "message_u0000_in_json_column",
        SKIPPED,
        crew_with_rows(
            [(SESSION, "2024-03-01 11:00+00", '{"type": "human", "content": "nul \\u0000 here"}')], message_type="json"
        ),
        skipped={"json_holds_nul": 1},
    ),
    Case(
        "message_u0000_in_text_column",
        SKIPPED,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", '{"type": "ai", "content": "\\u0000"}')], message_type="text"),
        skipped={"json_holds_nul": 1},
    ),
    Case(
        "message_not_json_in_text_column",
        SKIPPED,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", "not json {")], message_type="text"),
        skipped={"invalid_json": 1},
    ),
    Case(
        "message_truncated_json_in_text_column",
        SKIPPED,
        crew_with_rows([(SESSION, "2024-03-01 11:00+00", '{"type": "human", "content": "cut')], message_type="text"),
        skipped={"invalid_json": 1},
    ),
    Case(
        "null_session_id",
        SKIPPED,
        crew_with_rows([(None, "2024-03-01 11:00+00", message("human", "orphan"))]),
        skipped={"null_session_id": 1},
    ),
    Case(
        "null_session_id_among_30_rows",
        SKIPPED,
        arrange_thirty_rows_and_a_null_session,
        totals=(30, 15, 15, 0),
        skipped={"null_session_id": 1},
        verify=session_ids_are(*(f"thirty-{n}" for n in range(5))),
    ),
    Case(
        "null_created_at",
        SKIPPED,
        crew_with_rows([(SESSION, None, message("human", "when?")), (SESSION, None, message("ai", "never"))]),
        skipped={"null_created_at": 2},
    ),
    Case("null_everywhere", SKIPPED, crew_with_rows([(None, None, None)]), skipped={"null_session_id": 1}),
    Case(
        "session_id_5000_characters",
        SKIPPED,
        crew_with_rows([("x" * 5000, "2024-03-01 11:00+00", message("human", "long"))]),
        skipped={"session_id_too_long": 1},
    ),
    Case(
        "created_at_year_1",
        SKIPPED,
        crew_with_rows([(SESSION, "0001-06-01 00:00+00", message("human", "old"))]),
        skipped={"created_at_out_of_range": 1},
    ),
    Case(
        "created_at_year_9999",
        SKIPPED,
        crew_with_rows([(SESSION, "9999-06-01 00:00+00", message("ai", "late"))]),
        skipped={"created_at_out_of_range": 1},
    ),
    Case(
        "created_at_infinities",
        SKIPPED,
        crew_with_rows([(SESSION, "infinity", message("ai", "a")), (SESSION, "-infinity", message("ai", "b"))]),
        skipped={"created_at_out_of_range": 2},
    ),
    Case(
        "created_at_extremes_of_postgres",
        SKIPPED,
        crew_with_rows(
            [
                (SESSION, "4713-01-01 00:00+00 BC", message("ai", "a")),
                (SESSION, "294276-12-31 23:59:59+00", message("ai", "b")),
            ]
        ),
        skipped={"created_at_out_of_range": 2},
    ),
    Case(
        "created_at_just_before_the_time_line",
        SKIPPED,
        crew_with_rows([(SESSION, "1899-12-31 23:59:59.999999+00", message("ai", "a"))]),
        skipped={"created_at_out_of_range": 1},
    ),
    Case(
        "created_at_after_the_last_partition",
        SKIPPED,
        crew_with_rows([(SESSION, (NOW + timedelta(days=2)).isoformat(), message("ai", "from the future"))]),
        skipped={"created_at_out_of_range": 1},
    ),
    # --- rows written at the edges of the time line
    Case(
        "created_at_first_instant_of_the_time_line",
        WRITTEN,
        crew_with_rows([("s-2", "1900-01-01 00:00:00+00", message("human", "first"))]),
        totals=plus(1, human=1),
        verify=activity_dates_are(date(1900, 1, 1), date(2024, 3, 1)),
    ),
    Case(
        "created_at_last_microsecond_of_today",
        WRITTEN,
        crew_with_rows(
            [
                (
                    "s-2",
                    (
                        datetime.combine(TODAY + timedelta(days=1), datetime.min.time(), UTC)
                        - timedelta(microseconds=1)
                    ).isoformat(),
                    message("human", "late"),
                )
            ]
        ),
        totals=plus(1, human=1),
        verify=activity_dates_are(date(2024, 3, 1), TODAY),
    ),
    Case(
        "created_at_in_another_time_zone",
        WRITTEN,
        crew_with_rows([("s-2", "2024-03-01 23:30:00-05", message("human", "evening in New York"))]),
        totals=plus(1, human=1),
        verify=activity_dates_are(date(2024, 3, 1), date(2024, 3, 2)),
    ),
    Case("duplicate_rows_without_a_key", WRITTEN, arrange_duplicate_row, totals=plus(2, human=2)),
    Case(
        "session_id_with_quotes_unicode_and_spaces",
        WRITTEN,
        crew_with_rows([('it\'s "quoted"; — ünïcode ', "2024-03-01 11:00+00", message("human", "hi"))], baseline=False),
        totals=(1, 1, 0, 0),
        verify=session_ids_are('it\'s "quoted"; — ünïcode '),
    ),
    # --- today's rows, which the tick after the full run reads again (within its late-commit overlap)
    Case(
        "today_rows_read_by_a_tick",
        SKIPPED,
        crew_with_rows(
            [
                ("today", TODAY_BASE.isoformat(), message("human", "now")),
                ("today", (TODAY_BASE + timedelta(seconds=1)).isoformat(), "not json"),
                (None, (TODAY_BASE + timedelta(seconds=2)).isoformat(), message("ai", "no session")),
            ],
            message_type="text",
        ),
        totals=plus(1, human=1),
        skipped={"invalid_json": 1, "null_session_id": 1},
    ),
]
BAD_CREWS = {case.code for case in CASES if case.outcome == BAD_CREW}


# ------------------------------------------------------------------------------------------------
# One database, one full run with the checks, one tick


@dataclass
class Discovery:
    db: psycopg.Connection
    tables: dict[str, list[str]]  # case code -> source relations it created
    before: dict[str, str]
    after_full: dict[str, str]
    after_tick: dict[str, str]
    full: RunOutcome
    tick: RunOutcome


@pytest.fixture(scope="module")
def discovery(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Discovery]:
    with (
        fresh_database(server_url, "convo_hostile", template=template_database) as url,
        connect(url, autocommit=True) as db,
    ):
        create_client(db, CLIENT)
        tables = {case.code: case.arrange(db, case.code) for case in CASES}
        before = source_fingerprint(db)
        runs = run_full_discovery_then_tick(url, TODAY, tmp_path_factory.mktemp("hostile"))
        yield Discovery(db, tables, before, runs.after_full, runs.after_tick, runs.full, runs.tick)


def metadata_of(result: RunOutcome, asset: str) -> dict[str, object]:
    return result.materializations[asset]


def crew_rows(result: RunOutcome, asset: str) -> dict[str, dict]:
    return {row["crew"]: row for row in metadata_of(result, asset)["crews"]}


def evaluation(result: RunOutcome, asset: str, check: str) -> CheckOutcome:
    return result.checks[f"{asset}.{check}"]


def test_the_cases_cover_every_kind_of_input_and_outcome() -> None:
    assert len(CASES) >= 30 and len({case.code for case in CASES}) == len(CASES)
    assert {case.outcome for case in CASES} == {BAD_CREW, SKIPPED, MALFORMED, WRITTEN}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input(discovery: Discovery, case: Case) -> None:
    assert discovery.full.success and discovery.tick.success
    db = discovery.db
    for asset in ("histories_sessions", "conversation_summaries"):
        row = crew_rows(discovery.full, asset)[case.code]
        if case.outcome == BAD_CREW:
            assert not row["ok"] and case.reason in row["reason"], row
            assert case.reason in metadata_of(discovery.full, asset)["skipped_crews"][case.code]
        else:
            assert row["ok"], row
    if case.outcome == BAD_CREW:
        # Named by the failing check, and nothing of the crew is written.
        assert (
            case.reason
            in evaluation(discovery.full, "histories_sessions", "histories_tables_valid").metadata["bad_crews"][
                case.code
            ]
        )
        assert (
            db.execute(
                "select count(*) from analytics.histories_sessions where crew_code = %s", (case.code,)
            ).fetchone()[0]
            == 0
        )
    else:
        days = db.execute(
            "select coalesce(sum(message_count), 0), coalesce(sum(human_message_count), 0), coalesce(sum(ai_message_count), 0), "
            "coalesce(sum(malformed_message_count), 0) from analytics.histories_sessions where crew_code = %s",
            (case.code,),
        ).fetchone()
        assert tuple(days) == case.totals
        summaries = db.execute(
            "select coalesce(sum(message_count), 0), coalesce(sum(human_message_count), 0), coalesce(sum(ai_message_count), 0) "
            "from analytics.conversation_summaries where crew_code = %s",
            (case.code,),
        ).fetchone()
        assert tuple(summaries) == case.totals[:3]
        assert crew_rows(discovery.full, "histories_sessions")[case.code]["skipped_rows"] == case.skipped
        assert metadata_of(discovery.full, "histories_sessions")["skipped_rows"].get(case.code, {}) == case.skipped
    if case.verify is not None:
        case.verify(db, case.code)
    # The source is exactly as before: the case's own relations, the crews and clients, and the catalog.
    for relation in [
        *(f"public.{table}" for table in discovery.tables[case.code]),
        "public.crews",
        "public.clients",
        "public.people",
        "catalog",
    ]:
        assert discovery.after_full[relation] == discovery.before[relation], relation
        assert discovery.after_tick[relation] == discovery.before[relation], relation


def test_no_source_relation_changed(discovery: Discovery) -> None:
    assert discovery.after_full == discovery.before
    assert discovery.after_tick == discovery.before


def test_checks_name_every_skipped_crew_and_summaries_agree_with_their_days(discovery: Discovery) -> None:
    valid = evaluation(discovery.full, "histories_sessions", "histories_tables_valid")
    assert not valid.passed and set(valid.metadata["bad_crews"]) == BAD_CREWS
    # Found only at query time, not in the catalog: known to the check through the run's metadata.
    assert "name_unpopulated_materialized_view" in valid.metadata["skipped_by_latest_discovery"]
    assert valid.metadata["skipped_rows_by_latest_discovery"]["null_created_at"] == {"null_created_at": 2}
    fresh = evaluation(discovery.full, "histories_sessions", "discovery_fresh")
    assert not fresh.passed and set(fresh.metadata["crews_not_discovered"]) == BAD_CREWS
    for result in (discovery.full, discovery.tick):
        assert evaluation(result, "conversation_summaries", "counts_match_histories_sessions").passed
        assert evaluation(result, "histories_sessions", "no_duplicate_grains").passed
        assert evaluation(result, "conversation_summaries", "no_duplicate_grains").passed


def test_a_tick_counts_the_new_rows_it_skips_and_rewrites_nothing(discovery: Discovery) -> None:
    sessions = crew_rows(discovery.tick, "histories_sessions")
    today = sessions["today_rows_read_by_a_tick"]
    assert today["mode"] == "incremental"
    assert today["skipped_rows"] == {"invalid_json": 1, "null_session_id": 1}
    assert (today["rows_inserted"], today["rows_updated"], today["rows_deleted"]) == (0, 0, 0)
    # A crew with no row today is recomputed fully over today, which counts its rows dated in no day again.
    assert sessions["null_created_at"]["mode"] == "full" and sessions["null_created_at"]["skipped_rows"] == {
        "null_created_at": 2
    }
    for asset in ("histories_sessions", "conversation_summaries"):
        meta = metadata_of(discovery.tick, asset)
        assert (meta["rows_inserted_in_window"], meta["rows_updated_in_window"], meta["rows_deleted_in_window"]) == (
            0,
            0,
            0,
        )
        assert set(meta["skipped_crews"]) == BAD_CREWS
