"""How one crew's rows are merged into histories_sessions or conversation_summaries for a window.

A run recomputes its whole window exactly (every manual run and backfill), or, when its config
asks for only_new_messages (a discovery tick over today), only what the crew's messages written
since the previous run touch: see DiscoveryConfig. A full run over more than max_days_per_transaction
days merges each crew's window in consecutive slices, one transaction each, so that a logical
subscriber receives a first backfill in bounded transactions.
Rows that belong to no session-day or hold no readable JSON are skipped and counted per crew
(select_row_skip_reason.sql); every other row of the crew is written.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from psycopg.sql import Composed

from convo_pipelines.defs.histories.crews import HistoriesTable, message_expressions, session_id_type
from convo_pipelines.defs.histories.id_ranges import histories_rows, record_id_range
from convo_pipelines.defs.histories.window import Window, messages_timeline
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE

FULL = "full"
INCREMENTAL = "incremental"


@dataclass(frozen=True)
class MergeStatements:
    """The SQL files of one asset's merge: the statement, and the file bound into it as `scope` that
    lists what a full run (the whole window) or an incremental run (what new messages touch) recomputes.

    The watermark file is a lateral query of one crew (alias crew) returning `watermark` and `day_written` (whether
    the asset holds rows of the crew's day), bound into select_crew_watermarks.sql and select_crew_scan_starts.sql.
    Only a full run, which reads the whole window, gets the window's figures back from the merge; an incremental run's
    are null, left out of its metadata.
    """

    merge: str
    scope: str
    whole_window: str
    new_messages: str
    watermark: str
    # Whether this asset's merge records the new ids of a crew dated by id (id_ranges.py): the first asset of a run
    # does, so the assets after it in the run read the same ranges and their counts agree.
    records_ids: bool = False
    # Figures a merge reports that do not add up across slices: each recounted by its SQL file over the window.
    recounts: dict[str, str] = field(default_factory=dict)


HISTORIES_SESSIONS_MERGE = MergeStatements(
    merge="histories/merge_histories_sessions.sql",
    scope="day_messages",
    whole_window="histories/select_window_messages.sql",
    new_messages="histories/select_new_session_day_messages.sql",
    watermark="histories/select_histories_sessions_watermark.sql",
    records_ids=True,
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
    session: Session,
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
    recorded = record_id_range(session, table) if statements.records_ids else {}
    ids = (
        {"ids_recorded": recorded["ids_recorded"], "ids_restarted": int(recorded["ids_restarted"])} if recorded else {}
    )
    params = {
        **window.params(),
        "timeline_start": timeline.start,
        "timeline_end": timeline.end,
        "crew_code": table.crew.code,
        "client_code": table.crew.client_code,
    }
    if only_new_messages:
        watermarks = session.sql("histories/select_crew_watermarks.sql", watermark=session.sql(statements.watermark))
        watermark = fetch_named_row(session, watermarks, {**params, "crew_codes": [table.crew.code]})["watermark"]
        if watermark is not None:
            new_params = {
                **params,
                "watermark": watermark,
                "late_commit_overlap": LATE_COMMIT_ALLOWANCE,
                "replace_window": False,
                "count_undated": False,
            }
            return crew_merge(
                INCREMENTAL, {**run_merge(session, table, statements, statements.new_messages, new_params), **ids}
            )
    full_params = {**params, "replace_window": True, "count_undated": count_undated}
    return crew_merge(FULL, {**run_merge(session, table, statements, statements.whole_window, full_params), **ids})


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


def fetch_named_row(session: Session, query: Composed, params: dict[str, object]) -> dict[str, object]:
    """The one row `query` returns, by column name."""
    cursor = session.execute(query, params)
    return dict(zip([column.name for column in cursor.description], cursor.fetchone(), strict=True))


def run_merge(
    session: Session,
    table: HistoriesTable,
    statements: MergeStatements,
    scope_sql: str,
    params: dict[str, object],
) -> dict[str, object]:
    """Run one crew's merge statement with `scope_sql` bound in; returns what it reports, by column name."""
    expressions = message_expressions(table, session.analytics_schema)
    identifiers = {
        "histories_table": table.crew.histories_table_name,
        "histories_rows": histories_rows(session, table),
        "session_id_type": session_id_type(table),
        **expressions,
        "row_skip_reason": session.sql("histories/select_row_skip_reason.sql", **expressions),
    }
    scope = session.sql(scope_sql, **identifiers)
    return fetch_named_row(session, session.sql(statements.merge, **identifiers, **{statements.scope: scope}), params)


@dataclass(frozen=True)
class WindowMerge:
    """One asset's merge of the run's window, as process_crews applies it to each readable crew: the window
    cut into slices (a full run over many days, on a table whose created_at is indexed), each merged in a
    transaction of its own."""

    session: Session
    statements: MergeStatements
    window: Window
    incremental: bool
    timeline: Window
    max_days: int
    # The crews a run was asked to merge (DiscoveryConfig.only_crews); None: every crew.
    only_crews: frozenset[str] | None = None

    def slices(self, table: HistoriesTable) -> list[Window]:
        # A table dated by id is read by its ranges' seen_at (indexed) whatever its own indexes.
        if self.incremental or not (table.created_at_indexed or table.dated_by_id):
            return [self.window]
        return self.window.slices(self.max_days)

    def merge(self, table: HistoriesTable, piece: Window, *, first: bool) -> CrewMerge:
        return merge_crew(
            self.session,
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
            name: int(self.session.execute(self.session.sql(sql_file), params).fetchone()[0])
            for name, sql_file in self.statements.recounts.items()
            if name in merged.counts
        }
        return replace(merged, counts={**merged.counts, **recounted})
