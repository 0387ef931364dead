"""Test data for the histories assets: crews, histories tables of every shape, and an independent oracle.

The oracle reads the small raw tables back and recomputes the analytics tables (docs/contract.md) in plain Python
(json.loads, no SQL aggregation), so a bug in the pipeline's SQL cannot hide in both. A crew dated by id has its
messages dated by the test's own record of its runs (IdSightings), never by what the pipeline stored.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
from psycopg import sql

from convo_pipelines_tests.helpers import database_clock

KNOWN_TYPES = {"human", "ai", "system", "tool"}
HOSTILE_TABLE_NAME = 'x"; drop table people; --'


@dataclass
class HistoriesTableSpec:
    name: str
    shape: str = "langchain"  # or "n8n"
    session_id_type: str = "uuid"  # uuid, text or varchar(255)
    message_type: str = "jsonb"  # jsonb, json or text
    with_created_at: bool = True
    index_created_at: bool = True
    id_column: str = "id serial primary key"


# Neither created_at nor an integer id: its messages cannot be dated, so its crew is a bad crew.
UNDATABLE_TABLE = HistoriesTableSpec(
    "undatable_histories", "n8n", "varchar(255)", "jsonb", with_created_at=False, id_column="id uuid primary key"
)


@dataclass
class Scenario:
    """What build_scenario created: good crews (code -> table) and bad crews (code -> table name)."""

    good: dict[str, str] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=dict)  # crew code -> client code


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def langchain(kind: str, content: str) -> dict:
    return {"type": kind, "data": {"content": content, "additional_kwargs": {}, "type": kind}}


def n8n(kind: str, content: str) -> dict:
    return {"type": kind, "content": content, "additional_kwargs": {}, "response_metadata": {}}


def shaped(shape: str, kind: str, content: str) -> dict:
    return langchain(kind, content) if shape == "langchain" else n8n(kind, content)


def create_client(db: psycopg.Connection, code: str) -> None:
    db.execute(
        "insert into public.clients (code, name) values (%s, %s) on conflict (code) do nothing", (code, code.title())
    )


def create_crew(db: psycopg.Connection, code: str, client_code: str | None, table_name: str) -> None:
    db.execute(
        "insert into public.crews (code, client_id, histories_table_name) "
        "values (%s, (select id from public.clients where code = %s), %s)",
        (code, client_code, table_name),
    )


def create_histories_table(db: psycopg.Connection, spec: HistoriesTableSpec) -> None:
    table = sql.Identifier("public", spec.name)
    columns = [
        sql.SQL(spec.id_column),
        sql.SQL("session_id {} not null").format(sql.SQL(spec.session_id_type)),
        sql.SQL("message {} not null").format(sql.SQL(spec.message_type)),
    ]
    if spec.with_created_at:
        columns.append(sql.SQL("created_at timestamptz not null default now()"))
    db.execute(sql.SQL("create table {} ({})").format(table, sql.SQL(", ").join(columns)))
    db.execute(sql.SQL("create index on {} (session_id)").format(table))
    if spec.with_created_at and spec.index_created_at:
        db.execute(sql.SQL("create index on {} (created_at)").format(table))


def insert_messages(db: psycopg.Connection, table: str, rows: list[tuple[str, datetime, object]]) -> None:
    """rows: (session_id, created_at, message); a message that is a str is stored as that raw text."""
    statement = sql.SQL("copy {} (session_id, created_at, message) from stdin").format(sql.Identifier("public", table))
    with db.cursor().copy(statement) as copy:
        for session_id, created_at, message in rows:
            copy.write_row((session_id, created_at, message if isinstance(message, str) else json.dumps(message)))


def generated_rows(
    shape: str, start: date, days: int, sessions: int, seed: int, text_ids: bool = False
) -> list[tuple[str, datetime, object]]:
    """Random sessions: some crossing midnight, some lasting days, with malformed and empty-content messages."""
    rng = random.Random(seed)
    rows: list[tuple[str, datetime, object]] = []
    for number in range(sessions):
        session_id = f"session-{seed}-{number}" if text_ids else str(uuid.UUID(int=rng.getrandbits(128)))
        moment = datetime.combine(start, datetime.min.time(), UTC) + timedelta(seconds=rng.randrange(days * 86400))
        if number % 7 == 0:  # start just before midnight so the session crosses it
            moment = moment.replace(hour=23, minute=58, second=rng.randrange(60))
        for position in range(rng.randint(1, 9)):
            kind = "human" if position % 2 == 0 else rng.choice(["ai", "ai", "ai", "tool", "system"])
            content = (
                ""
                if (kind == "ai" and rng.random() < 0.2) or (kind == "human" and rng.random() < 0.1)
                else f"{kind} says {rng.random():.6f}"
            )
            message: object = shaped(shape, kind, content)
            roll = rng.random()
            if roll < 0.03:
                # Raw JSON text: not an object, no type, or an unknown type.
                message = rng.choice(
                    [
                        '"just a string"',
                        "[1, 2, 3]",
                        '{"data": {"content": "no type"}}',
                        '{"type": "robot", "content": "beep"}',
                        "42",
                    ]
                )
            rows.append((session_id, moment, message))
            step = rng.choice([5, 30, 90, 600]) if number % 11 else rng.choice([3600 * 20, 86400 * 2])
            moment += timedelta(seconds=step)
    return rows


def build_scenario(db: psycopg.Connection, start: date, days: int = 4, sessions: int = 40) -> Scenario:
    """Three good crews (LangChain uuid/jsonb, n8n varchar/jsonb, LangChain text/json) and three bad ones (a hostile
    name, a missing table, a table with neither created_at nor an integer id)."""
    scenario = Scenario()
    create_client(db, "acme")
    create_client(db, "globex")
    good = [
        ("acme_support", "acme", HistoriesTableSpec("acme_support_histories", "langchain", "uuid", "jsonb")),
        ("acme_sales", "acme", HistoriesTableSpec("n8n_chat_histories_sales", "n8n", "varchar(255)", "jsonb")),
        ("globex_bot", "globex", HistoriesTableSpec("globex_histories", "langchain", "text", "json")),
    ]
    for seed, (code, client, spec) in enumerate(good, start=1):
        create_histories_table(db, spec)
        create_crew(db, code, client, spec.name)
        rows = generated_rows(spec.shape, start, days, sessions, seed, text_ids=spec.session_id_type == "text")
        insert_messages(db, spec.name, rows)
        scenario.good[code] = spec.name
        scenario.clients[code] = client
    create_histories_table(db, UNDATABLE_TABLE)
    bad = [("hostile", HOSTILE_TABLE_NAME), ("ghost", "no_such_histories"), ("undatable", UNDATABLE_TABLE.name)]
    for code, table in bad:
        create_crew(db, code, "globex", table)
        scenario.bad[code] = table
    return scenario


@dataclass
class RawMessage:
    id: int
    session_id: str
    created_at: datetime
    kind: str | None  # None = malformed
    content: str | None


def read_raw(db: psycopg.Connection, table: str, dated_by_id: IdSightings | None = None) -> list[RawMessage]:
    """The table's messages; those of a table without created_at (dated by id) as `dated_by_id` dates them."""
    has_created_at = db.execute(
        "select exists(select 1 from information_schema.columns "
        "where table_schema = 'public' and table_name = %s and column_name = 'created_at')",
        (table,),
    ).fetchone()[0]
    if not has_created_at:
        assert dated_by_id is not None, f"{table} is dated by id: the oracle needs the test's IdSightings"
        return dated_by_id.read_raw(table)
    rows = db.execute(
        sql.SQL("select id, session_id::text, message::text, created_at from {}").format(
            sql.Identifier("public", table)
        )
    ).fetchall()
    return [_raw_message(*row) for row in rows]


@dataclass
class IdSightings:
    """What a test of one crew dated by id knows of its messages' times, by itself: which ids it wrote before each of
    its runs, and the database clock just before and just after each run. A message's time is when the first run
    after it was written saw it (docs/contract.md), so the oracle dates each message by that run's bracket, and every
    time the product stored must fall within the bracket of the run that saw the message."""

    db: psycopg.Connection
    crew: str
    brackets: list[tuple[datetime, datetime]] = field(default_factory=list)
    first_run: dict[int, int] = field(default_factory=dict)  # id -> the index of the first run after its writing
    unseen: set[int] = field(default_factory=set)  # ids written since the last run

    def wrote(self, ids: list[int]) -> None:
        self.unseen.update(ids)

    def emptied(self) -> None:
        """The test emptied the table (TRUNCATE): the ids written so far name no message."""
        self.first_run.clear()
        self.unseen.clear()

    @contextmanager
    def run(self) -> Iterator[None]:
        """Brackets one run of the crew with the database clock; the ids written since the previous run are its."""
        before = database_clock(self.db)
        yield
        after = database_clock(self.db)
        assert before.astimezone(UTC).date() == after.astimezone(UTC).date(), "a run crossed midnight (utc_day_ahead)"
        self.brackets.append((before, after))
        self.first_run.update(dict.fromkeys(self.unseen, len(self.brackets) - 1))
        self.unseen.clear()

    def run_of(self, moment: datetime) -> int | None:
        """The index of the run whose bracket holds `moment`, None when none does."""
        return next((run for run, (start, end) in enumerate(self.brackets) if start <= moment <= end), None)

    def read_raw(self, table: str) -> list[RawMessage]:
        """The table's messages that a run has seen, each dated at the start of that run's bracket."""
        rows = self.db.execute(
            sql.SQL("select id, session_id::text, message::text from {}").format(sql.Identifier("public", table))
        ).fetchall()
        unknown = {id_ for id_, _, _ in rows} - set(self.first_run) - self.unseen
        assert not unknown, f"ids the test did not record writing: {sorted(unknown)}"
        return [
            _raw_message(id_, session_id, text, self.brackets[self.first_run[id_]][0])
            for id_, session_id, text in rows
            if id_ in self.first_run
        ]

    def snapped(self, moment: datetime) -> datetime:
        """`moment` as the oracle dates it: the start of the bracket holding it (unchanged when none does)."""
        run = self.run_of(moment)
        return moment if run is None else self.brackets[run][0]

    def snapped_sessions(self, rows: set[tuple]) -> set[tuple]:
        """histories_sessions rows with the crew's times snapped to their runs' brackets."""
        return {(*row[:8], self.snapped(row[8]), self.snapped(row[9])) if row[0] == self.crew else row for row in rows}

    def snapped_summaries(self, rows: set[tuple]) -> set[tuple]:
        """conversation_summaries rows with the crew's times snapped to their runs' brackets, a duration that is
        exactly ended - started becoming the snapped times' difference (any other stays as it is)."""
        snapped = set()
        for row in rows:
            if row[0] == self.crew:
                started, ended = self.snapped(row[6]), self.snapped(row[7])
                duration = row[8]
                if duration == Decimal(str((row[7] - row[6]).total_seconds())).normalize():
                    duration = Decimal(str((ended - started).total_seconds())).normalize()
                row = (*row[:6], started, ended, duration, *row[9:])
            snapped.add(row)
        return snapped


def _raw_message(id_: int, session_id: str, text: str, created_at: datetime) -> RawMessage:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or value.get("type") not in KNOWN_TYPES:
        return RawMessage(id_, session_id, created_at, None, None)
    data = value.get("data")
    content = (
        data.get("content") if isinstance(data, dict) and data.get("content") is not None else value.get("content")
    )
    return RawMessage(
        id_,
        session_id,
        created_at,
        value["type"],
        content if isinstance(content, str) or content is None else json.dumps(content),
    )


def oracle_sessions(
    db: psycopg.Connection,
    scenario: Scenario,
    first_day: date | None = None,
    end_day: date | None = None,
    dated_by_id: IdSightings | None = None,
) -> set[tuple]:
    """Expected histories_sessions rows, optionally only the days [first_day, end_day); a crew dated by id's messages
    as `dated_by_id` dates them."""
    expected = set()
    for crew, table in scenario.good.items():
        groups: dict[tuple[str, date], list[RawMessage]] = defaultdict(list)
        for message in read_raw(db, table, dated_by_id):
            groups[(message.session_id, message.created_at.astimezone(UTC).date())].append(message)
        for (session_id, day), messages in groups.items():
            if (first_day and day < first_day) or (end_day and day >= end_day):
                continue
            expected.add(
                (
                    crew,
                    session_id,
                    day,
                    scenario.clients[crew],
                    len(messages),
                    sum(m.kind == "human" for m in messages),
                    sum(m.kind == "ai" for m in messages),
                    sum(m.kind is None for m in messages),
                    min(m.created_at for m in messages),
                    max(m.created_at for m in messages),
                )
            )
    return expected


def oracle_summaries(db: psycopg.Connection, scenario: Scenario, dated_by_id: IdSightings | None = None) -> set[tuple]:
    """Expected conversation_summaries rows (without updated_at) over every message; a crew dated by id's messages
    as `dated_by_id` dates them."""
    expected = set()
    for crew, table in scenario.good.items():
        sessions: dict[str, list[RawMessage]] = defaultdict(list)
        for message in read_raw(db, table, dated_by_id):
            sessions[message.session_id].append(message)
        for session_id, messages in sessions.items():
            started, ended = min(m.created_at for m in messages), max(m.created_at for m in messages)
            humans = sorted(
                (m for m in messages if m.kind == "human" and m.content), key=lambda m: (m.created_at, m.id)
            )
            expected.add(
                (
                    crew,
                    session_id,
                    scenario.clients[crew],
                    len(messages),
                    sum(m.kind == "human" for m in messages),
                    sum(m.kind == "ai" for m in messages),
                    started,
                    ended,
                    Decimal(str((ended - started).total_seconds())).normalize(),
                    len({m.created_at.astimezone(UTC).date() for m in messages}),
                    humans[0].content[:200] if humans else None,
                )
            )
    return expected


SESSIONS_COLUMNS = (
    "crew_code, session_id, activity_date, client_code, message_count, human_message_count, ai_message_count, "
    "malformed_message_count, first_message_at, last_message_at"
)
SUMMARIES_COLUMNS = (
    "crew_code, session_id, client_code, message_count, human_message_count, ai_message_count, "
    "started_at, ended_at, duration_seconds, active_days, first_human_message"
)


def actual_sessions(db: psycopg.Connection) -> set[tuple]:
    return set(
        db.execute(sql.SQL("select {} from analytics.histories_sessions").format(sql.SQL(SESSIONS_COLUMNS))).fetchall()
    )


def actual_summaries(db: psycopg.Connection) -> set[tuple]:
    rows = db.execute(
        sql.SQL("select {} from analytics.conversation_summaries").format(sql.SQL(SUMMARIES_COLUMNS))
    ).fetchall()
    return {(*row[:8], row[8].normalize(), *row[9:]) for row in rows}
