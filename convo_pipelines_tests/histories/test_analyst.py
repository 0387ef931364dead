"""An analyst as the docs' "Read access" (docs/analysts.md) makes one: a LOGIN role granted analytics_reader.

It runs every example query of the docs' "For analysts" page, read from the page itself,
over chat histories with known content (histories_data's crews, materialized by the histories
assets), and gets the results computed independently in Python from the raw messages. It is refused
the application's own tables (source, histories and link tables) and any write to the analytics schema.
"""

from __future__ import annotations

import re
import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from convo_pipelines.defs.histories.assets import histories_assets
from convo_pipelines.defs.partitions import partition_range_tags
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines_tests.histories_data import (
    UNDATABLE_TABLE,
    Scenario,
    actual_sessions,
    actual_summaries,
    build_scenario,
    insert_messages,
    langchain,
    oracle_sessions,
    oracle_summaries,
)
from convo_pipelines_tests.source_data import SOURCE_TABLES

ANALYSTS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "analysts.md"
READER_ROLE = "analytics_reader"
LINK_TABLES = ("people_front_conversations", "clients_front_conversations", "project_conversations")
ANALYTICS_TABLES = ("histories_sessions", "conversation_summaries", "daily_conversation_stats")
TODAY = datetime.now(UTC).date()
# Sessions start over 40 days ending 20 days ago; the longest generated session lasts about 16 days,
# so every message is in the past and the days straddle the queries' "last 30 days" cut-off.
HISTORY_START, HISTORY_DAYS = TODAY - timedelta(days=60), 40


# ---------------------------------------------------------------------------------------------
# The analysts page's queries


def page_analyst_queries() -> dict[str, str]:
    """{title: SQL} of the docs' "For analysts" page: each ```sql block with the line that introduces it."""
    text = ANALYSTS_PAGE.read_text()
    section = text.split("\n## Read access", 1)[0]
    blocks = re.findall(r"\n([^\n]+):\n\n```sql\n(.*?)```", section, flags=re.S)
    return {title.strip(): query.strip() for title, query in blocks}


# ---------------------------------------------------------------------------------------------
# Expected results, from the oracle rows (histories_data: recomputed in Python from the raw messages).
# sessions: (crew, session, day, client, messages, human, ai, malformed, first_at, last_at)
# summaries: (crew, session, client, messages, human, ai, started, ended, duration, active_days, first_human)


def sessions_per_client_per_week(sessions: set[tuple], summaries: set[tuple], today: date) -> list[tuple]:
    weeks: dict[tuple[date, str], set] = defaultdict(set)
    for crew, session, day, client, *_ in sessions:
        weeks[(day - timedelta(days=day.weekday()), client)].add((crew, session))
    return sorted((week, client, len(members)) for (week, client), members in weeks.items())


def median_duration_by_crew(sessions: set[tuple], summaries: set[tuple], today: date) -> list[tuple]:
    durations: dict[str, list] = defaultdict(list)
    for crew, *_, duration, _days, _first in summaries:
        durations[crew].append(duration)
    rows = [(crew, pytest.approx(float(statistics.median(values))), len(values)) for crew, values in durations.items()]
    return sorted(rows, key=lambda row: row[1].expected, reverse=True)


def busiest_hours(sessions: set[tuple], summaries: set[tuple], today: date) -> Counter:
    return Counter(started.astimezone(UTC).hour for *_, started, _ended, _duration, _days, _first in summaries)


def unanswered_sessions(sessions: set[tuple], summaries: set[tuple], today: date) -> list[tuple]:
    rows = [
        (crew, session, started, first)
        for crew, session, _client, _messages, human, ai, started, _ended, _duration, _days, first in summaries
        if human > 0 and ai == 0
    ]
    return sorted(rows, key=lambda row: row[2], reverse=True)[:50]


def messages_per_client_per_day(sessions: set[tuple], summaries: set[tuple], today: date) -> list[tuple]:
    days: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    for _crew, _session, day, client, messages, *_ in sessions:
        if day >= today - timedelta(days=30):
            days[(day, client)][0] += 1
            days[(day, client)][1] += messages
    return sorted((day, client, count, messages) for (day, client), (count, messages) in days.items())


def malformed_over_the_last_7_days(sessions: set[tuple], summaries: set[tuple], today: date) -> set[tuple]:
    crews: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for crew, _session, day, _client, messages, _human, _ai, malformed, *_ in sessions:
        if day >= today - timedelta(days=7):
            crews[crew][0] += malformed
            crews[crew][1] += messages
    return {(crew, malformed, messages) for crew, (malformed, messages) in crews.items() if malformed > 0}


Expectation = Callable[[set[tuple], set[tuple], date], object]
EXPECTED: dict[str, Expectation] = {
    "Sessions per client per week": sessions_per_client_per_week,
    "Median session duration by crew": median_duration_by_crew,
    "Busiest hours (UTC) by sessions started": busiest_hours,
    "Sessions where a person wrote but no AI ever replied (latest first)": unanswered_sessions,
    "Messages per client per day over the last 30 days (chart)": messages_per_client_per_day,
    "Crews writing malformed messages over the last 7 days (data quality)": malformed_over_the_last_7_days,
}


def as_plain(rows: list[tuple]) -> list[tuple]:
    """Whole numerics (sum() of integers, extract()) as ints, for comparison with Python's counts."""
    return [
        tuple(
            int(value) if isinstance(value, Decimal) and value == value.to_integral_value() else value for value in row
        )
        for row in rows
    ]


def answered(title: str, rows: list[tuple]) -> object:
    """The analyst's rows in the shape EXPECTED gives for this query (order kept where the query sorts)."""
    rows = as_plain(rows)
    if title == "Busiest hours (UTC) by sessions started":
        counts = [count for _hour, count in rows]
        assert counts == sorted(counts, reverse=True), "ordered by sessions_started desc"
        return Counter(dict(rows))
    if title == "Crews writing malformed messages over the last 7 days (data quality)":
        return set(rows)  # no order by
    return rows


# ---------------------------------------------------------------------------------------------
# Arrangement


@pytest.fixture
def analyst(database_url: str, server_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection as a new LOGIN role granted only analytics_reader; the role is dropped after."""
    role, password = f"analyst_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(role), sql.Literal(password)))
        try:
            admin.execute(sql.SQL("grant {} to {}").format(sql.Identifier(READER_ROLE), sql.Identifier(role)))
            with psycopg.connect(
                make_conninfo(psycopg_url(database_url), user=role, password=password), autocommit=True
            ) as conn:
                assert conn.execute("select current_user").fetchone()[0] == role
                yield conn
        finally:
            admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


@pytest.fixture
def crews(db: psycopg.Connection) -> Scenario:
    """histories_data's crews (three good, three bad) over 40 days, plus this week's session with a malformed message."""
    scenario = build_scenario(db, HISTORY_START, days=HISTORY_DAYS, sessions=40)
    now = db.execute("select now()").fetchone()[0]
    this_week = str(uuid.UUID(int=7))
    insert_messages(
        db,
        scenario.good["acme_support"],
        [
            (this_week, now - timedelta(days=2), langchain("human", "my invoice is wrong")),
            (this_week, now - timedelta(days=2, seconds=-30), '"just a string"'),
            (this_week, now - timedelta(days=2, seconds=-60), langchain("ai", "let me check")),
        ],
    )
    return scenario


@pytest.fixture
def scenario(crews: Scenario, db: psycopg.Connection, postgres: PostgresResource) -> Scenario:
    """The crews' histories materialized by the histories assets, as a backfill of their days does."""
    result = dg.materialize(
        histories_assets,
        resources={"postgres": postgres},
        tags=partition_range_tags(HISTORY_START.isoformat(), TODAY.isoformat()),
    )
    assert result.success
    assert actual_sessions(db) == oracle_sessions(db, crews)
    assert actual_summaries(db) == oracle_summaries(db, crews)
    return crews


# ---------------------------------------------------------------------------------------------
# Tests


def test_the_analysts_page_lists_the_queries_this_test_checks() -> None:
    assert list(page_analyst_queries()) == list(EXPECTED)


def test_an_analyst_gets_the_known_results_of_the_analysts_pages_queries(
    analyst: psycopg.Connection, db: psycopg.Connection, scenario: Scenario
) -> None:
    sessions, summaries = oracle_sessions(db, scenario), oracle_summaries(db, scenario)
    # One transaction: every query's current_date is the one the expected rows are computed for, even at midnight.
    with analyst.transaction():
        today = analyst.execute("select current_date").fetchone()[0]
        for title, query in page_analyst_queries().items():
            expected = EXPECTED[title](sessions, summaries, today)
            assert expected, f"the data gives {title!r} no rows: the comparison would prove little"
            rows = analyst.execute(query).fetchall()
            assert answered(title, rows) == expected, title


def test_an_analyst_is_refused_the_application_tables_and_any_write(
    analyst: psycopg.Connection, crews: Scenario
) -> None:
    histories_tables = (*crews.good.values(), UNDATABLE_TABLE.name)
    for table in (*SOURCE_TABLES, *histories_tables, *LINK_TABLES):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute(sql.SQL("select * from {} limit 1").format(sql.Identifier("public", table)))
    for table in ANALYTICS_TABLES:  # readable ...
        analyst.execute(sql.SQL("select * from {} limit 1").format(sql.Identifier("analytics", table)))
    for statement in (  # ... but never written
        "delete from analytics.histories_sessions",
        "update analytics.conversation_summaries set message_count = 0",
        "truncate analytics.conversation_summaries",
        "create table analytics.analyst_scratch (id int)",
        "create table public.analyst_scratch (id int)",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute(statement)
