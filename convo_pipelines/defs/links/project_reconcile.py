"""project_conversations made exact: one row per conversation whose project exists. Read top to bottom, in the order
the run does it:

1. a table without its foreign keys is being filled: its missing links go in by conversations' days, in bounded
   transactions (a logical subscriber receives them so), and a scoped run on such a table reconciles the whole
   table instead, since a scoped run is exact only on top of a whole table;
2. one transaction reconciles the whole table, or only the named conversations (the late-change sensor's): inserts
   the missing links, moves a conversation's link to its new project (keeping its row id), refreshes added_by and
   deletes the links whose conversation has no project any more;
3. the foreign keys are made whole;
4. the projects' deprecated conversation_ids arrays are compared with conversations.project_id (every project's, or
   those a scoped run touched), and the run reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from psycopg.rows import namedtuple_row

from convo_pipelines.defs.checks import SAMPLE_LIMIT
from convo_pipelines.defs.links.config import FILL_CHUNK_CONVERSATIONS
from convo_pipelines.defs.links.table_state.keys import ForeignKeyState, ensure_foreign_keys, link_foreign_keys
from convo_pipelines.defs.links.table_state.lock import in_retried_transaction, link_table_is_empty
from convo_pipelines.defs.links.tables import (
    BEGINNING_OF_TIME,
    END_OF_TIME,
    PROJECT_LINKS_FOREIGN_KEYS,
    PROJECT_LINKS_TABLE,
)
from convo_pipelines.defs.links.windows import day_chunks
from convo_pipelines.lib.postgres.db import count_rows
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.postgres.timing import StepClock, TimedClientCursor
from convo_pipelines.lib.writing.progress import Progress
from convo_pipelines.lib.writing.statistics import refresh_statistics_after_bulk_write

# The problem kinds of check_project_array_consistency.sql, in its order.
ARRAY_DRIFT_KINDS = ("stale", "mismatched", "missing")
LOG = dg.get_dagster_logger(__name__)


@dataclass(frozen=True)
class ProjectRun:
    """What a run of project_conversations did."""

    mode: str  # "bulk" (a first fill), "diff" (the whole table) or "scoped" (named conversations)
    counts: dict[str, int]
    keys: ForeignKeyState
    row_count: int | None  # None: a scoped run, for which counting the whole table would cost more than the run
    scope: list[str] | None
    projects: list[str] | None  # the projects whose arrays were compared; None: every project
    drift: dict[str, dict[str, object]]  # {kind: {"entries": n, "samples": [...]}}
    clock: StepClock


def reconcile_project_table(session: Session, scope: list[str] | None) -> ProjectRun:
    """Make project_conversations exact, or only the links of the conversations in `scope` (see the module's steps)."""
    clock = StepClock()
    keyed = bool(link_foreign_keys(session, PROJECT_LINKS_TABLE))
    if scope and not keyed:
        LOG.info(f"{PROJECT_LINKS_TABLE}: not filled yet, so the whole table instead of the run's scope")
        scope = None
    if scope:
        mode = "scoped"
    elif not keyed and link_table_is_empty(session, PROJECT_LINKS_TABLE):
        mode = "bulk"
    else:
        mode = "diff"
    filled = 0 if keyed else fill_project_links(session)
    counts, projects = in_retried_transaction(
        session, PROJECT_LINKS_TABLE, lambda: reconcile_project_scope(session, scope)
    )
    counts["rows_inserted"] += filled
    keys = ensure_foreign_keys(session, PROJECT_LINKS_TABLE, PROJECT_LINKS_FOREIGN_KEYS)
    # Counting the whole table, or comparing every project's array, would cost more than a scoped run itself.
    row_count = None if scope else count_rows(session.conn, session.source_schema, PROJECT_LINKS_TABLE)
    drift = project_array_inconsistencies(session, projects)
    clock.read_sql(session.conn)
    return ProjectRun(mode, counts, keys, row_count, scope, projects, drift, clock)


def fill_project_links(session: Session) -> int:
    """Insert every missing project link, by conversations' days, FILL_CHUNK_CONVERSATIONS at most per
    transaction: a first fill (or what a killed one left) reaches a logical subscriber in bounded transactions."""
    chunks = day_chunks(session, "conversations", BEGINNING_OF_TIME, END_OF_TIME, FILL_CHUNK_CONVERSATIONS)
    progress = Progress(
        LOG.info, PROJECT_LINKS_TABLE, total_steps=sum(chunk.conversations for chunk in chunks), unit="conversations"
    )
    inserted = 0
    statement = session.sql(
        "links/insert_project_links.sql", defined_rows=session.sql("links/select_project_links.sql")
    )
    for chunk in chunks:
        params = {"start": chunk.start, "end": chunk.end, "only_conversation_ids": None}
        rows = in_retried_transaction(
            session, PROJECT_LINKS_TABLE, lambda params=params: session.execute(statement, params).rowcount
        )
        inserted += rows
        refresh_statistics_after_bulk_write(session, session.source_schema, PROJECT_LINKS_TABLE, rows)
        progress.advance(rows=rows, steps=chunk.conversations)
    return inserted


def reconcile_project_scope(session: Session, scope: list[str] | None) -> tuple[dict[str, int], list[str] | None]:
    """In the caller's transaction, the reconcile of the whole table, or of the links of `scope` with the projects
    they involve before it (whose arrays the run then compares); None for the whole table's."""
    if scope is None:
        return reconcile_project_links(session), None
    projects = projects_of_conversations(session, scope)
    return reconcile_project_links(session, scope), projects


def reconcile_project_links(session: Session, only_conversation_ids: list[str] | None = None) -> dict[str, int]:
    """Make project_conversations exact inside the caller's transaction, or only the links of
    `only_conversation_ids` (a scoped run: every other link is left as it is): its changes found in one statement,
    in parallel for the whole table, then applied in another; returns the counts."""
    whole = only_conversation_ids is None
    session.execute(session.sql("links/set_staging_settings.sql" if whole else "links/set_diff_settings.sql"))
    changes = session.sql(
        "links/select_project_link_changes.sql", defined_rows=session.sql("links/select_project_links.sql")
    )
    params = {"start": BEGINNING_OF_TIME, "end": END_OF_TIME, "only_conversation_ids": only_conversation_ids}
    TimedClientCursor(session.conn).execute(
        session.sql("links/create_project_link_changes.sql", changes=changes), params
    )
    if whole:
        session.execute(session.sql("links/analyze_project_link_changes.sql"))
    cursor = session.conn.cursor(row_factory=namedtuple_row)
    row = cursor.execute(session.sql("links/apply_project_link_changes.sql")).fetchone()
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
