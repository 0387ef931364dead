"""A diff of a Front link table's window: its defined pairs against its stored links, applied inside the caller's
transaction; and, when a diff finds more changes than a transaction should hold, the changed conversations made
exact by batches of whole conversations, so that the app never reads a conversation between its old links and its
new ones. The runs that diff (window_run.py, scoped_run.py, and a first fill another writer took over) call these.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dagster as dg
from psycopg import sql

from convo_pipelines.defs.links.front_inserts import insert_pending_links
from convo_pipelines.defs.links.table_state.indexes import in_front_transaction
from convo_pipelines.defs.links.tables import FrontLinkTable, front_definition
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

# Once the table has its foreign keys, the missing links go in by slices of this many, one statement each,
# retried alone (a savepoint) when the app deleted a person or conversation between the statement's
# snapshot and its foreign-key check: a retry meets only the app's deletes during one short statement, and
# converges. One statement for a whole batch is long enough to meet a delete in almost every attempt
# beside an app that deletes people often, and never converges.
PENDING_INSERT_SLICE_ROWS = 1_000

# A window's changed conversations go in batches of a fraction of a second each, hundreds in a catch-up: their
# progress is logged at most this often.
BATCH_PROGRESS_SECONDS = 5.0

LOG = dg.get_dagster_logger(__name__)


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


@dataclass(frozen=True)
class Differences:
    """How many links of a window pg_temp.front_link_differences holds to insert, to delete and to refresh."""

    missing: int
    lost: int
    stale: int

    @property
    def total(self) -> int:
        return self.missing + self.lost + self.stale


def find_differences(
    session: Session, spec: FrontLinkTable, defined_rows: sql.Composable, params: dict[str, object], *, analyze: bool
) -> Differences:
    """Inside the caller's transaction, compare `defined_rows` with the window's stored links into
    pg_temp.front_link_differences; `analyze` a large one, whose pages the planner would misprice."""
    identifiers = {"links": spec.table, "owner": spec.owner_column}
    differences = session.sql(
        "links/create_front_link_differences.sql",
        **identifiers,
        defined_rows=defined_rows,
        window_links=session.sql("links/select_front_links_of_window.sql", **identifiers),
    )
    TimedClientCursor(session.conn).execute(differences, params)
    if analyze:
        session.execute(session.sql("links/analyze_front_link_differences.sql"))
    return Differences(*session.execute(session.sql("links/count_front_link_differences.sql")).fetchone())


def apply_differences(session: Session, spec: FrontLinkTable, differences: Differences, *, sliced: bool) -> WriteCounts:
    """Inside the caller's transaction: delete the lost links, refresh the stale, insert the missing (by slices of
    PENDING_INSERT_SLICE_ROWS when `sliced`: the table has its foreign keys)."""
    identifiers = {"links": spec.table, "owner": spec.owner_column}
    updated, deleted = session.execute(session.sql("links/apply_front_link_differences.sql", **identifiers)).fetchone()
    slice_rows = PENDING_INSERT_SLICE_ROWS if sliced else None
    inserted = insert_pending_links(session, spec, slice_rows) if differences.missing else 0
    return WriteCounts(rows_inserted=inserted, rows_updated=updated, rows_deleted=deleted)


def diff_named_conversations(
    session: Session,
    spec: FrontLinkTable,
    window: Chunk,
    conversation_ids: list[str],
    batch_rows: int | None,
    *,
    count_window: bool,
) -> tuple[WriteCounts, ChangedConversations]:
    """Inside the caller's transaction, make the links of the named conversations of `window` exact, their defined
    pairs computed in place through the source's indexes; with more than `batch_rows` changes, change none and
    return the changed conversations instead. `count_window`: report how many links the conversations hold once
    exact (a batch's window was counted by its first diff)."""
    params = window_params(window.start, window.end, conversation_ids)
    session.execute(session.sql("links/set_diff_settings.sql"))
    differences = find_differences(session, spec, front_definition(session, spec, bulk=False), params, analyze=False)
    in_window = held_links(session, spec, params) - differences.lost + differences.missing if count_window else 0
    if batch_rows is not None and differences.total > batch_rows:
        return WriteCounts(rows_in_window=in_window), changed_conversations(session)
    counts = apply_differences(session, spec, differences, sliced=True)
    counts.rows_in_window = in_window
    return counts, NOTHING_CHANGED


def held_links(session: Session, spec: FrontLinkTable, params: dict[str, object]) -> int:
    """How many links the named conversations of the window hold now."""
    window_links = session.sql("links/select_front_links_of_window.sql", links=spec.table, owner=spec.owner_column)
    return session.execute(
        session.sql("links/count_front_links_window.sql", window_links=window_links), params
    ).fetchone()[0]


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


def make_exact_by_batches(
    session: Session,
    spec: FrontLinkTable,
    window: Chunk,
    changed: ChangedConversations,
    batch_rows: int,
    diff_again: Callable[[], tuple[WriteCounts, ChangedConversations]],
) -> WriteCounts:
    """Make the changed conversations exact by batches of whole conversations holding about `batch_rows` changes,
    each a transaction that diffs them again and deletes, refreshes and inserts all their links, so a batch meets
    what the app changed in them since. Each insert's foreign-key checks key-share the linked people (or clients)
    and conversations until commit, and an app DELETE of one of them waits that long. When the diff found more
    than it handed over, `diff_again` (the caller's diff of its window, in a transaction) finds the rest."""
    counts = WriteCounts()
    while len(changed):
        progress = Progress(
            LOG.info,
            f"{spec.table}: changed conversations",
            total_steps=len(changed),
            unit="conversations",
            every_seconds=BATCH_PROGRESS_SECONDS,
        )
        for batch in conversation_batches(changed, batch_rows):
            batch_counts, _ = in_front_transaction(
                session,
                spec,
                lambda _owns, batch=batch: diff_named_conversations(
                    session, spec, window, batch, None, count_window=False
                ),
            )
            counts.add_writes(batch_counts)
            progress.advance(rows=batch_counts.rows_written, steps=len(batch))
        if not changed.more:
            break
        more_counts, changed = diff_again()
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
