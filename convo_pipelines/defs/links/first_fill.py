"""A Front link table's first fill: the table empty and without its foreign keys. Read top to bottom, in the order
the run does it:

1. cut the window into chunks of consecutive days (only their bounds are used: where the conversations are);
2. stage the defined pairs of the whole range once, in one parallel statement, numbered in their insert order
   (conversation, owner), in an unlogged table of the analytics schema: while it exists, the fill owns the table;
3. drop the index by owner newest first, when the role may build it back (one sorted build beats keeping it up row
   by row), unless the run keeps it for the app's newest-first page (keep_newest_index_during_fill);
4. insert the staged pairs by slices of about max_fill_slice_links, each a transaction of its own ending with a
   conversation, so a logical subscriber receives bounded transactions and the primary key and the unique pair grow
   at their right edge; no foreign key holds an app row yet;
5. gather the table's statistics once;
6. end the fill's hold: drop the staged pairs and build the index back;
7. add the foreign keys (NOT VALID, orphans removed, validated), and report.

Another writer may take the table over at any step (a scoped run, a re-run): it drops the staged pairs, and the fill
then makes the rest of its range exact as a window run does (window_run.py). A killed fill leaves whole
transactions and its staged pairs: the next fill of the same window goes on with its slices from the first pair its
table lacks, then diffs the window once for what the app wrote since they were staged (step 2 replaced by that
resumption, step 7 preceded by that diff).
"""

from __future__ import annotations

import math

import dagster as dg

from convo_pipelines.defs.links.config import FrontLinksConfig
from convo_pipelines.defs.links.front_inserts import insert_first_fill_links
from convo_pipelines.defs.links.run_outcome import FrontRun, finish_front_run
from convo_pipelines.defs.links.table_state.indexes import (
    StagedPairs,
    drop_newest_index_of_empty_table,
    end_first_fill,
    first_fill_staged,
    held_staged_pairs,
    hold_staged_pairs,
    in_front_transaction,
    take_over_from_first_fill,
)
from convo_pipelines.defs.links.table_state.keys import link_foreign_keys
from convo_pipelines.defs.links.table_state.lock import in_retried_transaction, link_table_is_empty
from convo_pipelines.defs.links.tables import FrontLinkTable, front_definition
from convo_pipelines.defs.links.window_run import make_chunks_exact
from convo_pipelines.defs.links.windows import Chunk, RunWindow, WriteCounts, day_chunks, joined_chunks, window_params
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.postgres.timing import StepClock, TimedClientCursor
from convo_pipelines.lib.writing.progress import Progress
from convo_pipelines.lib.writing.statistics import refresh_statistics_after_bulk_write

LOG = dg.get_dagster_logger(__name__)

# Staged pairs of more slices than this get a block-range index and statistics for their slices' reads (93 ms for
# 146,486 pairs); a fill of fewer reads its few pages whole.
INDEXED_STAGING_SLICES = 2


def never_filled(session: Session, spec: FrontLinkTable) -> bool:
    """True while `spec.table` has none of its foreign keys and no link: a whole-window run then is its first fill."""
    return not link_foreign_keys(session, spec.table) and link_table_is_empty(session, spec.table)


def first_fill_due(session: Session, spec: FrontLinkTable) -> bool:
    """True while `spec.table` has none of its foreign keys and either no link or a killed fill's staged pairs: a
    run then is its first fill, or goes on with the killed one's slices when its window is the same."""
    if link_foreign_keys(session, spec.table):
        return False
    return link_table_is_empty(session, spec.table) or held_staged_pairs(session, spec) is not None


def fill_front_table(session: Session, spec: FrontLinkTable, window: RunWindow, config: FrontLinksConfig) -> FrontRun:
    """Fill `spec.table`, empty or holding a killed fill's slices, with the window's links (see the module's steps)."""
    clock = StepClock()
    chunks = day_chunks(session, "front_conversations", window.start, window.end, config.max_fill_chunk_conversations)
    staged, inserted = staged_or_resumed(session, spec, chunks, config.max_fill_slice_links)
    resumed = inserted > 0
    counts = WriteCounts()
    if staged is not None:
        if not config.keep_newest_index_during_fill:
            drop_newest_index_of_empty_table(session, spec)
        counts, whole = insert_first_fill_slices(session, spec, staged, config.max_fill_slice_links, inserted)
        refresh_statistics_after_bulk_write(session, session.source_schema, spec.table, counts.rows_written)
        if resumed or not whole:
            counts.rows_in_window = 0  # the diffs that finish the range count its rows
    count_chunks = not window.holds_every_conversation
    # After all of a killed fill's slices: one diff of the window, its few differences (what the app wrote since the
    # staging) by batches of whole conversations. Else all of a chunk's at once: no foreign key holds app rows yet.
    since_staging = resumed and whole
    if staged is None or not whole or since_staging:
        diffed = joined_chunks(chunks, config.max_chunk_conversations) if since_staging else chunks
        batch_rows = config.max_insert_batch_rows if since_staging else None
        counts.add(make_chunks_exact(session, spec, diffed, batch_rows, count_chunks))
    end_first_fill(session, spec)
    return finish_front_run(session, spec, "bulk", len(chunks), counts, clock, in_window_is_table=not count_chunks)


def staged_or_resumed(
    session: Session, spec: FrontLinkTable, chunks: list[Chunk], slice_links: int
) -> tuple[StagedPairs | None, int]:
    """The pairs the fill inserts, and how many of them the table holds already: a killed fill's of the same window,
    gone on with, else the whole range's, staged now (None: no chunk, or a table no longer empty)."""
    if not chunks:
        return None, 0
    return resume_first_fill(session, spec, chunks) or (stage_first_fill(session, spec, chunks, slice_links), 0)


def stage_first_fill(
    session: Session, spec: FrontLinkTable, chunks: list[Chunk], slice_links: int
) -> StagedPairs | None:
    """Stage the defined pairs of the chunks' whole range (stage_front_link_first_fill.sql), numbered in their insert
    order, indexed by position when they make more than INDEXED_STAGING_SLICES slices of `slice_links`, when the
    table is still empty and without foreign keys; the staged table when this call staged it, else
    None. Pairs staged earlier are dropped first: a killed fill's (its retry stages again rather than diff an empty
    table by chunks), or a live fill's that inserted nothing yet, which then finds its table gone and diffs its
    range."""
    params = window_params(chunks[0].start, chunks[-1].end)

    def stage() -> StagedPairs | None:
        if not never_filled(session, spec):
            return None
        take_over_from_first_fill(session, spec)
        set_first_fill_staging_settings(session)
        staged = TimedClientCursor(session.conn).execute(first_fill_staging_statement(session, spec), params)
        session.execute(session.sql("links/revoke_front_link_first_fill.sql", first_fill=spec.first_fill_table))
        if staged.rowcount > INDEXED_STAGING_SLICES * slice_links:
            session.execute(session.sql("links/index_front_link_first_fill.sql", first_fill=spec.first_fill_table))
        LOG.info(f"{spec.table}: staged the first fill's {staged.rowcount:,} pairs")
        return hold_staged_pairs(
            session, spec, first_fill_staged(session, spec), staged.rowcount, staged_window(chunks)
        )

    return in_retried_transaction(session, spec.table, stage)


def staged_window(chunks: list[Chunk]) -> tuple[str, str]:
    """The window [start, end) a first fill of `chunks` stages the pairs of, as ISO stamps."""
    return chunks[0].start.isoformat(), chunks[-1].end.isoformat()


def resume_first_fill(session: Session, spec: FrontLinkTable, chunks: list[Chunk]) -> tuple[StagedPairs, int] | None:
    """The pairs a killed first fill of the same window staged, now held by this run, and how many of them its
    committed slices inserted (select_first_fill_slices_inserted.sql), when the table holds exactly those and no
    foreign key yet: the fill goes on from there. None otherwise: no such pairs, another window's, pairs this role may
    not hold (held_staged_pairs; it takes the table over instead), or an empty table, which stages again."""

    def resume() -> tuple[StagedPairs, int] | None:
        held = held_staged_pairs(session, spec)
        if held is None or held.window != staged_window(chunks) or link_foreign_keys(session, spec.table):
            return None
        statement = session.sql(
            "links/select_first_fill_slices_inserted.sql", links=spec.table, first_fill=spec.first_fill_table
        )
        row = session.execute(statement).fetchone()
        if row is None:
            return None
        LOG.info(f"{spec.table}: going on with a killed first fill's slices after its {row[0]:,} links")
        return hold_staged_pairs(session, spec, held.oid, held.pairs, held.window), row[0]

    return in_retried_transaction(session, spec.table, resume)


def set_first_fill_staging_settings(session: Session) -> None:
    """Give the rest of the transaction's staging of a first fill parallel workers, memory, and a sorted DISTINCT
    whose order is the one its pairs are numbered in."""
    session.execute(session.sql("links/set_staging_settings.sql"))
    session.execute(session.sql("links/set_sorted_distinct_settings.sql"))


def first_fill_staging_statement(session: Session, spec: FrontLinkTable):
    """The CREATE TABLE AS that stages a first fill's defined pairs (stage_front_link_first_fill.sql)."""
    return session.sql(
        "links/stage_front_link_first_fill.sql",
        owner=spec.owner_column,
        first_fill=spec.first_fill_table,
        rows=front_definition(session, spec),
    )


def insert_first_fill_slices(
    session: Session, spec: FrontLinkTable, staged: StagedPairs, slice_links: int, inserted_before: int = 0
) -> tuple[WriteCounts, bool]:
    """Insert the pairs this run's first fill staged (or holds after a killed one), after the first
    `inserted_before`, about `slice_links` at a time in their staged order, each slice a transaction of its own that
    ends with a conversation; returns the counts and whether it inserted them all, which it stops short of once
    another writer took the table over (its staged pairs gone, or held by another run)."""
    counts = WriteCounts()
    slices = math.ceil((staged.pairs - inserted_before) / slice_links)
    progress = Progress(LOG.info, spec.table, total_steps=slices, unit=f"slices of {slice_links:,} links")
    after = inserted_before
    while after < staged.pairs:
        params = {"after_position": after, "slice_links": slice_links}
        inserted = in_front_transaction(
            session,
            spec,
            lambda owns_table, params=params: insert_first_fill_links(session, spec, params) if owns_table else None,
            staged=staged,
        )
        if inserted is None:
            LOG.info(
                f"{spec.table}: another run wrote the table during its first fill: the fill diffs its range instead"
            )
            return counts, False
        if not inserted:
            raise RuntimeError(f"{spec.table}: a first fill's slice after position {after:,} inserted no link")
        counts.rows_inserted += inserted
        counts.rows_in_window += inserted
        # Positions run from 1 without a gap, and a slice inserts every pair of its range: the next starts after it.
        after += inserted
        progress.advance(rows=inserted)
    return counts, True
