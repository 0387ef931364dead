"""Which crews a discovery tick (only_new_messages) merges: it first probes every crew's table, many crews a
statement, and merges only the crews with a row to read (crews_with_rows_to_read), so its cost follows the crews
with new messages, not the number of crews."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import dagster as dg
import psycopg
from psycopg import sql
from psycopg.sql import Composed

from convo_pipelines.defs.histories.crew_merges import WindowMerge
from convo_pipelines.defs.histories.crew_problems import CREW_ROWS_SQLSTATES, INSUFFICIENT_PRIVILEGE, crews_own_sqlstate
from convo_pipelines.defs.histories.crews import Crew, HistoriesTable
from convo_pipelines.defs.histories.id_ranges import quoted_table_name
from convo_pipelines.defs.histories.run_metadata import CREWS_SELECTED, WRITTEN_SINCE
from convo_pipelines.defs.histories.window import Window
from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.retries import retry_concurrent_changes
from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE, pipeline_transaction

# A tick's probe of many crews' tables fails for a reason of one crew's table also when the table was dropped or its
# privilege revoked after the catalog said otherwise: its crews are then merged one by one, as a full run merges them.
PROBE_CREW_SQLSTATES = CREW_ROWS_SQLSTATES | {"42P01", INSUFFICIENT_PRIVILEGE}
# Crews a tick probes for new rows in one statement: each holds a lock on its table and indexes until the transaction
# ends, and the server's lock table is shared (max_locks_per_transaction times max_connections).
PROBE_CREWS_PER_STATEMENT = 100


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
            if session.conn.broken or not crews_own_sqlstate(exc.sqlstate, PROBE_CREW_SQLSTATES):
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
