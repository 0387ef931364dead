"""The hostile inputs to the histories pipeline, one row of CASES each: crews' table names, the crews and clients
rows, and the rows of the histories tables (messages, NULLs, timestamps, duplicates), each with the outcome
documented for it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg

from convo_pipelines_tests.histories_data import HOSTILE_TABLE_NAME
from convo_pipelines_tests.hostile_crews import (
    BASELINE_TOTALS,
    SESSION,
    arrange_duplicate_code,
    arrange_duplicate_row,
    arrange_exact_duplicate_crew,
    arrange_missing_client,
    arrange_no_client,
    arrange_other_schema,
    arrange_shared_table,
    arrange_thirty_rows_and_a_null_session,
    arrange_unpopulated_matview,
    arrange_view,
    crew_named,
    crew_with_rows,
    message,
)

BAD_CREW = "bad crew"
SKIPPED = "row skipped"
MALFORMED = "counted as malformed"
WRITTEN = "written"

NOW = datetime.now(UTC)
TODAY = NOW.date()
# Rows of today for the tick, within its 2-minute late-commit overlap, never after now (nor before today).
TODAY_BASE = max(NOW - timedelta(seconds=40), datetime.combine(TODAY, datetime.min.time(), UTC))


def nested(levels: int, inner: str) -> str:
    """JSON text of `inner` inside `levels` objects (built as text: json.dumps stops at Python's recursion limit)."""
    return '{"a": ' * levels + inner + "}" * levels


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
