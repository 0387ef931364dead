"""Demo chat histories: a few crews, each with a LangChain- or n8n-shaped histories table, filled by COPY.

This writes SOURCE data on purpose: it builds the demo the pipeline then reads. Messages are
generated in time order (sessions overlap like real traffic), so ids grow with created_at as in
an app's table. Sessions have several messages; some cross midnight, some last several days;
about 0.5% of the messages are malformed and some AI messages (tool calls) have empty content.
"""

from __future__ import annotations

import heapq
import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from convo_pipelines.lib.postgres.db import count_rows
from convo_pipelines.lib.postgres.sqlfiles import render_sql
from convo_pipelines.lib.writing.progress import Progress

# (shape, session_id type): the three kinds of tables met in the wild.
TABLE_KINDS = (("langchain", "uuid"), ("n8n", "varchar(255)"), ("langchain", "text"))
SESSION_ID_TYPES = {"uuid": sql.SQL("uuid"), "varchar(255)": sql.SQL("varchar(255)"), "text": sql.SQL("text")}
MALFORMED_MESSAGES = (
    '"just a string"',
    "[1, 2, 3]",
    '{"data": {"content": "no type"}}',
    '{"type": "robot", "content": "beep"}',
)
MALFORMED_RATE = 0.005
MEAN_SESSION_MESSAGES = 8
# The COPY loop logs its progress this often: a few lines a minute at COPY's pace.
PROGRESS_EVERY_ROWS = 500_000
HUMAN_LINES = (
    "Hi, I need help with my order",
    "Can you check the delivery date?",
    "What are your opening hours?",
    "I'd like to change my address",
    "Thanks, that's all",
    "Is there a discount for students?",
    "My invoice looks wrong",
)
AI_LINES = (
    "Sure, let me look that up for you.",
    "Your order ships tomorrow.",
    "We are open 9am to 6pm, Monday to Friday.",
    "Done! Anything else?",
    "",  # a tool call: empty content, not malformed
)


@dataclass(frozen=True)
class DemoCrew:
    number: int
    code: str
    table: str
    shape: str
    session_id_type: str


def seed_histories(
    conn: psycopg.Connection,
    *,
    source_schema: str,
    messages: int,
    crews: int = 3,
    days: int = 30,
    seed: int = 1,
    end: datetime | None = None,
    report: Callable[[str], object] | None = None,
) -> dict[str, int]:
    """Create `crews` demo crews and histories tables (if missing) and COPY `messages` messages into them.

    Messages fall in [end - days, end); the caller commits. Returns counts of what was written.
    `report`, when given, gets a progress line (rows, rate, ETA) every PROGRESS_EVERY_ROWS messages and at the end.
    """
    if messages < 0 or crews < 1 or days < 1:
        raise ValueError("seed_histories needs messages >= 0, crews >= 1 and days >= 1")
    end = (end or datetime.now(UTC)).astimezone(UTC)
    clients_created = _ensure_clients(conn, source_schema, crews)
    demo_crews = [_demo_crew(number) for number in range(1, crews + 1)]
    for crew in demo_crews:
        _create_crew_and_table(conn, source_schema, crew)
    counts = {
        "crews": len(demo_crews),
        "histories_clients_created": clients_created,
        "histories_messages": 0,
        "histories_chat_sessions": 0,
        "histories_malformed_messages": 0,
    }
    progress = Progress.in_chunks_of_rows(report or _silent, "  histories", messages, PROGRESS_EVERY_ROWS)
    for index, crew in enumerate(demo_crews):
        share = even_share(messages, crews, index)
        crew_seed = f"{seed}:{crew.code}:{count_rows(conn, source_schema, crew.table)}"
        sessions, malformed = _copy_messages(conn, source_schema, crew, share, days, end, crew_seed, progress)
        counts["histories_messages"] += share
        counts["histories_chat_sessions"] += sessions
        counts["histories_malformed_messages"] += malformed
    progress.finish()
    for crew in demo_crews:
        conn.execute(sql.SQL("analyze {}").format(sql.Identifier(source_schema, crew.table)))
    return counts


def _silent(_message: str) -> None:
    pass


def even_share(total: int, parts: int, index: int) -> int:
    """Part `index` of `total` split into `parts` shares that differ by at most one."""
    return total // parts + (1 if index < total % parts else 0)


def _demo_crew(number: int) -> DemoCrew:
    shape, session_id_type = TABLE_KINDS[(number - 1) % len(TABLE_KINDS)]
    prefix = "n8n_chat_histories" if shape == "n8n" else "langchain_chat_histories"
    return DemoCrew(number, f"demo_crew_{number}", f"{prefix}_demo_crew_{number}", shape, session_id_type)


def _ensure_clients(conn: psycopg.Connection, schema: str, crews: int) -> int:
    """Create one demo client per crew when the database has no client at all; returns how many."""
    query = render_sql("demo/insert_demo_histories_clients.sql", source=schema, analytics=schema)
    return conn.execute(query, {"clients": crews}).rowcount


def _create_crew_and_table(conn: psycopg.Connection, schema: str, crew: DemoCrew) -> None:
    ddl = render_sql(
        "demo/create_demo_histories_table.sql",
        source=schema,
        analytics=schema,
        histories_table=crew.table,
        session_id_type=SESSION_ID_TYPES[crew.session_id_type],
        session_id_index=f"{crew.table}_session_id_idx",
        created_at_index=f"{crew.table}_created_at_idx",
    )
    conn.execute(ddl)
    conn.execute(
        render_sql("demo/insert_demo_crew.sql", source=schema, analytics=schema),
        {"code": crew.code, "histories_table_name": crew.table, "crew_number": crew.number},
    )


def _copy_messages(
    conn: psycopg.Connection,
    schema: str,
    crew: DemoCrew,
    count: int,
    days: int,
    end: datetime,
    crew_seed: str,
    progress: Progress,
) -> tuple[int, int]:
    statement = sql.SQL("copy {} (session_id, message, created_at) from stdin").format(
        sql.Identifier(schema, crew.table)
    )
    templates = _message_templates(crew.shape)
    rng = random.Random(f"{crew_seed}:messages")
    # First pass: how long the simulated traffic takes to produce `count` messages; the second
    # pass replays it (same seed) scaled to fit the period exactly.
    last_moment = 0.0
    for moment, *_ in _simulated_traffic(count, days, random.Random(crew_seed)):
        last_moment = moment
    start = end - timedelta(days=days)
    scale = timedelta(days=days).total_seconds() / (last_moment * 1.000001 or 1.0)
    sessions = malformed = 0
    with conn.cursor().copy(statement) as copy:
        for moment, session_id, kind, new_session in _simulated_traffic(count, days, random.Random(crew_seed)):
            created_at = start + timedelta(seconds=moment * scale)
            sessions += new_session
            if rng.random() < MALFORMED_RATE:
                message = rng.choice(MALFORMED_MESSAGES)
                malformed += 1
            else:
                message = rng.choice(templates[kind])
            copy.write_row(
                (session_id if crew.session_id_type == "uuid" else f"sess-{session_id}", message, created_at)
            )
            progress.add_rows()
    return sessions, malformed


def _message_templates(shape: str) -> dict[str, list[str]]:
    """JSON text of every message a crew can write, encoded once instead of once per row."""

    def encode(kind: str, content: str) -> str:
        if shape == "langchain":
            return json.dumps({"type": kind, "data": {"content": content, "additional_kwargs": {}, "type": kind}})
        return json.dumps({"type": kind, "content": content, "additional_kwargs": {}, "response_metadata": {}})

    return {
        "human": [encode("human", line) for line in HUMAN_LINES],
        "ai": [encode("ai", line) for line in AI_LINES],
        "system": [encode("system", "You are a helpful support agent.")],
    }


def _simulated_traffic(count: int, days: int, rng: random.Random) -> Iterator[tuple[float, str, str, int]]:
    """`count` messages in time order: (seconds from the start, session_id, kind, 1 if it opens a session).

    Sessions start at random (Poisson arrivals sized so the messages roughly fill `days`) and
    interleave; 3% of them pause for hours between messages, so they span several days.
    """
    mean_gap = days * 86400 / max(count / MEAN_SESSION_MESSAGES, 1)
    pending: list[tuple[float, int, str, int, bool]] = []  # (seconds, tiebreak, session_id, left, slow)
    next_arrival = rng.expovariate(1 / mean_gap)
    serial = 0
    for _ in range(count):
        if not pending or next_arrival <= pending[0][0]:
            moment, session_id = next_arrival, str(uuid.UUID(int=rng.getrandbits(128)))
            left = max(1, int(rng.expovariate(1 / MEAN_SESSION_MESSAGES)) + 1)
            slow = rng.random() < 0.03
            next_arrival += rng.expovariate(1 / mean_gap)
            opens = 1
        else:
            moment, _, session_id, left, slow = heapq.heappop(pending)
            opens = 0
        kind = "system" if opens and rng.random() < 0.1 else ("human" if left % 2 == 1 else "ai")
        yield moment, session_id, kind, opens
        if left > 1:
            gap = rng.uniform(3600 * 6, 3600 * 30) if slow else rng.expovariate(1 / 45)
            serial += 1
            heapq.heappush(pending, (moment + gap, serial, session_id, left - 1, slow))
