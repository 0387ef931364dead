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
since the previous run touch: see DiscoveryConfig. Such a tick first probes every crew's table, many
crews a statement, and merges only the crews with a row to read (crews_with_rows_to_read), so its
cost follows the crews with new messages, not the number of crews. A full run over more than max_days_per_transaction
days merges each crew's window in consecutive slices, one transaction each, so that a logical
subscriber receives a first backfill in bounded transactions.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import dagster as dg
import psycopg
from psycopg import sql
from psycopg.sql import Composed

from convo_pipelines.defs.histories.config import DiscoveryConfig
from convo_pipelines.defs.histories.crews import (
    Crew,
    HistoriesTable,
    inspect_crew,
    inspect_crews,
    load_crews,
    message_expressions,
    session_id_type,
)
from convo_pipelines.defs.histories.id_ranges import histories_rows, quoted_table_name, record_id_range
from convo_pipelines.defs.histories.run_metadata import (
    newest_rows,
    row_count_metadata,
)
from convo_pipelines.defs.histories.window import Window, messages_timeline, run_window
from convo_pipelines.defs.previews import preview_table
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.progress import Progress
from convo_pipelines.lib.retries import retry_concurrent_changes
from convo_pipelines.lib.session import Session
from convo_pipelines.lib.statistics import refresh_statistics_after_bulk_write
from convo_pipelines.lib.timing import StepClock
from convo_pipelines.lib.transactions import LATE_COMMIT_ALLOWANCE, pipeline_transaction, wait_for_own_lock

FULL = "full"
INCREMENTAL = "incremental"
# Metadata of a histories_sessions or conversation_summaries materialization: the database time (ISO 8601)
# at or after which every row the run inserted or updated is stamped (updated_at); deletions are counted apart.
WRITTEN_SINCE = "written_since"
# Metadata of the same materializations: the crew codes the run was asked to merge (a list), or "all".
CREWS_SELECTED = "crews_selected"
# Metadata of the same materializations: the rows the run deleted (deletions leave no stamp to find them by).
ROWS_DELETED = "rows_deleted_in_window"
# A failed statement is the crew's own problem, which skips the crew, only for these SQLSTATEs: its rows
# (class 22, data exception; 54000/54001, a value too big or too deep), its foreign table (class HV),
# its unpopulated materialized view (55000). A permission error is its own only when the crew's table is
# what the role cannot read (see crews_own_problem). Anything else fails the run.
CREW_ROWS_SQLSTATE_CLASSES = ("22", "HV")
CREW_ROWS_SQLSTATES = frozenset({"54000", "54001", "55000"})
INSUFFICIENT_PRIVILEGE = "42501"
# A tick's probe of many crews' tables fails for a reason of one crew's table also when the table was dropped or its
# privilege revoked after the catalog said otherwise: its crews are then merged one by one, as a full run merges them.
PROBE_CREW_SQLSTATES = CREW_ROWS_SQLSTATES | {"42P01", INSUFFICIENT_PRIVILEGE}
# Crews a tick probes for new rows in one statement: each holds a lock on its table and indexes until the transaction
# ends, and the server's lock table is shared (max_locks_per_transaction times max_connections).
PROBE_CREWS_PER_STATEMENT = 100


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


@dataclass(frozen=True)
class PreviousRead:
    """What the latest materialization of the run's day (a tick's one partition) says it read: the database clock at
    its start (WRITTEN_SINCE), before any crew's transaction, and the crews it skipped. Every crew it did not skip
    had each of its rows dated before that clock less LATE_COMMIT_ALLOWANCE read (committed by then): a tick need
    not read them again to find the crew unchanged."""

    since: datetime | None = None
    skipped: frozenset[str] = frozenset()
    # The crews it was asked to merge (CREWS_SELECTED); None: every crew.
    selected: frozenset[str] | None = None

    def for_crew(self, crew: Crew) -> datetime | None:
        if crew.code in self.skipped or (self.selected is not None and crew.code not in self.selected):
            return None
        return self.since


@dataclass
class CrewsProcessed:
    """What process_crews did: an outcome per crew merged or skipped, and how many crews it found nothing new in
    (a tick's crews without a row to read: counted, not listed, so a run's metadata stays small with many crews)."""

    outcomes: list[CrewOutcome]
    without_new_rows: int = 0


def previous_read(context: dg.AssetExecutionContext, window: Window) -> PreviousRead:
    """PreviousRead of the latest materialization of this asset for the window's first day (nothing when none)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[window.first_day.isoformat()]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return PreviousRead()
    metadata = records[0].asset_materialization.metadata
    if WRITTEN_SINCE not in metadata:
        return PreviousRead()
    skipped = metadata["skipped_crews"].value if "skipped_crews" in metadata else {}
    selected = metadata[CREWS_SELECTED].value if CREWS_SELECTED in metadata else None
    return PreviousRead(
        datetime.fromisoformat(metadata[WRITTEN_SINCE].value),
        frozenset(skipped or {}),
        frozenset(selected) if isinstance(selected, list) else None,
    )


def process_crews(
    context: dg.AssetExecutionContext,
    session: Session,
    work: WindowMerge,
    previous: PreviousRead | None = None,
) -> CrewsProcessed:
    """Apply `work` to every readable crew, crew after crew. Every crew's table is inspected by one catalog query
    first: a crew the catalog shows unusable is reported without a query of its own. An incremental run then merges
    only the crews that have a row to read (crews_with_rows_to_read). A crew's own problem skips it (recorded in its
    outcome); any other database error is raised, failing the run, after the crews before it committed."""
    crews = [
        crew
        for crew in load_crews(session.conn, session.source_schema)
        if work.only_crews is None or crew.code in work.only_crews
    ]
    tables = inspect_crews(session.conn, session.source_schema, crews)
    session.conn.commit()
    outcomes = [CrewOutcome(table.crew, ok=False, reason=table.reason()) for table in tables if not table.is_valid]
    readable = [table for table in tables if table.is_valid]
    pending = crews_with_rows_to_read(context, session, readable, work, previous) if work.incremental else readable
    for outcome in outcomes:
        context.log.warning(f"crew {outcome.crew.code} skipped: {outcome.reason}")
    progress = Progress(context.log.info, f"{context.op_def.name} crews", len(pending), unit="crews")
    for table in pending:
        crew = table.crew
        crew_started = time.monotonic()
        try:
            outcome = retry_concurrent_changes(
                lambda crew=crew: _process_crew(session, crew, work),
                what=f"crew {crew.code}",
                log=context.log.info,
            )
        except psycopg.Error as exc:
            if not crews_own_problem(session, crew, exc):
                done = ", ".join(earlier.crew.code for earlier in outcomes if earlier.ok) or "none"
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
    outcomes.sort(key=lambda outcome: outcome.crew.code)
    return CrewsProcessed(outcomes, without_new_rows=len(readable) - len(pending))


def crews_with_rows_to_read(
    context: dg.AssetExecutionContext,
    session: Session,
    tables: Sequence[HistoriesTable],
    work: WindowMerge,
    previous: PreviousRead | None,
) -> list[HistoriesTable]:
    """The crews of `tables` whose table has a row an incremental run would read: a crew without one would be merged
    to no change. Every crew's scan start comes from one statement (select_crew_scan_starts.sql), then the tables are
    probed PROBE_CREWS_PER_STATEMENT a statement (select_crews_with_rows_to_read.sql), each from its scan start bound as
    a value. A probe that fails for a reason of a crew's table (dropped since the catalog was read, say) leaves its
    crews to be merged one by one, each then skipped with its own reason if it is bad."""
    if not tables:
        return []
    starts = retry_concurrent_changes(
        lambda: _scan_starts(session, tables, work, previous or PreviousRead()),
        what=f"reading the scan starts of {len(tables)} crews",
        log=context.log.info,
    )
    pending: list[HistoriesTable] = []
    for first in range(0, len(tables), PROBE_CREWS_PER_STATEMENT):
        chunk = tables[first : first + PROBE_CREWS_PER_STATEMENT]
        try:
            found = retry_concurrent_changes(
                lambda chunk=chunk: _crews_with_rows_to_read(session, chunk, starts, work.window),
                what=f"probing {len(chunk)} crews for new rows",
                log=context.log.info,
            )
        except psycopg.Error as exc:
            if session.conn.broken or not _a_crews_own_sqlstate(exc.sqlstate, PROBE_CREW_SQLSTATES):
                raise
            context.log.warning(f"probing {len(chunk)} crews for new rows failed, so each is merged: {first_line(exc)}")
            found = {table.crew.code for table in chunk}
        pending += [table for table in chunk if table.crew.code in found]
    return pending


def _scan_starts(
    session: Session, tables: Sequence[HistoriesTable], work: WindowMerge, previous: PreviousRead
) -> dict[str, datetime]:
    """Each crew's scan start (select_crew_scan_starts.sql), by crew code."""
    statement = session.sql("histories/select_crew_scan_starts.sql", watermark=session.sql(work.statements.watermark))
    params = {
        **work.window.params(),
        "late_commit_overlap": LATE_COMMIT_ALLOWANCE,
        "crew_codes": [table.crew.code for table in tables],
        "read_since": [previous.for_crew(table.crew) for table in tables],
    }
    with pipeline_transaction(session.conn):
        return dict(session.execute(statement, params).fetchall())


def _crews_with_rows_to_read(
    session: Session, tables: Sequence[HistoriesTable], starts: dict[str, datetime], window: Window
) -> set[str]:
    statement, params = rows_to_read_probe(session, tables, starts, window)
    with pipeline_transaction(session.conn):
        return {row[0] for row in session.execute(statement, params)}


def rows_to_read_probe(
    session: Session, tables: Sequence[HistoriesTable], starts: dict[str, datetime], window: Window
) -> tuple[Composed, dict[str, object]]:
    """The statement (select_crews_with_rows_to_read.sql) and its values that name the crews of `tables` with a row
    dated from their scan start (`starts`, by crew code) to the window's end: each crew's table quoted as an identifier,
    its code and scan start bound as values."""
    probes = sql.SQL("\nunion all\n").join(
        sql.SQL("({})").format(
            session.sql(
                # A table dated by id is probed by id (id_ranges.py), any other by created_at.
                "histories/select_crew_ids_to_read.sql"
                if table.dated_by_id
                else "histories/select_crew_rows_to_read.sql",
                histories_table=table.crew.histories_table_name,
                crew=sql.Placeholder(f"crew_code_{position}"),
                scan_start=sql.Placeholder(f"scan_start_{position}"),
                quoted_table=sql.Placeholder(f"quoted_table_{position}"),
            )
        )
        for position, table in enumerate(tables)
    )
    params = {
        "window_end": window.end,
        **{f"quoted_table_{position}": quoted_table_name(session, table) for position, table in enumerate(tables)},
        **{f"crew_code_{position}": table.crew.code for position, table in enumerate(tables)},
        **{f"scan_start_{position}": starts[table.crew.code] for position, table in enumerate(tables)},
    }
    return session.sql("histories/select_crews_with_rows_to_read.sql", crew_probes=probes), params


def crew_lock_key(crew_code: str) -> str:
    """The text a crew's advisory lock is keyed by (hashed in lock_crew.sql and try_lock_crew.sql)."""
    return f"convo_pipelines.histories:{crew_code}"


def lock_crew(session: Session, crew: Crew) -> None:
    """The crew's advisory lock for the rest of the transaction: taken at once, in one statement, when no other run
    holds it (the common case), else waited for however long that run holds it (wait_for_own_lock)."""
    params = {"crew_lock_key": crew_lock_key(crew.code)}
    if not session.execute(session.sql("histories/try_lock_crew.sql"), params).fetchone()[0]:
        wait_for_own_lock(session.conn, session.sql("histories/lock_crew.sql"), params)


def _process_crew(session: Session, crew: Crew, work: WindowMerge) -> CrewOutcome:
    """One crew's slices, each in a transaction of its own under the crew's lock, the table inspected in each:
    a table the catalog shows unusable is reported without a query. A retry redoes every slice; each is
    idempotent, so the slices committed before are merged again to no change."""
    pieces: list[Window] = []
    merges: list[CrewMerge] = []
    while not pieces or len(merges) < len(pieces):
        with pipeline_transaction(session.conn):
            lock_crew(session, crew)
            table = inspect_crew(session.conn, session.source_schema, crew)
            if not table.is_valid:
                return CrewOutcome(crew, ok=False, reason=table.reason())
            pieces = pieces or work.slices(table)
            merges.append(work.merge(table, pieces[len(merges)], first=not merges))
            if len(merges) == len(pieces):
                merged = work.finish(table, merges)
    return CrewOutcome(crew, ok=True, mode=merged.mode, counts=merged.counts, skipped_rows=merged.skipped_rows)


def crews_own_problem(session: Session, crew: Crew, exc: psycopg.Error) -> bool:
    """True when a failed statement says something about the crew itself (its rows, its table), so
    skipping the crew is honest; False for a lost connection, a server shutting down, a timeout, or a
    privilege the pipeline lacks on its own objects."""
    if session.conn.broken or exc.sqlstate is None:
        return False
    if exc.sqlstate == INSUFFICIENT_PRIVILEGE:
        # Only the crew's table is the crew's problem; analytics tables or functions are the pipeline's.
        with session.conn.transaction():
            readable = session.execute(
                session.sql("histories/select_histories_table_readable.sql"),
                {"schema": session.source_schema, "table": crew.histories_table_name},
            ).fetchone()[0]
        return not readable
    return _a_crews_own_sqlstate(exc.sqlstate, CREW_ROWS_SQLSTATES)


def _a_crews_own_sqlstate(sqlstate: str | None, sqlstates: frozenset[str]) -> bool:
    return sqlstate is not None and (sqlstate[:2] in CREW_ROWS_SQLSTATE_CLASSES or sqlstate in sqlstates)


def crews_metadata(processed: CrewsProcessed) -> dict[str, object]:
    """Per-crew figures of every crew merged, every skipped crew with its reason, how many crews had nothing new,
    and the rows skipped per crew and reason, for the run's metadata (histories_tables_valid reads skipped_crews back)."""
    outcomes = processed.outcomes
    bad = [outcome for outcome in outcomes if not outcome.ok]
    # A tick's probe that found a crew with nothing new read it incrementally too.
    modes = {outcome.mode for outcome in outcomes if outcome.ok} | (
        {INCREMENTAL} if processed.without_new_rows else set()
    )
    metadata: dict[str, object] = {
        "mode": modes.pop() if len(modes) == 1 else ("mixed" if modes else "none"),
        "crews_incremental": sum(outcome.mode == INCREMENTAL for outcome in outcomes if outcome.ok),
        "crews_full": sum(outcome.mode == FULL for outcome in outcomes if outcome.ok),
        "crews_processed": len(outcomes) - len(bad) + processed.without_new_rows,
        "crews_merged": len(outcomes) - len(bad),
        "crews_without_new_rows": processed.without_new_rows,
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
    with postgres.session() as session:
        # The database's clock before any crew's transaction: every row this run changes is stamped
        # updated_at = now() at or after it, which is how the checks after the run find those rows.
        with session.conn.transaction():
            written_since = session.execute(session.sql("histories/select_database_clock.sql")).fetchone()[0]
        only_crews = frozenset(config.only_crews) if config.only_crews is not None else None
        work = WindowMerge(
            session, statements, window, incremental, timeline, config.max_days_per_transaction, only_crews
        )
        processed = process_crews(context, session, work, previous_read(context, window) if incremental else None)
        outcomes = processed.outcomes
        removed = 0
        # Finding removed crews' rows reads the whole window (tens of ms on a busy day), so incremental
        # ticks leave them to the next full recompute, as they leave deleted messages.
        if not incremental:
            with pipeline_transaction(session.conn):
                removed = session.execute(session.sql(delete_removed_crews_sql), window.params()).rowcount
        written = sum(summed(outcomes, key) for key in ("rows_inserted", "rows_updated", "rows_deleted")) + removed
        analyzed = refresh_statistics_after_bulk_write(session, session.analytics_schema, relation, written)
        counts = row_count_metadata(session, relation, window, incremental)
        preview = newest_rows(session, preview_sql, window) if preview_sql else None
        clock.read_sql(session.conn)
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
            CREWS_SELECTED: (
                dg.MetadataValue.json(sorted(only_crews)) if only_crews is not None else dg.MetadataValue.text("all")
            ),
            **({"newest_rows": preview_table(preview)} if preview is not None else {}),
            **crews_metadata(processed),
            **clock.metadata(),
        }
    )
