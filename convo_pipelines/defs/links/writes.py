"""How the link tables are written: windows, chunks, diffs and inserts, in set-based SQL (sql/links/).

Every run makes its slice of a table equal to its definition (docs/contract.md) with set-based SQL
(sql/links/), beside a busy application whose clients may read the tables through logical replication
(Zero) and whose URL may be a transaction pooler's:
- a window is diffed: its defined pairs are staged by a parallel CREATE TEMPORARY TABLE AS, the links that
  lost their support are deleted, stale copies refreshed, and the missing links inserted, in one
  transaction per chunk of consecutive days (bounded in conversations), so links that stay keep their id
  and created_at;
- every write changes rows of the link table itself, in transactions of bounded size, so a logical
  subscriber receives the same row changes in bounded transactions: an empty table without its foreign keys
  (its first fill) is written by slices of about max_fill_slice_links, in conversation order, from pairs
  staged once for the fill's whole range (stage_first_fill), and one a killed fill left by chunks of
  max_fill_chunk_conversations; once it has them, a window with more than max_insert_batch_rows links to
  change changes them in transactions of whole conversations holding about that many, so their foreign-key
  checks never hold the app's people or conversations long;
- a conversation's links change in one transaction, whichever path writes them, so the app never reads a
  conversation between its old links and its new ones;
- then the table's foreign keys are made whole (link_storage.py).
Nothing outlives a transaction on the server: the writers' lock is transaction-level, settings are
SET LOCAL, staging tables are temporary and dropped at commit, but for a first fill's staged pairs: an
unlogged table, which any other writer drops before it writes (in_front_transaction). So every
transaction stands alone: it is exact for its snapshot, another run may interleave, and a killed run
leaves whole transactions.
A transaction that meets a concurrent application change (a person deleted after the statement's
snapshot, a deadlock, a lock timeout) is retried whole; each is idempotent, so the retry is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from convo_pipelines.defs.links.config import FrontLinksConfig
from convo_pipelines.defs.links.first_fill import insert_first_fill_slices, stage_first_fill
from convo_pipelines.defs.links.link_storage import (
    drop_newest_index_of_empty_table,
    link_foreign_keys,
    link_table_is_empty,
)
from convo_pipelines.defs.links.tables import (
    FrontLinkTable,
)
from convo_pipelines.defs.links.window_diffs import make_front_window_exact
from convo_pipelines.defs.links.windows import WriteCounts, WritePlan, chunk_window, count_conversations_by_day
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.progress import Progress
from convo_pipelines.lib.writing.statistics import refresh_statistics_after_bulk_write


def plan_front_writes(
    session: Session,
    spec: FrontLinkTable,
    start: datetime,
    end: datetime,
    config: FrontLinksConfig,
) -> WritePlan:
    """Chunks of at most max_fill_chunk_conversations while the table has no foreign key yet (no insert holds an
    app row, so a chunk inserts all it misses), else of max_chunk_conversations with batches of changed conversations."""
    day_counts = count_conversations_by_day(session, "front_conversations", start, end)
    if link_foreign_keys(session, spec.table):
        return WritePlan(
            "diff", chunk_window(start, end, day_counts, config.max_chunk_conversations), config.max_insert_batch_rows
        )
    mode = "bulk" if link_table_is_empty(session, spec.table) else "diff"
    chunks = chunk_window(start, end, day_counts, config.max_fill_chunk_conversations)
    return WritePlan(mode, chunks, None, config.max_fill_slice_links)


def write_front_chunks(
    session: Session,
    spec: FrontLinkTable,
    plan: WritePlan,
    log: Callable[[str], object],
) -> WriteCounts:
    """Make each chunk exact in its own transactions, logging progress (conversations done, rows, rate, ETA) after each.
    A first fill ("bulk") stages the pairs of its whole range first and inserts them by slices in conversation order, into
    the empty table without its index by owner newest first when it may build it back; the caller ends that
    (end_first_fill) before the foreign keys."""
    staged = None
    if plan.mode == "bulk" and plan.chunks:
        staged = stage_first_fill(session, spec, plan, log)
        if staged is not None:
            drop_newest_index_of_empty_table(session, spec, log)
    totals = WriteCounts()
    if staged is not None:
        filled, whole = insert_first_fill_slices(session, spec, staged, plan.fill_slice_links, log)
        # The fill's slices read nothing of the table they fill: its statistics are gathered once, after them.
        refresh_statistics_after_bulk_write(session, session.source_schema, spec.table, filled.rows_written)
        if whole:
            return filled
        totals.add_writes(filled)  # its rows in the range are counted by the diffs that finish it
    progress = Progress(log, spec.table, total_steps=sum(c.conversations for c in plan.chunks), unit="conversations")
    for chunk in plan.chunks:
        counts = make_front_window_exact(session, spec, chunk, log, plan.batch_rows)
        totals.add(counts)
        # A first fill's next chunks read the table they fill (their windows' links): planned for the empty
        # table its statistics describe, that read scans all of it for every chunk.
        refresh_statistics_after_bulk_write(session, session.source_schema, spec.table, counts.rows_written)
        progress.advance(rows=counts.rows_in_window, steps=chunk.conversations)
    return totals
