"""A window of a Front link table made exact: a range re-run, the nightly reconcile, a catch-up after the app wrote
beside a fill, and the finish of a fill that was killed. Read top to bottom, in the order the run does it:

1. cut the window into chunks of consecutive days, bounded in conversations (smaller while the table has no
   foreign key yet: each chunk's transaction then inserts all it misses at once, and a logical subscriber receives
   bounded transactions);
2. for each chunk, one transaction: find how the stored links differ from the chunk's definition in one parallel
   statement (its pairs as the join gives them, full-joined with the stored links; only the differences deduped),
   delete the lost, refresh the stale and insert the missing, so links that stay keep their id and created_at;
   with more changes than a batch, hand the changed conversations to batches of whole conversations instead
   (link_diff.py, diff_batches.py). A chunk of a table that holds no link and no foreign key yet stages its pairs
   with a parallel CREATE TABLE AS and inserts them;
3. end any first fill's hold on the table (its staged pairs dropped, its index by owner built back);
4. make the foreign keys whole, and report. A window of every conversation takes its links' count from the table's
   count, which reads the table alone, where counting each chunk's links joins them with their conversations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from convo_pipelines.defs.links.config import FrontLinksConfig
from convo_pipelines.defs.links.diff_batches import make_exact_by_batches
from convo_pipelines.defs.links.front_inserts import insert_staged_links
from convo_pipelines.defs.links.held_differences import NOTHING_CHANGED, HeldDifferences
from convo_pipelines.defs.links.link_diff import diff_and_apply
from convo_pipelines.defs.links.run_outcome import FrontRun, finish_front_run
from convo_pipelines.defs.links.table_state.indexes import end_first_fill, in_front_transaction
from convo_pipelines.defs.links.table_state.keys import link_foreign_keys
from convo_pipelines.defs.links.table_state.lock import link_table_is_empty
from convo_pipelines.defs.links.tables import FrontLinkTable, front_definition
from convo_pipelines.defs.links.windows import Chunk, RunWindow, WriteCounts, day_chunks, window_params
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.postgres.timing import StepClock, TimedClientCursor
from convo_pipelines.lib.writing.progress import Progress
from convo_pipelines.lib.writing.statistics import refresh_statistics_after_bulk_write

LOG = dg.get_dagster_logger(__name__)

# Up to this many conversations, a chunk's staging dedups its pairs sorted: at 1,000,000 conversations of one to
# three messages, each process's sort takes about 155 MB, within set_staging_settings.sql's work_mem, and the
# staging took 0.63 to 0.75 times the hashed one's time; a larger chunk's sorts would spill to disk.
SORTED_STAGING_CONVERSATIONS = 1_000_000


def make_window_exact(session: Session, spec: FrontLinkTable, window: RunWindow, config: FrontLinksConfig) -> FrontRun:
    """Make the window's slice of `spec.table` equal to its definition, chunk by chunk (see the module's steps)."""
    clock = StepClock()
    keyed = bool(link_foreign_keys(session, spec.table))
    max_conversations = config.max_chunk_conversations if keyed else config.max_fill_chunk_conversations
    chunks = day_chunks(session, "front_conversations", window.start, window.end, max_conversations)
    count_chunks = not window.holds_every_conversation
    counts = make_chunks_exact(session, spec, chunks, config.max_insert_batch_rows if keyed else None, count_chunks)
    end_first_fill(session, spec)
    return finish_front_run(session, spec, "diff", len(chunks), counts, clock, in_window_is_table=not count_chunks)


def make_chunks_exact(
    session: Session, spec: FrontLinkTable, chunks: list[Chunk], batch_rows: int | None, count_chunks: bool
) -> WriteCounts:
    """Make each chunk exact in its own transactions, logging progress (conversations done, rows written, rate, ETA)
    after each. `batch_rows` None: the table has no foreign key yet, and a chunk changes all its links at once.
    `count_chunks`: count each chunk's links once exact."""
    totals = WriteCounts()
    progress = Progress(LOG.info, spec.table, total_steps=sum(c.conversations for c in chunks), unit="conversations")
    for chunk in chunks:
        counts = make_chunk_exact(session, spec, chunk, batch_rows, count_chunks)
        totals.add(counts)
        # A fill's next chunks read the table they fill (their windows' links): planned for the empty table its
        # statistics describe, that read scans all of it for every chunk.
        refresh_statistics_after_bulk_write(session, session.source_schema, spec.table, counts.rows_written)
        progress.advance(rows=counts.rows_written, steps=chunk.conversations)
    return totals


def make_chunk_exact(
    session: Session, spec: FrontLinkTable, chunk: Chunk, batch_rows: int | None, count_chunk: bool
) -> WriteCounts:
    """Diff the chunk in one retried transaction; its changed conversations by batches when they are too many."""

    def diff() -> tuple[WriteCounts, HeldDifferences]:
        return in_front_transaction(
            session, spec, lambda _owns: diff_chunk(session, spec, chunk, batch_rows, count_chunk)
        )

    counts, changed = diff()
    if len(changed) and batch_rows is not None:
        counts.add_writes(make_exact_by_batches(session, spec, chunk, changed, batch_rows, diff))
    return counts


def diff_chunk(
    session: Session, spec: FrontLinkTable, chunk: Chunk, batch_rows: int | None, count_chunk: bool
) -> tuple[WriteCounts, HeldDifferences]:
    """Inside the caller's transaction: find the chunk's differences in one parallel statement and apply them, or,
    with more than `batch_rows` of them, return the changed conversations. A table without foreign keys that holds
    no link in this snapshot takes the chunk's staged pairs as they are, with nothing to diff them against."""
    params = window_params(chunk.start, chunk.end)
    if batch_rows is None and link_table_is_empty(session, spec.table):
        with staged_defined_pairs(session, spec, chunk, params) as in_window:
            inserted = insert_staged_links(session, spec)
        return WriteCounts(rows_inserted=inserted, rows_in_window=in_window), NOTHING_CHANGED
    session.execute(session.sql("links/set_staging_settings.sql"))
    joined = front_definition(session, spec, joined=True)
    keyed = batch_rows is not None
    return diff_and_apply(session, spec, joined, params, batch_rows, large=True, keyed=keyed, count_window=count_chunk)


@contextmanager
def staged_defined_pairs(
    session: Session, spec: FrontLinkTable, chunk: Chunk, params: dict[str, object]
) -> Iterator[int]:
    """Inside the caller's transaction, compute the chunk's defined pairs into {analytics}.{window_staged} with a
    CREATE TABLE AS, which PostgreSQL runs in parallel, for the block (how many it holds) to insert into a table that
    holds none of its links; dropped after it. A chunk of up to SORTED_STAGING_CONVERSATIONS dedups them sorted, in
    every worker; a larger one hashed, in the leader."""
    identifiers = {"window_staged": spec.window_staged_table}
    session.execute(session.sql("links/set_staging_settings.sql"))
    sorted_distinct = chunk.conversations <= SORTED_STAGING_CONVERSATIONS
    session.execute(
        session.sql(
            "links/set_sorted_distinct_settings.sql" if sorted_distinct else "links/set_hashed_distinct_settings.sql"
        )
    )
    statement = session.sql("links/stage_link_rows.sql", rows=front_definition(session, spec), **identifiers)
    staged = TimedClientCursor(session.conn).execute(statement, params).rowcount
    session.execute(session.sql("links/analyze_front_link_window_staged.sql", **identifiers))
    yield staged
    session.execute(session.sql("links/drop_front_link_window_staged.sql", **identifiers))
