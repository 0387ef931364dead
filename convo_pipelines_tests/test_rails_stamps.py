"""Source stamps stored as `timestamp without time zone` (Rails, Prisma, Django with USE_TZ) are read as UTC, or as
SOURCE_TIME_ZONE's wall time, whatever the server's, the database's or a client's TimeZone.

Each scenario gives every source stamp column (and the crew's chat-history table's created_at) the type it tests
before the rows go in, written by an "app" connection in the zone the stamps hold. Conversations and chat messages
lie within an hour of midnight UTC at both ends of the partition range and just outside it. Then, through real
Dagster runs on one instance: the first backfill of the range, a late change the late-change sensor finds (a new
recipient on a conversation 30 minutes before the range's end), and the discovery of the range's chat sessions.
After each, the tables equal what this file computes from the source rows itself, read on a connection of yet
another TimeZone, each stamp taken as the moment its convention says: never through the project's SQL, never from
what the project stored. The timestamptz scenario on a UTC database is the reference the others must equal.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from convo_pipelines.defs.histories.crews import inspect_crews, load_crews
from convo_pipelines.defs.links.sensors import link_tables_late_changes_sensor
from convo_pipelines.defs.partitions import partition_range_tags
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines.lib.settings import Settings
from convo_pipelines_tests.helpers import definitions_bound_to, fresh_database
from convo_pipelines_tests.histories_data import create_client, create_crew, langchain
from convo_pipelines_tests.source_data import (
    SOURCE_TABLES,
    SourceData,
    build_source_data,
    date_source_rows_at_baseline,
    expected_client_links,
    expected_people_links,
)

SCHEMA = "public"
UTC = UTC
RANGE = ("2024-01-09", "2024-01-12")
WINDOW_START, WINDOW_END = datetime(2024, 1, 9, tzinfo=UTC), datetime(2024, 1, 13, tzinfo=UTC)
# Rails' columns: timestamp(6) without time zone.
RAILS_TYPE = "timestamp(6) without time zone"
# The zone the test's own reading connection sets: neither the stamps' nor the server's.
READER_ZONE = "Asia/Kolkata"
NEW_YORK = "America/New_York"
PEOPLE, CLIENTS = "people_front_conversations", "clients_front_conversations"
OWNER_COLUMNS = {PEOPLE: "person_id", CLIENTS: "client_id"}
CREW, CHAT_TABLE, CHAT_CLIENT = "rails_crew", "rails_chat_histories", "acme"


def ids(name: str) -> UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"convo-pipelines-test:{name}")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Front conversations within an hour of midnight UTC at both ends of the range, and just outside it: in New York's
# zone (UTC-5 in January) each would land on the other side of its midnight.
NEAR_MIDNIGHT = {
    "before_the_range": utc(2024, 1, 8, 23, 30),
    "first_in_the_range": utc(2024, 1, 9, 0, 30),
    "last_in_the_range": utc(2024, 1, 12, 23, 30),
    "after_the_range": utc(2024, 1, 13, 0, 30),
}
# The people they reach (indexes into SourceData.people: neither the deleted person nor one of the deleted client).
NEAR_MIDNIGHT_PEOPLE = (1, 2, 5, 6)
# The late change: this person becomes a recipient of the range's last conversation.
LATE_RECIPIENT_PERSON = 9
# Chat sessions near midnight: (session, [(moment, type)]). None crosses an end of the range: a session's summary
# counts all its days, which a run of the range writes only inside it (the check counts_match_histories_sessions
# would rightly tell the difference).
CHAT_SESSIONS = {
    "just_before_the_range": [(utc(2024, 1, 8, 23, 30), "human"), (utc(2024, 1, 8, 23, 55), "ai")],
    "first_minutes_of_the_range": [(utc(2024, 1, 9, 0, 10), "human"), (utc(2024, 1, 9, 0, 20), "ai")],
    "crosses_midnight_inside": [
        (utc(2024, 1, 10, 23, 40), "human"),
        (utc(2024, 1, 10, 23, 50), "ai"),
        (utc(2024, 1, 11, 0, 20), "human"),
        (utc(2024, 1, 11, 0, 25), "ai"),
    ],
    "last_minutes_of_the_range": [(utc(2024, 1, 12, 23, 40), "human"), (utc(2024, 1, 12, 23, 55), "ai")],
    "just_after_the_range": [(utc(2024, 1, 13, 0, 5), "human"), (utc(2024, 1, 13, 0, 30), "ai")],
}


@dataclass(frozen=True)
class Stamps:
    """How the application stores its stamps: the columns' type, and the zone a `timestamp` value's wall time is in."""

    column_type: str
    zone: str = "UTC"

    def moment(self, value: datetime) -> datetime:
        """A stamp read from the source as the moment it means: timestamptz as it is, timestamp as wall time in
        the zone."""
        return value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo(self.zone))


@dataclass(frozen=True)
class Outcome:
    """What the runs left: each Front link table's (owner, conversation, conversation's created_at) rows, the
    histories_sessions rows and the conversation_summaries rows (write stamps left out)."""

    links: dict[str, set[tuple]]
    sessions: set[tuple]
    summaries: set[tuple]


# ---------------------------------------------------------------------------------------------
# The test's own connections


def connection_in(url: str, zone: str) -> psycopg.Connection:
    """An autocommit connection of the test's own whose session TimeZone is `zone` (set after connecting, so neither
    the database's setting nor PGTZ decides it)."""
    conn = psycopg.connect(psycopg_url(url), autocommit=True)
    conn.execute(sql.SQL("set time zone {}").format(sql.Literal(zone)))
    return conn


def give_stamps_the_type(admin: psycopg.Connection, stamps: Stamps) -> None:
    """Every stamp column of the source tables (created_at, updated_at, closed_at) as `stamps.column_type`, its
    values kept as the moments they were: a `timestamp` holds their wall time in `stamps.zone`."""
    if stamps.column_type == "timestamptz":
        return
    columns = admin.execute(
        "select table_name::text, column_name::text from information_schema.columns "
        "where table_schema = %s and table_name = any(%s) and data_type = 'timestamp with time zone' "
        "order by 1, 2",
        (SCHEMA, list(SOURCE_TABLES)),
    ).fetchall()
    assert {column for _, column in columns} == {"created_at", "updated_at", "closed_at"}
    for table, column in columns:
        admin.execute(
            sql.SQL("alter table {} alter column {} type {} using {} at time zone {}").format(
                sql.Identifier(SCHEMA, table),
                sql.Identifier(column),
                sql.SQL(stamps.column_type),
                sql.Identifier(column),
                sql.Literal(stamps.zone),
            )
        )


# ---------------------------------------------------------------------------------------------
# The application's rows, written as the app writes them


def seed(app: psycopg.Connection, stamps: Stamps) -> SourceData:
    """The source_data.py dataset, the conversations near midnight, and the crew's chat sessions; then every link
    source row dated long ago, so that the late-change sensor sees only the test's change."""
    data = build_source_data(app, SCHEMA)
    for (name, moment), person_index in zip(NEAR_MIDNIGHT.items(), NEAR_MIDNIGHT_PEOPLE, strict=True):
        add_conversation(app, data, name, moment, data.people[person_index])
    create_client(app, CHAT_CLIENT)
    app.execute(
        sql.SQL(
            "create table {} (id serial primary key, session_id uuid not null, message jsonb not null, "
            "created_at {} not null)"
        ).format(sql.Identifier(SCHEMA, CHAT_TABLE), sql.SQL(stamps.column_type))
    )
    for column in ("session_id", "created_at"):
        app.execute(
            sql.SQL("create index on {} ({})").format(sql.Identifier(SCHEMA, CHAT_TABLE), sql.Identifier(column))
        )
    create_crew(app, CREW, CHAT_CLIENT, CHAT_TABLE)
    with app.cursor() as cursor:
        cursor.executemany(
            sql.SQL("insert into {} (session_id, message, created_at) values (%s, %s::jsonb, %s)").format(
                sql.Identifier(SCHEMA, CHAT_TABLE)
            ),
            [
                (ids(session), Jsonb(langchain(kind, f"{kind} at {moment:%H:%M}")), moment)
                for session, messages in CHAT_SESSIONS.items()
                for moment, kind in messages
            ],
        )
    date_source_rows_at_baseline(app, SCHEMA)
    return data


def add_conversation(app: psycopg.Connection, data: SourceData, name: str, moment: datetime, person: UUID) -> None:
    """A Front conversation created at `moment` whose one message reaches `person`."""
    contact_method = contact_method_of(data, person)
    app.execute(
        "insert into public.front_conversations (id, subject, created_at) values (%s, %s, %s)",
        (ids(name), name, moment),
    )
    app.execute(
        "insert into public.front_messages (id, front_conversation_id, created_at) values (%s, %s, %s)",
        (ids(f"{name}:message"), ids(name), moment),
    )
    app.execute(
        "insert into public.front_message_recipients (id, front_message_id, contact_method_id, role) "
        "values (%s, %s, %s, 'to')",
        (ids(f"{name}:recipient"), ids(f"{name}:message"), contact_method),
    )


def contact_method_of(data: SourceData, person: UUID) -> UUID:
    return next(contact_method for contact_method, owner in data.contact_methods.items() if owner == person)


def add_a_late_recipient(app: psycopg.Connection, data: SourceData) -> tuple[UUID, UUID]:
    """The late change: a person becomes a recipient of the range's last conversation, stamped now by the app (the
    columns' default, in the app's zone). Returns the (person, conversation) pair it makes."""
    person, conversation = data.people[LATE_RECIPIENT_PERSON], ids("last_in_the_range")
    app.execute(
        "insert into public.front_message_recipients (front_message_id, contact_method_id, role) values (%s, %s, 'cc')",
        (ids("last_in_the_range:message"), contact_method_of(data, person)),
    )
    return person, conversation


# ---------------------------------------------------------------------------------------------
# What the tables should hold, computed here from the source rows


def conversation_moments(reader: psycopg.Connection, stamps: Stamps) -> dict[UUID, datetime]:
    rows = reader.execute("select id, created_at from public.front_conversations").fetchall()
    return {conversation: stamps.moment(created_at) for conversation, created_at in rows}


def expected_links(reader: psycopg.Connection, stamps: Stamps) -> dict[str, set[tuple]]:
    """Each Front link table's rows for the conversations created in the range: source_data.py's pairs (joined in
    Python, no stamp involved) of the conversations this test dates itself, each with its conversation's moment."""
    created = conversation_moments(reader, stamps)
    in_range = {conversation for conversation, moment in created.items() if WINDOW_START <= moment < WINDOW_END}
    pairs = {PEOPLE: expected_people_links(reader, SCHEMA), CLIENTS: expected_client_links(reader, SCHEMA)}
    return {
        table: {
            (owner, conversation, created[conversation]) for owner, conversation in found if conversation in in_range
        }
        for table, found in pairs.items()
    }


def link_differences(stored: dict[str, set[tuple]], expected: dict[str, set[tuple]]) -> dict[str, dict[str, int]]:
    """Per table, how many (owner, conversation) pairs are missing or extra, and how many rows hold another moment
    as their conversation's created_at: what a failure shows."""
    differences = {}
    for table in expected:
        stored_pairs = {(owner, conversation): moment for owner, conversation, moment in stored[table]}
        expected_pairs = {(owner, conversation): moment for owner, conversation, moment in expected[table]}
        differences[table] = {
            "missing": len(expected_pairs.keys() - stored_pairs.keys()),
            "extra": len(stored_pairs.keys() - expected_pairs.keys()),
            "other_created_at": sum(
                stored_pairs[pair] != moment for pair, moment in expected_pairs.items() if pair in stored_pairs
            ),
        }
    return differences


def assert_links_are(reader: psycopg.Connection, expected: dict[str, set[tuple]]) -> None:
    stored = stored_links(reader)
    assert stored == expected, link_differences(stored, expected)


def stored_links(reader: psycopg.Connection) -> dict[str, set[tuple]]:
    stored = {}
    for table, owner in OWNER_COLUMNS.items():
        rows = reader.execute(
            sql.SQL("select {}, front_conversation_id, front_conversation_created_at from {}").format(
                sql.Identifier(owner), sql.Identifier(SCHEMA, table)
            )
        ).fetchall()
        assert len(rows) == len(set(rows)), f"{table} holds a row twice"
        stored[table] = set(rows)
    return stored


@dataclass(frozen=True)
class ChatMessage:
    session_id: str
    moment: datetime
    kind: str


def chat_messages(reader: psycopg.Connection, stamps: Stamps) -> list[ChatMessage]:
    rows = reader.execute(
        sql.SQL("select session_id::text, created_at, message ->> 'type' from {}").format(
            sql.Identifier(SCHEMA, CHAT_TABLE)
        )
    ).fetchall()
    return [ChatMessage(session_id, stamps.moment(created_at), kind) for session_id, created_at, kind in rows]


def expected_sessions(reader: psycopg.Connection, stamps: Stamps) -> set[tuple]:
    """histories_sessions: one row per session and UTC day of the range's days."""
    days: dict[tuple[str, date], list[ChatMessage]] = defaultdict(list)
    for message in chat_messages(reader, stamps):
        day = message.moment.astimezone(UTC).date()
        if WINDOW_START.date() <= day < WINDOW_END.date():
            days[(message.session_id, day)].append(message)
    return {
        (
            CREW,
            session_id,
            day,
            len(messages),
            sum(message.kind == "human" for message in messages),
            sum(message.kind == "ai" for message in messages),
            min(message.moment for message in messages),
            max(message.moment for message in messages),
        )
        for (session_id, day), messages in days.items()
    }


def expected_summaries(reader: psycopg.Connection, stamps: Stamps) -> set[tuple]:
    """conversation_summaries: every session with a message in the range, over all its messages."""
    sessions: dict[str, list[ChatMessage]] = defaultdict(list)
    for message in chat_messages(reader, stamps):
        sessions[message.session_id].append(message)
    summaries = set()
    for session_id, messages in sessions.items():
        moments = [message.moment for message in messages]
        if not any(WINDOW_START <= moment < WINDOW_END for moment in moments):
            continue
        started, ended = min(moments), max(moments)
        summaries.add(
            (
                CREW,
                session_id,
                len(messages),
                started,
                ended,
                Decimal(str((ended - started).total_seconds())).normalize(),
                len({moment.astimezone(UTC).date() for moment in moments}),
            )
        )
    return summaries


def stored_sessions(reader: psycopg.Connection) -> set[tuple]:
    return set(
        reader.execute(
            "select crew_code, session_id, activity_date, message_count, human_message_count, ai_message_count, "
            "first_message_at, last_message_at from analytics.histories_sessions"
        ).fetchall()
    )


def stored_summaries(reader: psycopg.Connection) -> set[tuple]:
    rows = reader.execute(
        "select crew_code, session_id, message_count, started_at, ended_at, duration_seconds, active_days "
        "from analytics.conversation_summaries"
    ).fetchall()
    return {(*row[:5], row[5].normalize(), row[6]) for row in rows}


# ---------------------------------------------------------------------------------------------
# The runs


@dataclass(frozen=True)
class Runs:
    """Real Dagster runs and sensor ticks in this process, on one instance (the sensor reads which partitions its
    runs materialized), with the project's definitions bound to `postgres`."""

    definitions: dg.Definitions
    instance: dg.DagsterInstance
    postgres: PostgresResource

    @classmethod
    def on(cls, postgres: PostgresResource) -> Runs:
        return cls(definitions_bound_to(postgres), dg.DagsterInstance.ephemeral(), postgres)

    def job(self, job: str, **kwargs) -> None:
        """One run of `job`, which succeeds and whose checks of ERROR severity pass."""
        result = self.definitions.resolve_job_def(job).execute_in_process(instance=self.instance, **kwargs)
        assert result.success
        failed = [
            (evaluation.asset_key, evaluation.check_name, evaluation.metadata)
            for evaluation in result.get_asset_check_evaluations()
            if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
        ]
        assert not failed, failed

    def requested(self, request: dg.RunRequest) -> None:
        """The run a sensor's request asks for, as the daemon would launch it."""
        scope = {"partition_key": request.partition_key} if request.partition_key else {"tags": request.tags}
        self.job(request.job_name, run_config=request.run_config, **scope)

    def late_change_tick(self, cursor: str | None) -> dg.SensorResult:
        with dg.build_sensor_context(
            instance=self.instance, cursor=cursor, resources={"postgres": self.postgres}, definitions=self.definitions
        ) as context:
            return link_tables_late_changes_sensor.evaluate_tick(context)


def backfill_the_range(runs: Runs, reader: psycopg.Connection, stamps: Stamps) -> None:
    """The first backfill of the range, one run: the links of exactly the conversations created in it."""
    runs.job("front_links_job", tags=partition_range_tags(*RANGE))
    expected = expected_links(reader, stamps)
    in_range = {conversation for _, conversation, _ in expected[PEOPLE]}
    assert {ids("first_in_the_range"), ids("last_in_the_range")} <= in_range
    assert not {ids("before_the_range"), ids("after_the_range")} & in_range
    assert_links_are(reader, expected)


def follow_a_late_change(
    runs: Runs, app: psycopg.Connection, reader: psycopg.Connection, stamps: Stamps, data: SourceData
) -> None:
    """A new recipient on the range's last conversation (30 minutes before midnight UTC): the sensor's next tick
    asks for that conversation's UTC day alone, and its run links the new recipient."""
    first = runs.late_change_tick(None)
    assert not first.run_requests
    late_pair = add_a_late_recipient(app, data)
    tick = runs.late_change_tick(first.cursor)
    assert [(request.job_name, request.partition_key) for request in tick.run_requests or []] == [
        ("front_links_job", RANGE[1])
    ]
    runs.requested(tick.run_requests[0])
    expected = expected_links(reader, stamps)
    assert late_pair in {(person, conversation) for person, conversation, _ in expected[PEOPLE]}
    assert_links_are(reader, expected)


def discover_the_chat_sessions(runs: Runs, reader: psycopg.Connection, stamps: Stamps) -> None:
    """The discovery of the range: each message on its UTC day, the days outside the range left out."""
    runs.job("conversation_discovery_job", tags=partition_range_tags(*RANGE))
    sessions = expected_sessions(reader, stamps)
    assert {(row[1], row[2]) for row in sessions} == {
        (str(ids("first_minutes_of_the_range")), date(2024, 1, 9)),
        (str(ids("crosses_midnight_inside")), date(2024, 1, 10)),
        (str(ids("crosses_midnight_inside")), date(2024, 1, 11)),
        (str(ids("last_minutes_of_the_range")), date(2024, 1, 12)),
    }
    assert stored_sessions(reader) == sessions
    assert stored_summaries(reader) == expected_summaries(reader, stamps)


def run_the_scenario(url: str, postgres: PostgresResource, stamps: Stamps) -> Outcome:
    """Seed the source in `stamps`' convention, then backfill the range, follow a late change and discover the chat
    sessions, each step's tables asserted equal to this file's expectations; what they hold at the end."""
    with connection_in(url, "UTC") as admin:
        give_stamps_the_type(admin, stamps)
    with connection_in(url, stamps.zone) as app, connection_in(url, READER_ZONE) as reader:
        data = seed(app, stamps)
        runs = Runs.on(postgres)
        backfill_the_range(runs, reader, stamps)
        follow_a_late_change(runs, app, reader, stamps, data)
        discover_the_chat_sessions(runs, reader, stamps)
        return Outcome(stored_links(reader), stored_sessions(reader), stored_summaries(reader))


def set_database_time_zone(url: str, zone: str) -> None:
    """The database's TimeZone for every new session that sets none itself (ALTER DATABASE ... SET timezone)."""
    with connection_in(url, "UTC") as admin:
        admin.execute(
            sql.SQL("alter database {} set timezone = {}").format(sql.Identifier(admin.info.dbname), sql.Literal(zone))
        )
    with psycopg.connect(psycopg_url(url)) as fresh:
        assert fresh.execute("show timezone").fetchone()[0] == zone


def resource(url: str, **fields: str) -> PostgresResource:
    return PostgresResource(database_url=url, source_schema=SCHEMA, analytics_schema="analytics", **fields)


@pytest.fixture(scope="module")
def reference(server_url: str, template_database: str) -> Iterator[Outcome]:
    """The scenario with timestamptz stamps on a database whose TimeZone is UTC: what the others must equal."""
    with fresh_database(server_url, "convo_stamps", template=template_database) as url:
        set_database_time_zone(url, "UTC")
        yield run_the_scenario(url, resource(url), Stamps("timestamptz"))


# ---------------------------------------------------------------------------------------------


def test_rails_stamps_holding_utc_on_a_new_york_database_give_what_timestamptz_gives_on_utc(
    database_url: str, reference: Outcome
) -> None:
    set_database_time_zone(database_url, NEW_YORK)
    rails = run_the_scenario(database_url, resource(database_url), Stamps(RAILS_TYPE))
    assert rails == reference


def test_stamps_holding_new_york_wall_time_with_source_time_zone_set_give_the_same_rows(
    database_url: str, reference: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SOURCE_TIME_ZONE=America/New_York, read by the settings into the resource, with every stamp the wall time of
    New York; neither PGTZ (Tokyo) in the run's process nor the database's zone (UTC) changes what it reads."""
    set_database_time_zone(database_url, "UTC")
    monkeypatch.setenv("PGTZ", "Asia/Tokyo")
    monkeypatch.setenv("DATABASE_URL", database_url)
    settings = Settings.from_env({"DATABASE_URL": database_url, "SOURCE_TIME_ZONE": NEW_YORK})
    postgres = PostgresResource.from_settings(settings)
    assert postgres.source_time_zone == NEW_YORK
    new_york = run_the_scenario(database_url, postgres, Stamps(RAILS_TYPE, NEW_YORK))
    assert new_york == reference


def test_a_histories_table_dated_by_a_timestamp_is_valid_and_one_dated_by_a_date_is_refused(
    db: psycopg.Connection,
) -> None:
    create_client(db, CHAT_CLIENT)
    for crew, column_type in (("stamped", RAILS_TYPE), ("dated", "date")):
        table = sql.Identifier(SCHEMA, f"{crew}_histories")
        db.execute(
            sql.SQL("create table {} (id serial primary key, session_id uuid, message jsonb, created_at {})").format(
                table, sql.SQL(column_type)
            )
        )
        create_crew(db, crew, CHAT_CLIENT, f"{crew}_histories")
    problems = {table.crew.code: table.problems for table in inspect_crews(db, SCHEMA, load_crews(db, SCHEMA))}
    assert problems["stamped"] == ()
    [refused] = problems["dated"]
    assert refused.startswith("public.dated_histories.created_at is date; expected timestamptz, or timestamp")
