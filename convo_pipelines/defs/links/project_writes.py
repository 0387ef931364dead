"""How project_conversations is written: filled by bounded transactions, reconciled whole or for named conversations,
and its projects' conversation_ids arrays compared."""

from __future__ import annotations

from collections.abc import Callable

from psycopg.rows import namedtuple_row

from convo_pipelines.defs.checks import SAMPLE_LIMIT
from convo_pipelines.defs.links.config import FILL_CHUNK_CONVERSATIONS
from convo_pipelines.defs.links.link_transactions import in_retried_transaction
from convo_pipelines.defs.links.tables import (
    BEGINNING_OF_TIME,
    END_OF_TIME,
    PROJECT_LINKS_TABLE,
)
from convo_pipelines.defs.links.windows import chunk_window, count_conversations_by_day
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.progress import Progress
from convo_pipelines.lib.writing.statistics import refresh_statistics_after_bulk_write

# The problem kinds of check_project_array_consistency.sql, in its order.
ARRAY_DRIFT_KINDS = ("stale", "mismatched", "missing")


def fill_project_links(session: Session, log: Callable[[str], object]) -> int:
    """Insert every missing project link, by conversations' days, FILL_CHUNK_CONVERSATIONS at most per
    transaction: a first fill (or what a killed one left) reaches a logical subscriber in bounded transactions."""
    day_counts = count_conversations_by_day(session, "conversations", BEGINNING_OF_TIME, END_OF_TIME)
    chunks = chunk_window(BEGINNING_OF_TIME, END_OF_TIME, day_counts, FILL_CHUNK_CONVERSATIONS)
    progress = Progress(
        log, PROJECT_LINKS_TABLE, total_steps=sum(chunk.conversations for chunk in chunks), unit="conversations"
    )
    inserted = 0
    statement = session.sql(
        "links/insert_project_links.sql", defined_rows=session.sql("links/select_project_links.sql")
    )
    for chunk in chunks:
        params = {"start": chunk.start, "end": chunk.end, "only_conversation_ids": None}
        rows = in_retried_transaction(
            session,
            PROJECT_LINKS_TABLE,
            lambda params=params: session.execute(statement, params).rowcount,
            log,
        )
        inserted += rows
        refresh_statistics_after_bulk_write(session, session.source_schema, PROJECT_LINKS_TABLE, rows)
        progress.advance(rows=rows, steps=chunk.conversations)
    return inserted


def reconcile_project_links(session: Session, only_conversation_ids: list[str] | None = None) -> dict[str, int]:
    """Make project_conversations exact inside the caller's transaction, or only the links of
    `only_conversation_ids` (a scoped run: every other link is left as it is); returns the counts."""
    session.execute(session.sql("links/set_diff_settings.sql"))
    cursor = session.conn.cursor(row_factory=namedtuple_row)
    statement = session.sql("links/sync_project_links.sql", defined_rows=session.sql("links/select_project_links.sql"))
    params = {"start": BEGINNING_OF_TIME, "end": END_OF_TIME, "only_conversation_ids": only_conversation_ids}
    row = cursor.execute(statement, params).fetchone()
    return {
        "rows_inserted": row.rows_inserted,
        "rows_deleted": row.rows_deleted,
        "rows_moved": row.rows_moved,
        "rows_refreshed": row.rows_refreshed,
    }


def projects_of_conversations(session: Session, conversation_ids: list[str]) -> list[str]:
    """The projects these conversations belong to, in the source and in their stored links: read before a scoped
    reconcile, in its transaction, so that the project a conversation moves away from is among them."""
    rows = session.execute(
        session.sql("links/select_projects_of_conversations.sql"), {"only_conversation_ids": conversation_ids}
    ).fetchall()
    return sorted(str(project_id) for (project_id,) in rows)


def reconcile_project_scope(session: Session, scope: list[str] | None) -> tuple[dict[str, int], list[str] | None]:
    """In the caller's transaction, the reconcile of the whole table, or of the links of `scope` with the projects
    they involve before it (whose arrays the run then compares); None for the whole table's."""
    if scope is None:
        return reconcile_project_links(session), None
    projects = projects_of_conversations(session, scope)
    return reconcile_project_links(session, scope), projects


def project_array_inconsistencies(
    session: Session, only_project_ids: list[str] | None = None
) -> dict[str, dict[str, object]]:
    """{kind: {"entries": n, "samples": [...]}} for stale, mismatched and missing projects.conversation_ids entries,
    of every project or only of `only_project_ids`."""
    # The same SQL as the array_consistency check, so the asset's figures and the check's always agree.
    rows = session.execute(
        session.sql("links/checks/check_project_array_consistency.sql"),
        {"sample_limit": SAMPLE_LIMIT, "only_project_ids": only_project_ids},
    ).fetchall()
    return {kind: {"entries": entries, "samples": samples} for kind, entries, samples in rows}
