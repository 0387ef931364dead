"""Conversation discovery from the crews' chat histories: sessions per day, summaries, daily stats.

Crews are read from {source}.crews at run time. Each crew is processed in its own transaction,
so a crew that cannot be read (bad name, missing table or column, a failing statement) is
reported in the run's metadata and by the histories_tables_valid check while the other crews'
data is committed. Partitions are UTC message days; a range arrives as one window.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import psycopg

from convo_pipelines.crews import (
    Crew,
    HistoriesTable,
    inspect_histories_table,
    load_crews,
    message_expressions,
    session_id_type,
)
from convo_pipelines.partitions import daily_partitions, window_of
from convo_pipelines.progress import Progress
from convo_pipelines.resources import PostgresResource
from convo_pipelines.settings import get_settings

GROUP = "histories"
OWNERS = ["team:data-platform"]
# Used only if a histories asset is ever run without a partition: everything the tables can hold.
UNPARTITIONED_WINDOW = (datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(9999, 1, 1, tzinfo=timezone.utc))


def _columns(*columns: tuple[str, str, str, bool]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, type_, description, dg.TableColumnConstraints(nullable=not required))
            for name, type_, description, required in columns
        ]
    )


HISTORIES_SESSIONS_SCHEMA = _columns(
    ("crew_code", "text", "Crew whose histories table holds the session (crews.code).", True),
    ("session_id", "text", "Chat session id, as text.", True),
    ("activity_date", "date", "UTC day of the messages counted in the row.", True),
    ("client_code", "text", "Client of the crew (clients.code).", False),
    ("message_count", "integer", "All messages that day, malformed included.", True),
    ("human_message_count", "integer", "Messages of type human that day.", True),
    ("ai_message_count", "integer", "Messages of type ai that day.", True),
    ("malformed_message_count", "integer", "Messages not a JSON object or without a known type.", True),
    ("first_message_at", "timestamptz", "First message of the session that day.", True),
    ("last_message_at", "timestamptz", "Last message of the session that day.", True),
)
CONVERSATION_SUMMARIES_SCHEMA = _columns(
    ("crew_code", "text", "Crew whose histories table holds the session (crews.code).", True),
    ("session_id", "text", "Chat session id, as text.", True),
    ("client_code", "text", "Client of the crew (clients.code).", False),
    ("message_count", "integer", "All messages of the session, malformed included.", True),
    ("human_message_count", "integer", "Messages of type human.", True),
    ("ai_message_count", "integer", "Messages of type ai.", True),
    ("started_at", "timestamptz", "First message of the session.", True),
    ("ended_at", "timestamptz", "Last message of the session.", True),
    ("duration_seconds", "numeric", "ended_at - started_at in seconds.", True),
    ("active_days", "integer", "Distinct UTC days with a message.", True),
    ("first_human_message", "text", "First 200 characters of the earliest non-empty human message.", False),
    ("updated_at", "timestamptz", "When the row last changed.", True),
)
DAILY_CONVERSATION_STATS_SCHEMA = _columns(
    ("activity_date", "date", "UTC day.", True),
    ("client_code", "text", "Client of the crew (clients.code).", False),
    ("crew_code", "text", "Crew (crews.code).", True),
    ("sessions", "bigint", "Sessions with a message that day.", True),
    ("messages", "bigint", "All messages that day, malformed included.", True),
    ("human_messages", "bigint", "Messages of type human that day.", True),
    ("ai_messages", "bigint", "Messages of type ai that day.", True),
)


@dataclass(frozen=True)
class Window:
    """A run's half-open UTC window and the same window as activity dates."""

    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def end_day(self) -> date:
        # Partition windows start and end at UTC midnight, so the end day is exclusive too.
        return self.end.date()

    def covers_everything(self) -> bool:
        """True for an unpartitioned run or a backfill of every partition up to today."""
        last = daily_partitions.get_last_partition_window()
        return self.start <= UNPARTITIONED_WINDOW[0] and (last is None or self.end >= last.end)

    def is_one_day(self) -> bool:
        return self.end - self.start == timedelta(days=1)

    def params(self) -> dict[str, object]:
        return {"window_start": self.start, "window_end": self.end, "first_day": self.first_day, "end_day": self.end_day}

    def label(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


@dataclass
class CrewOutcome:
    crew: Crew
    ok: bool
    reason: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_metadata(self) -> dict[str, object]:
        row: dict[str, object] = {"crew": self.crew.code, "table": self.crew.histories_table_name, "ok": self.ok}
        if self.ok:
            row.update(self.counts)
        else:
            row["reason"] = self.reason
        row["seconds"] = round(self.seconds, 3)
        return row


def run_window(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> Window:
    """The run's messages window [start, end) in UTC; the whole time line when the run has no partition.

    The first partition opens at the beginning of time, so messages written before
    PARTITIONS_START_DATE are counted too (as the link tables do).
    """
    window = window_of(context)
    if window is None:
        return Window(*UNPARTITIONED_WINDOW)
    start, end = window
    if start <= daily_partitions.start:
        start = UNPARTITIONED_WINDOW[0]
    return Window(start, end)


def merge_crew_window(
    conn: psycopg.Connection, postgres: PostgresResource, table: HistoriesTable, statement: str, window: Window
) -> dict[str, int]:
    """Run one crew's merge statement for the window; returns the counts it reports."""
    crew = table.crew
    query = postgres.sql(
        statement,
        histories_table=crew.histories_table_name,
        session_id_type=session_id_type(table),
        **message_expressions(table, postgres.analytics_schema),
    )
    params = {**window.params(), "crew_code": crew.code, "client_code": crew.client_code}
    cursor = conn.execute(query, params)
    names = [column.name for column in cursor.description]
    return {name: int(value) for name, value in zip(names, cursor.fetchone(), strict=True)}


def process_crews(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    conn: psycopg.Connection,
    work: Callable[[HistoriesTable], dict[str, int]],
) -> list[CrewOutcome]:
    """Apply `work` to every readable crew, each in its own transaction; bad crews are recorded, never raised."""
    crews = load_crews(conn, postgres.source_schema)
    conn.commit()
    progress = Progress(context.log.info, f"{context.op_def.name} crews", len(crews), unit="crews")
    outcomes: list[CrewOutcome] = []
    for crew in crews:
        crew_started = time.monotonic()
        outcome = _process_crew(conn, postgres, crew, work)
        outcome.seconds = time.monotonic() - crew_started
        outcomes.append(outcome)
        if not outcome.ok:
            context.log.warning(f"crew {crew.code} skipped: {outcome.reason}")
        progress.advance(outcome.counts.get("messages", outcome.counts.get("sessions_touched", 0)))
    return outcomes


def _process_crew(
    conn: psycopg.Connection, postgres: PostgresResource, crew: Crew, work: Callable[[HistoriesTable], dict[str, int]]
) -> CrewOutcome:
    try:
        with conn.transaction():
            conn.execute(postgres.sql("histories/lock_crew.sql"), {"crew_code": crew.code})
            table = inspect_histories_table(conn, postgres.source_schema, crew)
            if not table.is_valid:
                return CrewOutcome(crew, ok=False, reason=table.reason())
            return CrewOutcome(crew, ok=True, counts=work(table))
    except psycopg.Error as exc:
        # One crew's failure (permissions, a cast, a lock timeout) must not cost the others their data.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CrewOutcome(crew, ok=False, reason=f"query failed: {first_line}")


def crews_metadata(outcomes: list[CrewOutcome]) -> dict[str, object]:
    """Per-crew figures and the bad crews with their reasons, for the run's metadata."""
    bad = [outcome for outcome in outcomes if not outcome.ok]
    return {
        "crews_processed": len(outcomes) - len(bad),
        "crews_failed": len(bad),
        "crews": dg.MetadataValue.json([outcome.as_metadata() for outcome in outcomes]),
        "bad_crews": dg.MetadataValue.md(
            "\n".join(f"- `{o.crew.code}` ({o.crew.histories_table_name!r}): {o.reason}" for o in bad) or "none"
        ),
    }


def summed(outcomes: list[CrewOutcome], key: str) -> int:
    return sum(outcome.counts.get(key, 0) for outcome in outcomes if outcome.ok)


WINDOW_COUNT_SQL = {
    "histories_sessions": "histories/count_histories_sessions_window.sql",
    "conversation_summaries": "histories/count_conversation_summaries_window.sql",
    "daily_conversation_stats": "histories/count_daily_conversation_stats_window.sql",
}


def row_count_metadata(
    conn: psycopg.Connection, postgres: PostgresResource, relation: str, window: Window
) -> dict[str, int]:
    """Rows in the run's window (index-backed) and, only when the run covers the whole time line, in the table.

    A full count is a full scan, so a 5-minute tick over today never pays it: its work stays
    proportional to the window.
    """
    in_window = int(conn.execute(postgres.sql(WINDOW_COUNT_SQL[relation]), window.params()).fetchone()[0])
    metadata = {"rows_in_window": in_window}
    if window.is_one_day():
        # A range run's metadata is copied onto each of its partitions, so only a one-day run says this.
        metadata["dagster/partition_row_count"] = in_window
    if window.covers_everything():
        total = conn.execute(postgres.sql("histories/count_analytics_rows.sql", relation=relation)).fetchone()[0]
        metadata["dagster/row_count"] = int(total)
    return metadata


def merge_every_crew(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    *,
    relation: str,
    merge_sql: str,
    delete_removed_crews_sql: str,
    figures: dict[str, str],
) -> dg.MaterializeResult:
    """Merge each crew's slice of `relation` for the run's window, then drop the window's rows of
    crews no longer registered; `figures` names extra metadata summed from the crews' counts."""
    window = run_window(context)
    started = time.monotonic()
    with postgres.connect() as conn:
        outcomes = process_crews(
            context, postgres, conn, lambda table: merge_crew_window(conn, postgres, table, merge_sql, window)
        )
        with conn.transaction():
            removed = conn.execute(postgres.sql(delete_removed_crews_sql), window.params()).rowcount
        counts = row_count_metadata(conn, postgres, relation, window)
    return dg.MaterializeResult(
        metadata={
            **counts,
            "rows_inserted": summed(outcomes, "rows_inserted"),
            "rows_updated": summed(outcomes, "rows_updated"),
            "rows_deleted": summed(outcomes, "rows_deleted") + removed,
            **{figure: summed(outcomes, count) for figure, count in figures.items()},
            "window": window.label(),
            **crews_metadata(outcomes),
            "seconds": round(time.monotonic() - started, 3),
        }
    )


def analytics_table_asset(table: str, schema: dg.TableSchema, deps: list[dg.AssetsDefinition] | None = None):
    """The decorator of a daily-partitioned asset materialized as analytics.<table> (the function's name)."""
    return dg.asset(
        group_name=GROUP,
        kinds={"postgres"},
        owners=OWNERS,
        deps=deps,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={
            "dagster/table_name": f"{get_settings().analytics_schema}.{table}",
            "dagster/column_schema": schema,
        },
    )


@analytics_table_asset("histories_sessions", HISTORIES_SESSIONS_SCHEMA)
def histories_sessions(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    """One row per chat session per UTC day with messages, per crew (analytics.histories_sessions).

    Each crew's slice of the window's days is replaced from a created_at range scan of its table.
    """
    return merge_every_crew(
        context,
        postgres,
        relation="histories_sessions",
        merge_sql="histories/merge_histories_sessions_window.sql",
        delete_removed_crews_sql="histories/delete_histories_sessions_of_removed_crews_window.sql",
        figures={
            "sessions_in_window": "sessions",
            "messages_in_window": "messages",
            "malformed_messages_in_window": "malformed_messages",
        },
    )


@analytics_table_asset("conversation_summaries", CONVERSATION_SUMMARIES_SCHEMA, deps=[histories_sessions])
def conversation_summaries(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    """One row per chat session over all its days, per crew (analytics.conversation_summaries).

    Recomputes exactly the sessions the window touches, reading all their messages by session_id.
    """
    return merge_every_crew(
        context,
        postgres,
        relation="conversation_summaries",
        merge_sql="histories/merge_conversation_summaries_window.sql",
        delete_removed_crews_sql="histories/delete_conversation_summaries_of_removed_crews_window.sql",
        figures={"sessions_recomputed": "sessions_touched"},
    )


@analytics_table_asset("daily_conversation_stats", DAILY_CONVERSATION_STATS_SCHEMA, deps=[histories_sessions])
def daily_conversation_stats(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    """One row per UTC day, client and crew: sessions and messages (analytics.daily_conversation_stats).

    A view over histories_sessions (created by migration 0002), so it is always current; a run
    verifies the view is there and records its rows for the window.
    """
    window = run_window(context)
    started = time.monotonic()
    with postgres.connect() as conn:
        _require_view(conn, postgres.analytics_schema, "daily_conversation_stats")
        counts = row_count_metadata(conn, postgres, "daily_conversation_stats", window)
    return dg.MaterializeResult(
        metadata={
            **counts,
            "window": window.label(),
            "seconds": round(time.monotonic() - started, 3),
        }
    )


def _require_view(conn: psycopg.Connection, schema: str, view: str) -> None:
    found = conn.execute(
        "select 1 from pg_catalog.pg_views where schemaname = %s and viewname = %s", (schema, view)
    ).fetchone()
    if not found:
        raise dg.Failure(f"view {schema}.{view} is missing: apply the migrations (migration 0002 creates it)")


# The application's conversations table, declared so its data-quality check has an asset to hang on.
conversations_source = dg.AssetSpec(
    key="conversations",
    description="The application's conversations table (source, read-only): one row per conversation with a lead.",
    group_name="source",
    kinds={"postgres"},
    owners=OWNERS,
    metadata={"dagster/table_name": f"{get_settings().source_schema}.conversations"},
)

histories_assets = [histories_sessions, conversation_summaries, daily_conversation_stats, conversations_source]
