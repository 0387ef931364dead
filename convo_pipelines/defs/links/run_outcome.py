"""What every run of a Front link table does last, and what it reports: its foreign keys made whole, the constraints
that rule out duplicates and orphans read once, the table counted, and the run's figures as its materialization's
metadata."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from convo_pipelines.defs.checks import GUARANTEES_METADATA
from convo_pipelines.defs.links.table_state.keys import ForeignKeyState, ensure_foreign_keys
from convo_pipelines.defs.links.tables import FrontLinkTable, front_link_guarantees
from convo_pipelines.defs.links.windows import RunWindow, WriteCounts
from convo_pipelines.lib.postgres.db import count_rows
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.postgres.timing import StepClock


@dataclass(frozen=True)
class FrontRun:
    """What a run of a Front link table did."""

    table: str
    mode: str  # "bulk" (a first fill), "diff" (a window made exact) or "scoped" (named conversations)
    chunks: int
    counts: WriteCounts
    keys: ForeignKeyState
    guarantees: dict[str, str]
    row_count: int | None  # None: a scoped run, for which counting the whole table would cost more than the run
    conversations_in_scope: int | None
    clock: StepClock

    def summary(self) -> str:
        counts = self.counts
        return (
            f"{self.table}: {self.mode}, {counts.rows_inserted:,} inserted, {counts.rows_updated:,} updated, "
            f"{counts.rows_deleted:,} deleted, {counts.rows_in_window:,} in range, "
            + (f"{self.row_count:,} in the table, " if self.row_count is not None else "")
            + f"{self.clock.seconds:.2f}s"
        )

    def metadata(self, window: RunWindow, table_name: str) -> dict[str, object]:
        counts = self.counts
        return {
            "mode": self.mode,
            "window_start": window.start_label,
            "window_end": window.end_label,
            "chunks": self.chunks,
            "foreign_keys_made_whole": len(self.keys.made_whole),
            "foreign_keys_pending": len(self.keys.pending),
            GUARANTEES_METADATA: dg.MetadataValue.json(self.guarantees),
            # Totals of the run's whole window: Dagster copies a range run's metadata onto every partition of the
            # range, so they are named for the range they count, not taken for one day's figures.
            "rows_inserted_in_range": counts.rows_inserted,
            "rows_updated_in_range": counts.rows_updated,
            "rows_deleted_in_range": counts.rows_deleted,
            "rows_in_range": counts.rows_in_window,
            # A one-day run's window is its partition: that count is the partition's own (today's also owns the
            # conversations dated after it).
            **(
                {"dagster/partition_row_count": counts.rows_in_window}
                if window.one_day and self.row_count is not None
                else {}
            ),
            **(
                {"dagster/row_count": self.row_count}
                if self.row_count is not None
                else {"conversations_in_scope": self.conversations_in_scope}
            ),
            "dagster/table_name": table_name,
            **self.clock.metadata(),
        }


def finish_front_run(
    session: Session,
    spec: FrontLinkTable,
    mode: str,
    chunks: int,
    counts: WriteCounts,
    clock: StepClock,
    scope: list[str] | None = None,
    *,
    in_window_is_table: bool = False,
) -> FrontRun:
    """Make the table's foreign keys whole, read what its constraints guarantee and count it (not for a scoped run),
    once the run's writes are done. `in_window_is_table`: the window holds every conversation, and with the
    orphans removed its links are the table's but for those of undated conversations."""
    keys = ensure_foreign_keys(session, spec.table, spec.foreign_keys)
    guarantees = front_link_guarantees(session, spec)
    row_count = None if scope else count_rows(session.conn, session.source_schema, spec.table)
    if in_window_is_table and row_count is not None:
        counts.rows_in_window = row_count - undated_links(session, spec)
    clock.read_sql(session.conn)
    in_scope = len(scope) if scope else None
    return FrontRun(spec.table, mode, chunks, counts, keys, guarantees, row_count, in_scope, clock)


def undated_links(session: Session, spec: FrontLinkTable) -> int:
    """How many links `spec.table` holds to Front conversations with no created_at, which no window holds."""
    statement = session.sql("links/count_undated_front_links.sql", links=spec.table)
    return session.execute(statement).fetchone()[0]
