"""Conversation discovery from the crews' chat histories: sessions per day, summaries, daily stats.

Crews are read from {source}.crews at run time. Each crew is processed in its own transaction,
so a crew that cannot be read for a reason of its own (bad name, missing table or column, no
privilege, rows a statement cannot read) is skipped, named with its reason in the run's metadata
and by the histories_tables_valid check, while the other crews' data is committed. Anything else
(a lost connection, a server shutting down, a bug) fails the run: it says nothing about the crew.
Rows that belong to no session-day or hold no readable JSON are skipped and counted per crew
(select_row_skip_reason.sql); every other row of the crew is written.
Partitions are UTC message days; a range arrives as one window.

A run recomputes its whole window exactly (every manual run and backfill), or, when its config
asks for only_new_messages (a discovery tick over today), only what the crew's messages written
since the previous run touch: see DiscoveryConfig. A full run over more than max_days_per_transaction
days merges each crew's window in consecutive slices, one transaction each, so that a logical
subscriber receives a first backfill in bounded transactions.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import psycopg
from psycopg.sql import Composed
from pydantic import Field

from convo_pipelines.lib.errors import first_line
from convo_pipelines.defs.histories.crews import (
    Crew,
    HistoriesTable,
    inspect_crew,
    load_crews,
    message_expressions,
    session_id_type,
)
from convo_pipelines.defs.automation import longest_cron_gap
from convo_pipelines.defs.previews import preview_table
from convo_pipelines.defs.table_asset import table_asset
from convo_pipelines.defs.sources import clients, crews
from convo_pipelines.defs.histories.tables import CONVERSATION_SUMMARIES, DAILY_CONVERSATION_STATS, HISTORIES_SESSIONS
from convo_pipelines.lib.db import pipeline_transaction, retry_concurrent_changes, sql_seconds, wait_for_own_lock
from convo_pipelines.defs.partitions import PartitionWindow, daily_partitions, partition_window, partitions_timeline
from convo_pipelines.lib.progress import Progress
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.settings import get_settings

GROUP = "histories"
# What the histories' SQL binds for the unbounded ends of a PartitionWindow. The lower one is also a data
# rule: a message dated before 1900 belongs to no day, so it is skipped and counted as out of range.
BEFORE_EVERY_MESSAGE = datetime(1900, 1, 1, tzinfo=timezone.utc)
AFTER_EVERY_MESSAGE = datetime(9999, 1, 1, tzinfo=timezone.utc)

# A writer stamps created_at when its transaction starts (the column's default now()), but the
# message becomes visible only when it commits: a message committed after a tick can be dated
# before what that tick already accounted for. An incremental run re-reads this much before its
# watermark, so transactions that commit up to this late are never missed; later ones wait for the
# next full recompute (the first tick after midnight re-reads yesterday and today fully).
LATE_COMMIT_OVERLAP = timedelta(minutes=2)
FULL = "full"
# Metadata of a histories_sessions or conversation_summaries materialization: the database time (ISO 8601)
# at or after which every row the run inserted or updated is stamped (updated_at); deletions are counted apart.
WRITTEN_SINCE = "written_since"
# Metadata of the same materializations: the rows the run deleted (deletions leave no stamp to find them by).
ROWS_DELETED = "rows_deleted_in_window"
INCREMENTAL = "incremental"
# A full run's slice of a crew's window, one transaction each (DiscoveryConfig.max_days_per_transaction).
SLICE_DAYS = 7
# How long after its tick a healthy discovery may land (the daemon's tick, the run's queue and launch, the
# discovery itself): the freshness window adds it to the cron's longest gap, so such a run is never stale.
DISCOVERY_LATENESS = timedelta(minutes=15)

# A failed statement is the crew's own problem, which skips the crew, only for these SQLSTATEs: its rows
# (class 22, data exception; 54000/54001, a value too big or too deep), its foreign table (class HV),
# its unpopulated materialized view (55000). A permission error is its own only when the crew's table is
# what the role cannot read (see crews_own_problem). Anything else fails the run.
CREW_ROWS_SQLSTATE_CLASSES = ("22", "HV")
CREW_ROWS_SQLSTATES = frozenset({"54000", "54001", "55000"})
INSUFFICIENT_PRIVILEGE = "42501"


class DiscoveryConfig(dg.Config):
    """Run configuration of the discovery job's assets (histories_sessions, conversation_summaries, daily_conversation_stats)."""

    only_new_messages: bool = Field(
        default=False,
        description=(
            "What a discovery schedule tick over today sends. True: per crew, read only the messages "
            "written since the newest one the table already accounts for in the run's day (less "
            f"{int(LATE_COMMIT_OVERLAP.total_seconds() // 60)} minutes for transactions that commit late), then recompute "
            "exactly the session-days (histories_sessions) or sessions over all their days "
            "(conversation_summaries) they touch. A crew with no row in the day, and any run of more "
            "than one day, is recomputed fully. Deleted messages and removed crews' rows are not seen "
            "this way, and the window's row counts are skipped. False (the default: manual runs and backfills): recompute the whole window "
            "exactly, deletions included."
        ),
    )

    max_days_per_transaction: int = Field(
        default=SLICE_DAYS,
        ge=1,
        description=(
            "A full run over more days than this merges each crew's window in consecutive slices of at most this "
            "many UTC days, each committed on its own under the crew's lock: a logical subscriber (Zero) receives "
            "a first backfill in bounded transactions, and a killed run keeps the slices it committed. A crew "
            "whose created_at has no index is merged in one transaction (each slice would read its whole table)."
        ),
    )

    def applies_to(self, window: "Window") -> bool:
        """True when this run reads only new messages: asked for, and the window is one day (a watermark
        per day is sound only when every run that wrote the day read all of it)."""
        return self.only_new_messages and window.is_one_day()


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
    ("updated_at", "timestamptz", "When the row last changed.", True),
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
    """A run's half-open UTC window and the same window as activity dates, unbounded ends bound as
    BEFORE_EVERY_MESSAGE / AFTER_EVERY_MESSAGE."""

    start: datetime
    end: datetime
    # Every partition that exists now (see PartitionWindow.whole), and whether the run has no partition at all.
    whole: bool = False
    unpartitioned: bool = False

    @classmethod
    def of(cls, window: PartitionWindow) -> "Window":
        start, end = window.bounds(BEFORE_EVERY_MESSAGE, AFTER_EVERY_MESSAGE)
        return cls(start, end, whole=window.whole, unpartitioned=window.unpartitioned)

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def end_day(self) -> date:
        # Partition windows start and end at UTC midnight, so the end day is exclusive too.
        return self.end.date()

    def covers_everything(self) -> bool:
        """True for an unpartitioned run or a backfill of every partition up to today."""
        return self.whole

    def is_one_day(self) -> bool:
        return self.end - self.start == timedelta(days=1)

    def params(self) -> dict[str, object]:
        return {"window_start": self.start, "window_end": self.end, "first_day": self.first_day, "end_day": self.end_day}

    def slices(self, days: int) -> list["Window"]:
        """This window cut at UTC midnights into consecutive windows of at most `days` days of the partitions
        that exist, the first and the last keeping this window's own ends (an unbounded one, say)."""
        first = max(self.start, daily_partitions.start.astimezone(timezone.utc))
        last = min(self.end, messages_timeline().end)
        step = timedelta(days=days)
        cuts = []
        cut = first + step
        while cut < last:
            cuts.append(cut)
            cut += step
        edges = [self.start, *cuts, self.end]
        return [Window(start, end) for start, end in zip(edges, edges[1:])]

    def label(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


@dataclass
class CrewOutcome:
    crew: Crew
    ok: bool
    reason: str = ""
    mode: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    # Rows left out of the crew's data by reason (select_row_skip_reason.sql); None when the merge does not count them.
    skipped_rows: dict[str, int] | None = None
    seconds: float = 0.0

    def as_metadata(self) -> dict[str, object]:
        row: dict[str, object] = {"crew": self.crew.code, "table": self.crew.histories_table_name, "ok": self.ok}
        if self.ok:
            row["mode"] = self.mode
            row.update(self.counts)
            if self.skipped_rows is not None:
                row["skipped_rows"] = self.skipped_rows
        else:
            row["reason"] = self.reason
        row["seconds"] = round(self.seconds, 3)
        return row


def run_window(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> Window:
    """The run's messages window [start, end) in UTC (see PartitionWindow: the first partition also
    counts the messages written before PARTITIONS_START_DATE, as the link tables do)."""
    return Window.of(partition_window(context))


def messages_timeline() -> Window:
    """Where a message must be dated to belong to a partition (see partitions_timeline). A message dated
    outside belongs to no day, so no run would ever write its session-day: it is skipped and counted."""
    return Window.of(partitions_timeline())


@dataclass(frozen=True)
class MergeStatements:
    """The SQL files of one asset's merge: the statement, and the file bound into it as `scope` that
    lists what a full run (the whole window) or an incremental run (what new messages touch) recomputes.

    The watermark query returns `watermark`. Only a full run, which reads the whole window, gets the
    window's figures back from the merge; an incremental run's are null, left out of its metadata.
    """

    merge: str
    scope: str
    whole_window: str
    new_messages: str
    watermark: str
    # Figures a merge reports that do not add up across slices: each recounted by its SQL file over the window.
    recounts: dict[str, str] = field(default_factory=dict)


HISTORIES_SESSIONS_MERGE = MergeStatements(
    merge="histories/merge_histories_sessions.sql",
    scope="day_messages",
    whole_window="histories/select_window_messages.sql",
    new_messages="histories/select_new_session_day_messages.sql",
    watermark="histories/select_histories_sessions_watermark.sql",
    recounts={"sessions": "histories/count_crew_sessions_window.sql"},
)
CONVERSATION_SUMMARIES_MERGE = MergeStatements(
    merge="histories/merge_conversation_summaries.sql",
    scope="touched_sessions",
    whole_window="histories/select_sessions_touched_by_window.sql",
    new_messages="histories/select_sessions_with_new_messages.sql",
    watermark="histories/select_conversation_summaries_watermark.sql",
)


@dataclass(frozen=True)
class CrewMerge:
    mode: str
    counts: dict[str, int]
    skipped_rows: dict[str, int] | None = None


def merge_crew(
    conn: psycopg.Connection,
    postgres: PostgresResource,
    table: HistoriesTable,
    statements: MergeStatements,
    window: Window,
    only_new_messages: bool = False,
    timeline: Window | None = None,
    count_undated: bool = True,
) -> CrewMerge:
    """Merge one crew's slice for the window: incrementally when asked (one-day windows only) and the
    crew already has a watermark, else the whole window. Rows dated outside `timeline` (by default
    messages_timeline()) are skipped; a full run also counts the crew's rows dated in no window, unless
    told not to (every slice of a window but its first)."""
    timeline = timeline or messages_timeline()
    params = {
        **window.params(),
        "timeline_start": timeline.start,
        "timeline_end": timeline.end,
        "crew_code": table.crew.code,
        "client_code": table.crew.client_code,
    }
    if only_new_messages:
        stored = fetch_named_row(conn, postgres.sql(statements.watermark), params)
        if stored["watermark"] is not None:
            new_params = {
                **params, **stored, "late_commit_overlap": LATE_COMMIT_OVERLAP, "replace_window": False, "count_undated": False,
            }
            return crew_merge(INCREMENTAL, run_merge(conn, postgres, table, statements, statements.new_messages, new_params))
    full_params = {**params, "replace_window": True, "count_undated": count_undated}
    return crew_merge(FULL, run_merge(conn, postgres, table, statements, statements.whole_window, full_params))


def combined(merges: Sequence[CrewMerge]) -> CrewMerge:
    """The merges of a window's slices as one: counts and skipped rows added up, the transactions counted."""
    counts: dict[str, int] = {"transactions": len(merges)}
    skipped: dict[str, int] | None = None
    for merge in merges:
        for name, value in merge.counts.items():
            counts[name] = counts.get(name, 0) + value
        if merge.skipped_rows is not None:
            skipped = skipped or {}
            for reason, rows in merge.skipped_rows.items():
                skipped[reason] = skipped.get(reason, 0) + rows
    return CrewMerge(merges[0].mode, counts, skipped)


def crew_merge(mode: str, reported: dict[str, object]) -> CrewMerge:
    """What a merge statement reported: its counts, and its skipped rows by reason when it counts them."""
    skipped = reported.pop("skipped_rows", None)
    counts = {name: int(value) for name, value in reported.items() if value is not None}
    return CrewMerge(mode, counts, {reason: int(rows) for reason, rows in skipped.items()} if skipped is not None else None)


def fetch_named_row(conn: psycopg.Connection, query: Composed, params: dict[str, object]) -> dict[str, object]:
    """The one row `query` returns, by column name."""
    cursor = conn.execute(query, params)
    return dict(zip([column.name for column in cursor.description], cursor.fetchone(), strict=True))


def run_merge(
    conn: psycopg.Connection,
    postgres: PostgresResource,
    table: HistoriesTable,
    statements: MergeStatements,
    scope_sql: str,
    params: dict[str, object],
) -> dict[str, object]:
    """Run one crew's merge statement with `scope_sql` bound in; returns what it reports, by column name."""
    expressions = message_expressions(table, postgres.analytics_schema)
    identifiers = {
        "histories_table": table.crew.histories_table_name,
        "session_id_type": session_id_type(table),
        **expressions,
        "row_skip_reason": postgres.sql("histories/select_row_skip_reason.sql", **expressions),
    }
    scope = postgres.sql(scope_sql, **identifiers)
    return fetch_named_row(conn, postgres.sql(statements.merge, **identifiers, **{statements.scope: scope}), params)


@dataclass(frozen=True)
class WindowMerge:
    """One asset's merge of the run's window, as process_crews applies it to each readable crew: the window
    cut into slices (a full run over many days, on a table whose created_at is indexed), each merged in a
    transaction of its own."""

    conn: psycopg.Connection
    postgres: PostgresResource
    statements: MergeStatements
    window: Window
    incremental: bool
    timeline: Window
    max_days: int

    def slices(self, table: HistoriesTable) -> list[Window]:
        if self.incremental or not table.created_at_indexed:
            return [self.window]
        return self.window.slices(self.max_days)

    def merge(self, table: HistoriesTable, piece: Window, *, first: bool) -> CrewMerge:
        return merge_crew(
            self.conn, self.postgres, table, self.statements, piece, self.incremental, self.timeline, count_undated=first
        )

    def finish(self, table: HistoriesTable, merges: Sequence[CrewMerge]) -> CrewMerge:
        """The slices' merges as one, the figures that do not add up across slices counted again over the window."""
        merged = combined(merges)
        if len(merges) == 1:
            return merged
        params = {**self.window.params(), "crew_code": table.crew.code}
        recounted = {
            name: int(self.conn.execute(self.postgres.sql(sql_file), params).fetchone()[0])
            for name, sql_file in self.statements.recounts.items()
            if name in merged.counts
        }
        return replace(merged, counts={**merged.counts, **recounted})


def process_crews(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    conn: psycopg.Connection,
    work: WindowMerge,
) -> list[CrewOutcome]:
    """Apply `work` to every readable crew, crew after crew. A crew's own problem skips it (recorded in its
    outcome); any other database error is raised, failing the run, after the crews before it committed."""
    crews = load_crews(conn, postgres.source_schema)
    conn.commit()
    progress = Progress(context.log.info, f"{context.op_def.name} crews", len(crews), unit="crews")
    outcomes: list[CrewOutcome] = []
    for crew in crews:
        crew_started = time.monotonic()
        try:
            outcome = retry_concurrent_changes(
                lambda crew=crew: _process_crew(conn, postgres, crew, work), what=f"crew {crew.code}", log=context.log.info
            )
        except psycopg.Error as exc:
            if not crews_own_problem(conn, postgres, crew, exc):
                done = ", ".join(earlier.crew.code for earlier in outcomes) or "none"
                note = (
                    f"while discovering crew {crew.code}: not a problem of the crew's table or rows, so the run fails "
                    f"rather than report the crew as bad (crews committed before it: {done})"
                )
                context.log.error(f"{note}: {first_line(exc)}")
                exc.add_note(note)
                raise
            outcome = CrewOutcome(crew, ok=False, reason=f"query failed: {first_line(exc)}")
        outcome.seconds = time.monotonic() - crew_started
        outcomes.append(outcome)
        if not outcome.ok:
            context.log.warning(f"crew {crew.code} skipped: {outcome.reason}")
        elif outcome.skipped_rows:
            context.log.warning(f"crew {crew.code}: rows skipped {outcome.skipped_rows}")
        progress.advance(outcome.counts.get("messages", outcome.counts.get("sessions_touched", 0)))
    return outcomes


def _process_crew(conn: psycopg.Connection, postgres: PostgresResource, crew: Crew, work: WindowMerge) -> CrewOutcome:
    """One crew's slices, each in a transaction of its own under the crew's lock, the table inspected in each:
    a table the catalog shows unusable is reported without a query. A retry redoes every slice; each is
    idempotent, so the slices committed before are merged again to no change."""
    pieces: list[Window] = []
    merges: list[CrewMerge] = []
    while not pieces or len(merges) < len(pieces):
        with pipeline_transaction(conn):
            wait_for_own_lock(conn, postgres.sql("histories/lock_crew.sql"), {"crew_code": crew.code})
            table = inspect_crew(conn, postgres.source_schema, crew)
            if not table.is_valid:
                return CrewOutcome(crew, ok=False, reason=table.reason())
            pieces = pieces or work.slices(table)
            merges.append(work.merge(table, pieces[len(merges)], first=not merges))
            if len(merges) == len(pieces):
                merged = work.finish(table, merges)
    return CrewOutcome(crew, ok=True, mode=merged.mode, counts=merged.counts, skipped_rows=merged.skipped_rows)


def crews_own_problem(conn: psycopg.Connection, postgres: PostgresResource, crew: Crew, exc: psycopg.Error) -> bool:
    """True when a failed statement says something about the crew itself (its rows, its table), so
    skipping the crew is honest; False for a lost connection, a server shutting down, a timeout, or a
    privilege the pipeline lacks on its own objects."""
    if conn.broken or exc.sqlstate is None:
        return False
    if exc.sqlstate == INSUFFICIENT_PRIVILEGE:
        # Only the crew's table is the crew's problem; analytics tables or functions are the pipeline's.
        with conn.transaction():
            readable = conn.execute(
                postgres.sql("histories/select_histories_table_readable.sql"),
                {"schema": postgres.source_schema, "table": crew.histories_table_name},
            ).fetchone()[0]
        return not readable
    return exc.sqlstate[:2] in CREW_ROWS_SQLSTATE_CLASSES or exc.sqlstate in CREW_ROWS_SQLSTATES


def crews_metadata(outcomes: list[CrewOutcome]) -> dict[str, object]:
    """Per-crew figures, every skipped crew with its reason, and the rows skipped per crew and reason,
    for the run's metadata (histories_tables_valid reads skipped_crews back)."""
    bad = [outcome for outcome in outcomes if not outcome.ok]
    modes = {outcome.mode for outcome in outcomes if outcome.ok}
    metadata: dict[str, object] = {
        "mode": modes.pop() if len(modes) == 1 else ("mixed" if modes else "none"),
        "crews_incremental": sum(outcome.mode == INCREMENTAL for outcome in outcomes if outcome.ok),
        "crews_full": sum(outcome.mode == FULL for outcome in outcomes if outcome.ok),
        "crews_processed": len(outcomes) - len(bad),
        "crews_failed": len(bad),
        "crews": dg.MetadataValue.json([outcome.as_metadata() for outcome in outcomes]),
        "skipped_crews": dg.MetadataValue.json({o.crew.code: o.reason for o in bad}),
        "bad_crews": dg.MetadataValue.md(
            "\n".join(f"- `{o.crew.code}` ({o.crew.histories_table_name!r}): {o.reason}" for o in bad) or "none"
        ),
    }
    counted = [outcome for outcome in outcomes if outcome.ok and outcome.skipped_rows is not None]
    if counted:
        skipped = {o.crew.code: o.skipped_rows for o in counted if o.skipped_rows}
        metadata["skipped_rows"] = dg.MetadataValue.json(skipped)
        metadata["skipped_rows_count"] = sum(sum(rows.values()) for rows in skipped.values())
    return metadata


def summed(outcomes: list[CrewOutcome], key: str) -> int:
    return sum(outcome.counts.get(key, 0) for outcome in outcomes if outcome.ok)


WINDOW_COUNT_SQL = {
    HISTORIES_SESSIONS: "histories/count_histories_sessions_window.sql",
    CONVERSATION_SUMMARIES: "histories/count_conversation_summaries_window.sql",
    DAILY_CONVERSATION_STATS: "histories/count_daily_conversation_stats_window.sql",
}


def row_count_metadata(
    conn: psycopg.Connection, postgres: PostgresResource, relation: str, window: Window, incremental: bool = False
) -> dict[str, int]:
    """Rows in the run's window (index-backed) and, only when the run covers the whole time line, in the table.

    An incremental tick counts nothing: its work follows what it read, and counting the day's rows
    would cost more than the tick itself. A full count is a full scan, paid only by runs of everything.
    """
    if incremental:
        return {}
    in_window = int(conn.execute(postgres.sql(WINDOW_COUNT_SQL[relation]), window.params()).fetchone()[0])
    metadata = {"rows_in_window": in_window}
    if window.is_one_day():
        # A range run's metadata is copied onto each of its partitions, so only a one-day run says this.
        metadata["dagster/partition_row_count"] = in_window
    if window.covers_everything():
        total = conn.execute(postgres.sql("histories/count_analytics_rows.sql", relation=relation)).fetchone()[0]
        metadata["dagster/row_count"] = int(total)
    return metadata


def refresh_statistics_after_bulk_write(conn: psycopg.Connection, postgres: PostgresResource, relation: str, rows_written: int) -> bool:
    """ANALYZE `relation` when this run's writes are more than its statistics know of, by autovacuum's own
    threshold; True when it did.

    Autovacuum gets there too, but minutes later on a busy server: meanwhile the checks that follow the run,
    and the next discovery ticks, were planned for a table without statistics (a third of its rows assumed
    changed), as hash joins over the whole table: 37 to 45 ms of checks for a tick's 10 sessions at 40,000
    conversations, against 4 ms with statistics.
    """
    stale = conn.execute(
        postgres.sql("lib/catalog/select_statistics_are_stale.sql"),
        {"schema": postgres.analytics_schema, "table": relation, "rows_written": rows_written},
    ).fetchone()
    if not stale or not stale[0]:
        return False
    conn.execute(postgres.sql("lib/catalog/analyze_table.sql", schema=postgres.analytics_schema, table=relation))
    return True


# Rows in a table preview of the run's metadata: enough to see what the run produced, small in the UI.
PREVIEW_ROWS = 10


def newest_rows(conn: psycopg.Connection, postgres: PostgresResource, sql_file: str, window: Window) -> list[dict[str, object]]:
    """The rows sql/<sql_file> returns for the window (at most PREVIEW_ROWS), as column -> value."""
    cursor = conn.execute(postgres.sql(sql_file), {**window.params(), "preview_limit": PREVIEW_ROWS})
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def merge_every_crew(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    config: DiscoveryConfig,
    *,
    relation: str,
    statements: MergeStatements,
    delete_removed_crews_sql: str,
    figures: dict[str, str],
    preview_sql: str | None = None,
) -> dg.MaterializeResult:
    """Merge each crew's slice of `relation` for the run's window, then drop the window's rows of
    crews no longer registered; `figures` names extra metadata summed from the crews' counts."""
    window = run_window(context)
    incremental = config.applies_to(window)
    # Fixed for the whole run, so every crew (and a run crossing midnight) skips the same dates.
    timeline = messages_timeline()
    started = time.monotonic()
    with postgres.connect() as conn:
        # The database's clock before any crew's transaction: every row this run changes is stamped
        # updated_at = now() at or after it, which is how the checks after the run find those rows.
        with conn.transaction():
            written_since = conn.execute(postgres.sql("histories/select_database_clock.sql")).fetchone()[0]
        work = WindowMerge(conn, postgres, statements, window, incremental, timeline, config.max_days_per_transaction)
        outcomes = process_crews(context, postgres, conn, work)
        removed = 0
        # Finding removed crews' rows reads the whole window (tens of ms on a busy day), so incremental
        # ticks leave them to the next full recompute, as they leave deleted messages.
        if not incremental:
            with pipeline_transaction(conn):
                removed = conn.execute(postgres.sql(delete_removed_crews_sql), window.params()).rowcount
        written = sum(summed(outcomes, key) for key in ("rows_inserted", "rows_updated", "rows_deleted")) + removed
        analyzed = refresh_statistics_after_bulk_write(conn, postgres, relation, written)
        counts = row_count_metadata(conn, postgres, relation, window, incremental)
        preview = newest_rows(conn, postgres, preview_sql, window) if preview_sql else None
        in_postgres = sql_seconds(conn)
    return dg.MaterializeResult(
        metadata={
            **counts,
            # Totals of the run's window (Dagster copies a range run's metadata onto each of its partitions).
            "rows_inserted_in_window": summed(outcomes, "rows_inserted"),
            "rows_updated_in_window": summed(outcomes, "rows_updated"),
            ROWS_DELETED: summed(outcomes, "rows_deleted") + removed,
            **{
                figure: summed(outcomes, count)
                for figure, count in figures.items()
                if all(count in outcome.counts for outcome in outcomes if outcome.ok)
            },
            "window": window.label(),
            "statistics_refreshed": analyzed,
            WRITTEN_SINCE: dg.MetadataValue.text(written_since.isoformat()),
            **({"newest_rows": preview_table(preview)} if preview is not None else {}),
            **crews_metadata(outcomes),
            "seconds": round(time.monotonic() - started, 3),
            "sql_seconds": round(in_postgres, 4),
        }
    )


def discovery_freshness_policy() -> dg.FreshnessPolicy:
    """Fails histories_sessions' freshness (Dagster's daemon evaluates it) once no discovery landed for the cron's
    longest gap plus DISCOVERY_LATENESS. A time window: a cron policy's window may not exceed the cron's shortest
    gap, so on an uneven cron (*/7, business hours, any cron across a DST change) it would fail a healthy schedule."""
    settings = get_settings()
    longest_gap = longest_cron_gap(settings.conversation_discovery_cron, settings.schedule_timezone)
    return dg.FreshnessPolicy.time_window(fail_window=longest_gap + DISCOVERY_LATENESS)


def analytics_table_asset(
    table: str,
    schema: dg.TableSchema,
    deps: list[dg.AssetsDefinition | dg.AssetSpec],
    freshness_policy: dg.FreshnessPolicy | None = None,
    column_lineage: dg.TableColumnLineage | None = None,
):
    """The decorator of a daily-partitioned asset materialized as analytics.<table>, named as its table."""
    return table_asset(
        name=table,
        group_name=GROUP,
        table_name=f"{get_settings().analytics_schema}.{table}",
        schema=schema,
        deps=deps,
        freshness_policy=freshness_policy,
        column_lineage=column_lineage,
    )


# Reads every crew's histories table (represented by crews) and the crews' clients for client_code.
@analytics_table_asset(HISTORIES_SESSIONS, HISTORIES_SESSIONS_SCHEMA, deps=[crews, clients], freshness_policy=discovery_freshness_policy())
def histories_sessions(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: DiscoveryConfig
) -> dg.MaterializeResult:
    """One row per chat session per UTC day with messages, per crew (analytics.histories_sessions).

    A full run replaces each crew's slice of the window's days from a created_at range scan of its
    table. An incremental run (only_new_messages, a tick over today) reads the crew's messages since
    the newest last_message_at of its rows that day (less LATE_COMMIT_OVERLAP), and recomputes
    exactly the session-days they touch from all their messages, read by session_id. It cannot see
    deleted messages: the full recompute removes them (any manual run or backfill, and the first
    tick after midnight, which recomputes yesterday and today fully).
    """
    return merge_every_crew(
        context,
        postgres,
        config,
        relation=HISTORIES_SESSIONS,
        statements=HISTORIES_SESSIONS_MERGE,
        delete_removed_crews_sql="histories/delete_histories_sessions_of_removed_crews_window.sql",
        figures={
            "sessions_in_window": "sessions",
            "messages_in_window": "messages",
            "malformed_messages_in_window": "malformed_messages",
        },
    )


# Reads the crews' histories tables itself; histories_sessions is a dependency because its check
# counts_match_histories_sessions compares the two, so sessions must be written first in a run.
@analytics_table_asset(CONVERSATION_SUMMARIES, CONVERSATION_SUMMARIES_SCHEMA, deps=[histories_sessions, crews, clients])
def conversation_summaries(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: DiscoveryConfig
) -> dg.MaterializeResult:
    """One row per chat session over all its days, per crew (analytics.conversation_summaries).

    Recomputes exactly the sessions the window touches (a message in the window, or a summary
    overlapping it), reading all their messages by session_id. An incremental run
    (only_new_messages, a tick over today) recomputes only the sessions with a message since the
    newest ended_at of the crew's summaries of sessions begun that day (less LATE_COMMIT_OVERLAP).
    It cannot see deleted messages: the full recompute catches them (any manual run or backfill,
    and the first tick after midnight).
    """
    return merge_every_crew(
        context,
        postgres,
        config,
        relation=CONVERSATION_SUMMARIES,
        statements=CONVERSATION_SUMMARIES_MERGE,
        delete_removed_crews_sql="histories/delete_conversation_summaries_of_removed_crews_window.sql",
        figures={"sessions_recomputed": "sessions_touched"},
        preview_sql="histories/select_newest_conversation_summaries_window.sql",
    )


# A view over histories_sessions (migration 0002): each column is one of its columns, grouped, counted or summed.
DAILY_CONVERSATION_STATS_LINEAGE = dg.TableColumnLineage(
    deps_by_column={
        column: [dg.TableColumnDep(asset_key=histories_sessions.key, column_name=source)]
        for column, source in {
            "activity_date": "activity_date",
            "client_code": "client_code",
            "crew_code": "crew_code",
            "sessions": "session_id",
            "messages": "message_count",
            "human_messages": "human_message_count",
            "ai_messages": "ai_message_count",
        }.items()
    }
)


@analytics_table_asset(
    DAILY_CONVERSATION_STATS,
    DAILY_CONVERSATION_STATS_SCHEMA,
    deps=[histories_sessions],
    column_lineage=DAILY_CONVERSATION_STATS_LINEAGE,
)
def daily_conversation_stats(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: DiscoveryConfig
) -> dg.MaterializeResult:
    """One row per UTC day, client and crew: sessions and messages (analytics.daily_conversation_stats).

    A view over histories_sessions (created by migration 0002), so it is always current; a run
    verifies the view is there and records its rows for the window, except a tick (only_new_messages),
    for which aggregating the whole day would cost more than the tick's own work.
    """
    window = run_window(context)
    started = time.monotonic()
    with postgres.connect() as conn:
        _require_view(conn, postgres.analytics_schema, DAILY_CONVERSATION_STATS)
        counts = row_count_metadata(conn, postgres, DAILY_CONVERSATION_STATS, window, config.applies_to(window))
        in_postgres = sql_seconds(conn)
    return dg.MaterializeResult(
        metadata={
            **counts,
            "window": window.label(),
            "seconds": round(time.monotonic() - started, 3),
            "sql_seconds": round(in_postgres, 4),
        }
    )


def _require_view(conn: psycopg.Connection, schema: str, view: str) -> None:
    found = conn.execute(
        "select 1 from pg_catalog.pg_views where schemaname = %s and viewname = %s", (schema, view)
    ).fetchone()
    if not found:
        raise dg.Failure(f"view {schema}.{view} is missing: apply the migrations (migration 0002 creates it)", allow_retries=False)


histories_assets = [histories_sessions, conversation_summaries, daily_conversation_stats]
# The assets that take DiscoveryConfig (ops named as their assets).
NEW_MESSAGES_ASSETS = (histories_sessions.op.name, conversation_summaries.op.name, daily_conversation_stats.op.name)
