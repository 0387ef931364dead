"""Demo data for the source tables: realistic in shape, deterministic for a seed, generated inside PostgreSQL.

Every id is md5(salt:kind:number) and every choice a hash of the same kind of key, so one seed always
gives the same rows whatever the plan's row order. The SQL under sql/demo/ does the work with
generate_series; the big tables are filled in chunks of conversations to report progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from convo_pipelines.lib.embedded.demo_histories import seed_histories
from convo_pipelines.lib.migrations.runner import migrate
from convo_pipelines.lib.postgres.db import count_rows
from convo_pipelines.lib.postgres.source_tables import (
    SOURCE_TABLES,
)  # the tables the seeder fills, in foreign-key order
from convo_pipelines.lib.postgres.sqlfiles import render_sql
from convo_pipelines.lib.writing.bulk_load import constraints_lifted
from convo_pipelines.lib.writing.progress import Progress

# The big tables load into empty storage with their keys, indexes and foreign keys lifted and rebuilt
# afterwards: one sort per index instead of millions of random inserts into uuid indexes.
BULK_TABLES = ("front_conversations", "front_messages", "front_message_recipients", "conversations")
CHUNK_CONVERSATIONS = 20_000
PEOPLE_PER_CLIENT = 25  # fixed by sql/demo/create_demo_people_plan.sql
MAX_MESSAGES_PER_CONVERSATION = 15  # the demo's own shape: 1 to 15 messages, about 8

Report = Callable[[str], None]


class SeedError(Exception):
    """The demo cannot be seeded as asked (bad sizes, or the database already holds data)."""


@dataclass(frozen=True)
class DemoShape:
    """How many rows of each kind a demo of `conversations` Front conversations gets."""

    conversations: int
    days: int
    clients: int
    people: int
    unresolved_contact_methods: int
    users: int
    projects: int
    max_messages: int = MAX_MESSAGES_PER_CONVERSATION

    @classmethod
    def for_conversations(
        cls, conversations: int, days: int, max_messages: int = MAX_MESSAGES_PER_CONVERSATION
    ) -> DemoShape:
        if conversations < 1:
            raise SeedError(f"--conversations must be at least 1, got {conversations}")
        if days < 1:
            raise SeedError(f"--days must be at least 1, got {days}")
        if max_messages < 1:
            raise SeedError(f"--max-messages must be at least 1, got {max_messages}")
        clients = max(3, round(conversations / 800))
        people = clients * PEOPLE_PER_CLIENT
        # People hold two contact methods on average; unresolved ones are about a tenth of all.
        return cls(
            conversations=conversations,
            days=days,
            clients=clients,
            people=people,
            unresolved_contact_methods=max(1, round(people * 2 / 9)),
            users=max(3, round(conversations / 400)),
            projects=max(5, round(conversations / 20)),
            max_messages=max_messages,
        )


def prepare_source(conn: psycopg.Connection, source_schema: str, analytics_schema: str) -> list[str]:
    """Create the demo source tables when missing and apply pending migrations; returns the migrations applied."""
    with conn.transaction():
        conn.execute(render_sql("demo/create_source_tables.sql", source=source_schema, analytics=analytics_schema))
    return [f"{m.version:04d}_{m.name}" for m in migrate(conn, source_schema, analytics_schema)]


def tables_with_rows(conn: psycopg.Connection, source_schema: str) -> list[str]:
    """The source tables the seeder fills that already hold at least one row."""
    found = []
    for table in SOURCE_TABLES:
        query = sql.SQL("select exists (select 1 from {}.{})").format(
            sql.Identifier(source_schema), sql.Identifier(table)
        )
        if conn.execute(query).fetchone()[0]:
            found.append(table)
    return found


def seed_demo(
    conn: psycopg.Connection,
    *,
    source_schema: str,
    analytics_schema: str,
    conversations: int,
    days: int = 30,
    seed: int = 1,
    messages: int = 0,
    max_messages: int | None = None,
    append: bool = False,
    end: datetime | None = None,
    report: Report = print,
) -> dict[str, int]:
    """Create the source tables, migrate, and fill them with a demo; returns rows inserted per table.

    Everything commits in one transaction, histories included, so an interrupted seed leaves nothing.
    Refuses a database whose source tables hold data unless `append`, which adds an independent batch.
    `max_messages` caps each Front conversation's messages (1 to `max_messages`, evenly; by default
    MAX_MESSAGES_PER_CONVERSATION): a leaner demo for the largest benchmarks, whose disk the demo's own shape
    would outgrow.
    """
    shape = DemoShape.for_conversations(conversations, days, max_messages or MAX_MESSAGES_PER_CONVERSATION)
    if messages < 0:
        raise SeedError(f"--messages must be 0 or more, got {messages}")
    end = (end or datetime.now(UTC).replace(second=0, microsecond=0)).astimezone(UTC)
    for name in prepare_source(conn, source_schema, analytics_schema):
        report(f"applied migration {name}")

    started = time.monotonic()
    with conn.transaction():
        salt, appending = _batch_salt(conn, source_schema, seed, append)
        params = {
            "salt": salt,
            "end": end,
            "start": end - timedelta(days=days),
            "conversations": shape.conversations,
            "days": shape.days,
            "clients": shape.clients,
            "people": shape.people,
            "unresolved_contact_methods": shape.unresolved_contact_methods,
            "users": shape.users,
            "projects": shape.projects,
            "max_messages": shape.max_messages,
        }
        counts = _seed_tables(conn, source_schema, analytics_schema, shape, params, report, into_empty=not appending)
        if messages > 0:
            counts.update(_seed_histories(conn, source_schema, messages, days, seed, end, report))
    for table in SOURCE_TABLES:
        conn.execute(sql.SQL("analyze {}.{}").format(sql.Identifier(source_schema), sql.Identifier(table)))
    conn.commit()
    seconds = time.monotonic() - started
    total = sum(counts.get(table, 0) for table in SOURCE_TABLES) + counts.get("histories_messages", 0)
    report(f"seeded {total:,} rows in {seconds:.1f} s ({total / max(seconds, 1e-9):,.0f} rows/s)")
    return counts


def _batch_salt(conn: psycopg.Connection, source_schema: str, seed: int, append: bool) -> tuple[str, bool]:
    """The salt of every id and choice of this batch, and whether it is appended to existing data."""
    busy = tables_with_rows(conn, source_schema)
    if not busy:
        return f"s{seed}", False
    if not append:
        raise SeedError(
            f"the source tables already hold data ({', '.join(busy)} in schema {source_schema}); "
            "pass --append to add another demo batch, or seed an empty database"
        )
    # Salting with the current size gives the new batch its own ids, still deterministic.
    existing = count_rows(conn, source_schema, "front_conversations")
    return f"s{seed}a{existing}", True


def _seed_tables(
    conn: psycopg.Connection,
    source_schema: str,
    analytics_schema: str,
    shape: DemoShape,
    params: dict,
    report: Report,
    into_empty: bool,
) -> dict[str, int]:
    def run(name: str, **extra) -> int:
        cursor = conn.execute(
            render_sql(f"demo/{name}.sql", source=source_schema, analytics=analytics_schema), {**params, **extra}
        )
        return max(cursor.rowcount, 0)

    counts: dict[str, int] = {}
    run("create_demo_people_plan")
    for table in ("clients", "people", "contact_methods"):
        counts[table] = _timed(report, table, lambda t=table: run(f"insert_demo_{t}"))
    run("create_demo_conversation_plan")
    run("create_demo_participant_plan")
    conn.execute(render_sql("demo/index_demo_plans.sql", source=source_schema, analytics=analytics_schema))
    lifted = constraints_lifted(conn, source_schema, BULK_TABLES, report) if into_empty else nullcontext()
    with lifted:
        counts["front_conversations"] = _timed(
            report, "front_conversations", lambda: run("insert_demo_front_conversations")
        )
        counts["front_messages"], counts["front_message_recipients"] = _seed_messages_in_chunks(
            run, shape.conversations, report
        )
        for table in ("users", "projects", "conversations"):
            counts[table] = _timed(report, table, lambda t=table: run(f"insert_demo_{t}"))
    _timed(report, "projects.conversation_ids", lambda: run("update_demo_project_arrays"))
    return counts


def _seed_messages_in_chunks(run: Callable[..., int], conversations: int, report: Report) -> tuple[int, int]:
    """Messages and recipients, a chunk of conversations at a time, reporting rows, rate and ETA."""
    progress = Progress(report, "  front_messages + front_message_recipients", conversations, unit="conversations")
    messages = recipients = 0
    for first in range(0, conversations, CHUNK_CONVERSATIONS):
        last = min(first + CHUNK_CONVERSATIONS, conversations)
        chunk_messages = run("insert_demo_front_messages", first=first, last=last)
        chunk_recipients = run("insert_demo_front_message_recipients", first=first, last=last)
        messages, recipients = messages + chunk_messages, recipients + chunk_recipients
        progress.advance(rows=chunk_messages + chunk_recipients, steps=last - first)
    return messages, recipients


def _timed(report: Report, label: str, work: Callable[[], int]) -> int:
    started = time.monotonic()
    rows = work()
    seconds = time.monotonic() - started
    report(f"  {label}: {rows:,} rows in {seconds:.2f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)")
    return rows


def _seed_histories(
    conn: psycopg.Connection, source_schema: str, messages: int, days: int, seed: int, end: datetime, report: Report
) -> dict[str, int]:
    started = time.monotonic()
    counts = seed_histories(
        conn, source_schema=source_schema, messages=messages, days=days, seed=seed, end=end, report=report
    )
    report(
        f"  crews and histories: {counts.get('histories_messages', 0):,} messages in {counts.get('crews', 0)} crews "
        f"({counts.get('histories_chat_sessions', 0):,} sessions) in {time.monotonic() - started:.1f} s"
    )
    return counts
