"""Planner statistics for the tables a run bulk-writes, gathered when the run itself made them stale."""

from convo_pipelines.lib.postgres.session import Session


def refresh_statistics_after_bulk_write(session: Session, schema: str, table: str, rows_written: int) -> bool:
    """ANALYZE `schema.table` when this run's writes are more than its statistics know of, by autovacuum's own
    threshold; True when it did.

    Autovacuum gets there too, but minutes later on a busy server: meanwhile the statements that follow the
    writes (a fill's next chunks, the checks, the next runs) are planned for a table its statistics call empty
    or a fraction of its size, and may scan all of it in a loop where an index probe was meant.
    """
    stale = session.execute(
        session.sql("lib/catalog/select_statistics_are_stale.sql"),
        {"schema": schema, "table": table, "rows_written": rows_written},
    ).fetchone()
    if not stale or not stale[0]:
        return False
    session.execute(session.sql("lib/catalog/analyze_table.sql", schema=schema, table=table))
    return True
