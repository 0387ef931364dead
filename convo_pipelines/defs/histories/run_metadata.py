"""What a discovery run records besides its rows: row counts, a preview, and the metadata keys read back after it."""

from convo_pipelines.defs.histories.tables import CONVERSATION_SUMMARIES, DAILY_CONVERSATION_STATS, HISTORIES_SESSIONS
from convo_pipelines.defs.histories.window import Window
from convo_pipelines.lib.postgres.db import count_rows
from convo_pipelines.lib.postgres.session import Session

# Metadata of a histories_sessions or conversation_summaries materialization: the database time (ISO 8601)
# at or after which every row the run inserted or updated is stamped (updated_at); deletions are counted apart.
WRITTEN_SINCE = "written_since"
# Metadata of the same materializations: the crew codes the run was asked to merge (a list), or "all".
CREWS_SELECTED = "crews_selected"
# Metadata of the same materializations: the rows the run deleted (deletions leave no stamp to find them by).
ROWS_DELETED = "rows_deleted_in_window"

WINDOW_COUNT_SQL = {
    HISTORIES_SESSIONS: "histories/count_histories_sessions_window.sql",
    CONVERSATION_SUMMARIES: "histories/count_conversation_summaries_window.sql",
    DAILY_CONVERSATION_STATS: "histories/count_daily_conversation_stats_window.sql",
}


def row_count_metadata(session: Session, relation: str, window: Window, incremental: bool = False) -> dict[str, int]:
    """Rows in the run's window (index-backed) and, only when the run covers the whole time line, in the table.

    An incremental tick counts nothing: its work follows what it read, and counting the day's rows
    would cost more than the tick itself. A full count is a full scan, paid only by runs of everything.
    """
    if incremental:
        return {}
    in_window = int(session.execute(session.sql(WINDOW_COUNT_SQL[relation]), window.params()).fetchone()[0])
    metadata = {"rows_in_window": in_window}
    if window.one_day:
        # A range run's metadata is copied onto each of its partitions, so only a one-day run says this.
        metadata["dagster/partition_row_count"] = in_window
    if window.whole:
        total = count_rows(session.conn, session.analytics_schema, relation)
        metadata["dagster/row_count"] = int(total)
    return metadata


# Rows in a table preview of the run's metadata: enough to see what the run produced, small in the UI.
PREVIEW_ROWS = 10


def newest_rows(session: Session, sql_file: str, window: Window) -> list[dict[str, object]]:
    """The rows sql/<sql_file> returns for the window (at most PREVIEW_ROWS), as column -> value."""
    cursor = session.execute(session.sql(sql_file), {**window.params(), "preview_limit": PREVIEW_ROWS})
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]
