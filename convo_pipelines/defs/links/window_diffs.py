"""A window's diff: its defined pairs against its stored links, applied in one transaction, or, when it changes more than a
batch, by transactions of whole conversations, so that the app never reads a conversation between its old links and
its new ones."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from psycopg import sql

from convo_pipelines.defs.links.front_inserts import insert_pending_links, insert_staged_links
from convo_pipelines.defs.links.link_definitions import front_definition
from convo_pipelines.defs.links.link_storage import (
    link_table_is_empty,
)
from convo_pipelines.defs.links.link_transactions import in_front_transaction
from convo_pipelines.defs.links.tables import (
    FrontLinkTable,
)
from convo_pipelines.defs.links.windows import Chunk, WriteCounts, window_params
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.postgres.timing import TimedClientCursor, counted_as_sql
from convo_pipelines.lib.writing.progress import Progress

# How many changed conversations a window's diff hands to its batches at most, those first in id order; the window
# is then diffed again, which finds the rest. Held as 20 bytes each (the uuid, its count of changes), they take
# 20 MB of the run's memory at most, whatever the number of changes.
CHANGED_CONVERSATIONS_PER_DIFF = 1_000_000


CONVERSATION_BYTES = 16


CHANGE_COUNT_BYTES = 4


CHANGED_CONVERSATIONS_PER_FETCH = 10_000


@dataclass(frozen=True)
class ChangedConversations:
    """The conversations whose links a window's diff found different, in id order, each packed as the 16 bytes of
    its uuid and its number of changed links (4 bytes, big-endian), and whether the diff found more than it handed
    over."""

    packed: bytearray
    more: bool

    def __len__(self) -> int:
        return len(self.packed) // (CONVERSATION_BYTES + CHANGE_COUNT_BYTES)


NOTHING_CHANGED = ChangedConversations(bytearray(), more=False)


def diff_front_window(
    session: Session,
    spec: FrontLinkTable,
    start: datetime,
    end: datetime,
    batch_rows: int | None,
    only_conversation_ids: list[str] | None = None,
    *,
    sliced: bool,
    batch: bool = False,
) -> tuple[WriteCounts, ChangedConversations]:
    """Make the window's links exact inside the caller's transaction: the defined pairs of a window are staged by a
    parallel statement (a scoped run's or a batch's few are computed in place), a second finds the differences, a
    short one deletes and refreshes, a last inserts the missing links. With more than `batch_rows` links to change,
    none is changed: the conversations they belong to are returned instead (at most CHANGED_CONVERSATIONS_PER_DIFF;
    changed_conversations), for make_front_window_exact to make exact in batches of whole conversations. `sliced`
    (the table has its foreign keys) inserts by slices of PENDING_INSERT_SLICE_ROWS. A window's pairs staged in this
    transaction when the table, without foreign keys yet, holds no link in its snapshot are inserted as they are,
    with nothing to diff them against. `batch`: the conversations are a batch of a window whose rows its first diff
    counted. Returns the counts and the changed conversations left to batches (none when it changed everything)."""
    params = window_params(start, end, only_conversation_ids)
    identifiers = {"links": spec.table, "owner": spec.owner_column}
    window_links = session.sql("links/select_front_links_of_window.sql", **identifiers)
    scoped = only_conversation_ids is not None
    if scoped:
        session.execute(session.sql("links/set_diff_settings.sql"))
        definition = front_definition(session, spec, bulk=False)
    else:
        # The window's rows once the diff is applied: exactly its defined pairs.
        in_window = stage_rows(session, front_definition(session, spec), params)
        # A table without foreign keys yet and empty in this snapshot has nothing to compare them with.
        if not sliced and link_table_is_empty(session, spec.table):
            return (
                WriteCounts(rows_inserted=insert_staged_links(session, spec), rows_in_window=in_window),
                NOTHING_CHANGED,
            )
        definition = session.sql("links/select_staged_link_rows.sql", **identifiers)
    differences = session.sql(
        "links/create_front_link_differences.sql", **identifiers, defined_rows=definition, window_links=window_links
    )
    TimedClientCursor(session.conn).execute(differences, params)
    if not scoped:  # a scoped run's or a batch's differences fill a few pages, which the planner prices as they are
        session.execute(session.sql("links/analyze_front_link_differences.sql"))
    missing, lost, stale = session.execute(session.sql("links/count_front_link_differences.sql")).fetchone()
    if batch:  # the window's first diff counted its rows (add_writes)
        in_window = 0
    elif scoped:  # the window's rows once the diff is applied: those it holds now, less the lost, plus the missing
        held = session.execute(session.sql("links/count_front_links_window.sql", window_links=window_links), params)
        in_window = held.fetchone()[0] - lost + missing
    if batch_rows is not None and missing + lost + stale > batch_rows:
        return WriteCounts(rows_in_window=in_window), changed_conversations(session)
    updated, deleted = session.execute(session.sql("links/apply_front_link_differences.sql", **identifiers)).fetchone()
    counts = WriteCounts(rows_updated=updated, rows_deleted=deleted, rows_in_window=in_window)
    slice_rows = PENDING_INSERT_SLICE_ROWS if sliced else None
    counts.rows_inserted = insert_pending_links(session, spec, slice_rows) if missing else 0
    return counts, NOTHING_CHANGED


def changed_conversations(session: Session) -> ChangedConversations:
    """The first CHANGED_CONVERSATIONS_PER_DIFF conversations of the diff (pg_temp.front_link_differences) in id order,
    packed with their numbers of changed links, read a page of rows at a time, and whether there are more."""
    limit = CHANGED_CONVERSATIONS_PER_DIFF
    entry = CONVERSATION_BYTES + CHANGE_COUNT_BYTES
    packed = bytearray()
    # A server-side cursor, closed before the transaction ends; its fetches count as the step's SQL too.
    with counted_as_sql(session.conn), session.conn.cursor(name="changed_front_link_conversations") as changed:
        changed.itersize = CHANGED_CONVERSATIONS_PER_FETCH
        changed.execute(session.sql("links/select_changed_front_link_conversations.sql"), {"conversation_limit": limit})
        for (conversation,) in changed:
            packed += conversation
    more = len(packed) > limit * entry
    del packed[limit * entry :]
    return ChangedConversations(packed, more=more)


def stage_rows(session: Session, rows: sql.Composable, params: dict[str, object]) -> int:
    """Inside the caller's transaction, compute `rows` (an definition query) into pg_temp.link_rows_staged with a
    CREATE TABLE AS, which PostgreSQL runs in parallel; returns how many rows it holds."""
    session.execute(session.sql("links/set_staging_settings.sql"))
    session.execute(session.sql("links/set_hashed_distinct_settings.sql"))
    return TimedClientCursor(session.conn).execute(session.sql("links/stage_link_rows.sql", rows=rows), params).rowcount


# Once the table has its foreign keys, the missing links go in by slices of this many, one statement each,
# retried alone (a savepoint) when the app deleted a person or conversation between the statement's
# snapshot and its foreign-key check: a retry meets only the app's deletes during one short statement, and
# converges. One statement for a whole batch was long enough to meet a delete in almost every attempt
# beside an app that deletes people often, and never converged.
PENDING_INSERT_SLICE_ROWS = 1_000


# A window's changed conversations go in batches of a fraction of a second each, hundreds in a catch-up: their
# progress is logged at most this often.
BATCH_PROGRESS_SECONDS = 5.0


def make_front_window_exact(
    session: Session,
    spec: FrontLinkTable,
    window: Chunk,
    log: Callable[[str], object],
    batch_rows: int | None,
    only_conversation_ids: list[str] | None = None,
) -> WriteCounts:
    """Diff the window in one retried transaction. With more than `batch_rows` links to change, that transaction
    changes none: the changed conversations then go by batches of whole conversations holding about `batch_rows`
    changes (conversation_batches), each a transaction that diffs those conversations again, through the source's
    indexes, and deletes, refreshes and inserts all their links: so the app never reads a conversation between its
    old links and its new ones, and a batch meets what the app changed in them since. Each insert's foreign-key
    checks key-share the linked people (or clients) and conversations until commit, and an app DELETE of one of them
    waits that long. `batch_rows` None: the table has no foreign key yet, and nothing is batched or sliced."""
    sliced = batch_rows is not None

    def diff(
        conversations: list[str] | None, changes_cap: int | None, *, batch: bool = False
    ) -> tuple[WriteCounts, ChangedConversations]:
        return in_front_transaction(
            session,
            spec,
            lambda _owns_table: diff_front_window(
                session, spec, window.start, window.end, changes_cap, conversations, sliced=sliced, batch=batch
            ),
            log,
        )

    counts, changed = diff(only_conversation_ids, batch_rows)
    while len(changed) and batch_rows is not None:
        progress = Progress(
            log,
            f"{spec.table}: changed conversations",
            total_steps=len(changed),
            unit="conversations",
            every_seconds=BATCH_PROGRESS_SECONDS,
        )
        for batch in conversation_batches(changed, batch_rows):
            batch_counts, _ = diff(batch, None, batch=True)
            counts.add_writes(batch_counts)
            progress.advance(rows=batch_counts.rows_written, steps=len(batch))
        if not changed.more:
            break
        # More changed than one diff hands over: the window again, where those just made exact are no longer.
        more_counts, changed = diff(only_conversation_ids, batch_rows)
        counts.add_writes(more_counts)
    return counts


def conversation_batches(changed: ChangedConversations, batch_rows: int) -> Iterator[list[str]]:
    """The changed conversations cut in their order into batches whose changes add up to at most `batch_rows` (a
    conversation with more is a batch of its own): every conversation's changes in one batch. Made one at a time,
    so that only the packed conversations stay in memory."""
    entry = CONVERSATION_BYTES + CHANGE_COUNT_BYTES
    batch: list[str] = []
    in_batch = 0
    for at in range(0, len(changed.packed), entry):
        conversation = str(uuid.UUID(bytes=bytes(changed.packed[at : at + CONVERSATION_BYTES])))
        changes = int.from_bytes(changed.packed[at + CONVERSATION_BYTES : at + entry], "big")
        if batch and in_batch + changes > batch_rows:
            yield batch
            batch, in_batch = [], 0
        batch.append(conversation)
        in_batch += changes
    if batch:
        yield batch
