"""A Front link table's first fill: its pairs staged once for the whole range in conversation order, then inserted by
slices that each end where a conversation does, each a transaction of its own."""

from __future__ import annotations

import math
from collections.abc import Callable

from psycopg import sql

from convo_pipelines.defs.links.front_inserts import insert_first_fill_links
from convo_pipelines.defs.links.link_definitions import front_definition
from convo_pipelines.defs.links.link_storage import (
    first_fill_staged,
    link_foreign_keys,
    link_table_is_empty,
    take_over_from_first_fill,
)
from convo_pipelines.defs.links.link_transactions import StagedPairs, in_front_transaction, in_retried_transaction
from convo_pipelines.defs.links.tables import (
    FrontLinkTable,
)
from convo_pipelines.defs.links.windows import WriteCounts, WritePlan, window_params
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.postgres.timing import TimedClientCursor
from convo_pipelines.lib.writing.progress import Progress


def stage_first_fill(
    session: Session, spec: FrontLinkTable, plan: WritePlan, log: Callable[[str], object]
) -> StagedPairs | None:
    """Stage the defined pairs of the plan's whole range (stage_front_link_first_fill.sql), numbered in their insert
    order, (conversation, owner), when the table is still empty and without foreign keys; the staged table when this call
    staged it (the run's fill then owns the table: insert_first_fill_slices), else None. Pairs staged earlier are
    dropped first: a killed fill's (its retry stages again rather than diff an empty table by chunks), or a live
    fill's that inserted nothing yet, which then finds its table gone and diffs its range."""
    start, end = plan.chunks[0].start, plan.chunks[-1].end

    def stage() -> StagedPairs | None:
        if link_foreign_keys(session, spec.table) or not link_table_is_empty(session, spec.table):
            return None
        take_over_from_first_fill(session, spec, log)
        set_first_fill_staging_settings(session)
        staged = TimedClientCursor(session.conn).execute(
            first_fill_staging_statement(session, spec), window_params(start, end)
        )
        session.execute(session.sql("links/prepare_front_link_first_fill.sql", first_fill=spec.first_fill_table))
        log(f"{spec.table}: staged the first fill's {staged.rowcount:,} pairs")
        return StagedPairs(first_fill_staged(session, spec), staged.rowcount)

    return in_retried_transaction(session, spec.table, stage, log)


def set_first_fill_staging_settings(session: Session) -> None:
    """Give the rest of the transaction's staging of a first fill parallel workers, memory, and a sorted DISTINCT
    whose order is the one its pairs are numbered in."""
    session.execute(session.sql("links/set_staging_settings.sql"))
    session.execute(session.sql("links/set_sorted_distinct_settings.sql"))


def first_fill_staging_statement(session: Session, spec: FrontLinkTable) -> sql.Composable:
    """The CREATE TABLE AS that stages a first fill's defined pairs (stage_front_link_first_fill.sql)."""
    return session.sql(
        "links/stage_front_link_first_fill.sql",
        owner=spec.owner_column,
        first_fill=spec.first_fill_table,
        rows=front_definition(session, spec),
    )


def insert_first_fill_slices(
    session: Session, spec: FrontLinkTable, staged: StagedPairs, slice_links: int, log: Callable[[str], object]
) -> tuple[WriteCounts, bool]:
    """Insert the pairs this run's first fill staged, about `slice_links` at a time in their staged order, each slice a
    transaction of its own that ends with a conversation; returns the counts and whether it inserted them all, which
    it stops short of once another writer took the table over (its staged pairs gone): the caller then diffs the
    range. In that order, (conversation, owner), the primary key and the unique pair grow at their right edge."""
    counts = WriteCounts()
    progress = Progress(
        log, spec.table, total_steps=math.ceil(staged.pairs / slice_links), unit=f"slices of {slice_links:,} links"
    )
    after = 0
    while after < staged.pairs:
        params = {"after_position": after, "slice_links": slice_links}
        inserted = in_front_transaction(
            session,
            spec,
            lambda owns_table, params=params: insert_first_fill_links(session, spec, params) if owns_table else None,
            log,
            staged=staged,
        )
        if inserted is None:
            log(f"{spec.table}: another run wrote the table during its first fill: the fill diffs its range instead")
            return counts, False
        counts.rows_inserted += inserted
        counts.rows_in_window += inserted
        if not inserted:
            raise RuntimeError(f"{spec.table}: a first fill's slice after position {after:,} inserted no link")
        # Positions run from 1 without a gap, and a slice inserts every pair of its range: the next starts after it.
        after += inserted
        progress.advance(rows=inserted)
    return counts, True
