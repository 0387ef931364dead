"""How discovery merges each crew's messages into histories_sessions and conversation_summaries.

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

import dagster as dg
import psycopg
from psycopg.sql import Composed

from convo_pipelines.defs.histories.config import DiscoveryConfig
from convo_pipelines.defs.histories.crews import (
    Crew,
    HistoriesTable,
    inspect_crew,
    load_crews,
    message_expressions,
    session_id_type,
)
from convo_pipelines.defs.histories.run_metadata import (
    newest_rows,
    refresh_statistics_after_bulk_write,
    row_count_metadata,
)
from convo_pipelines.defs.histories.window import Window, messages_timeline, run_window
from convo_pipelines.defs.previews import preview_table
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.db import (
    LATE_COMMIT_ALLOWANCE,
    StepClock,
    pipeline_transaction,
    retry_concurrent_changes,
    wait_for_own_lock,
)
from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.progress import Progress

FULL = "full"
INCREMENTAL = "incremental"
# Metadata of a histories_sessions or conversation_summaries materialization: the database time (ISO 8601)
# at or after which every row the run inserted or updated is stamped (updated_at); deletions are counted apart.
WRITTEN_SINCE = "written_since"
# Metadata of the same materializations: the rows the run deleted (deletions leave no stamp to find them by).
ROWS_DELETED = "rows_deleted_in_window"
# A failed statement is the crew's own problem, which skips the crew, only for these SQLSTATEs: its rows
# (class 22, data exception; 54000/54001, a value too big or too deep), its foreign table (class HV),
# its unpopulated materialized view (55000). A permission error is its own only when the crew's table is
# what the role cannot read (see crews_own_problem). Anything else fails the run.
CREW_ROWS_SQLSTATE_CLASSES = ("22", "HV")
CREW_ROWS_SQLSTATES = frozenset({"54000", "54001", "55000"})
INSUFFICIENT_PRIVILEGE = "42501"


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
                **params,
                **stored,
                "late_commit_overlap": LATE_COMMIT_ALLOWANCE,
                "replace_window": False,
                "count_undated": False,
            }
            return crew_merge(
                INCREMENTAL, run_merge(conn, postgres, table, statements, statements.new_messages, new_params)
            )
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
    return CrewMerge(
        mode, counts, {reason: int(rows) for reason, rows in skipped.items()} if skipped is not None else None
    )


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
            self.conn,
            self.postgres,
            table,
            self.statements,
            piece,
            self.incremental,
            self.timeline,
            count_undated=first,
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
                lambda crew=crew: _process_crew(conn, postgres, crew, work),
                what=f"crew {crew.code}",
                log=context.log.info,
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
    clock = StepClock()
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
        clock.read_sql(conn)
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
            **clock.metadata(),
        }
    )
