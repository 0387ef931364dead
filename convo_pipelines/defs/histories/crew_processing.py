"""Every crew of a run merged in turn, each in transactions of its own under the crew's advisory lock.

Crews are read from {source}.crews at run time. A crew that cannot be read for a reason of its own (bad name,
missing table or column, no privilege, rows a statement cannot read) is skipped, named with its reason in the
run's metadata and by the histories_tables_valid check, while the other crews' data is committed. Anything else
(a lost connection, a server shutting down, a bug) fails the run: it says nothing about the crew.
"""

import time
from dataclasses import dataclass, field

import dagster as dg
import psycopg

from convo_pipelines.defs.histories.crew_merges import FULL, INCREMENTAL, CrewMerge, WindowMerge
from convo_pipelines.defs.histories.crew_problems import crews_own_problem
from convo_pipelines.defs.histories.crews import Crew, inspect_crew, inspect_crews, load_crews
from convo_pipelines.defs.histories.crews_to_read import PreviousRead, crews_with_rows_to_read
from convo_pipelines.defs.histories.window import Window
from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.progress import Progress
from convo_pipelines.lib.writing.retries import retry_concurrent_changes
from convo_pipelines.lib.writing.transactions import pipeline_transaction, wait_for_own_lock


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


@dataclass
class CrewsProcessed:
    """What process_crews did: an outcome per crew merged or skipped, and how many crews it found nothing new in
    (a tick's crews without a row to read: counted, not listed, so a run's metadata stays small with many crews)."""

    outcomes: list[CrewOutcome]
    without_new_rows: int = 0


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
