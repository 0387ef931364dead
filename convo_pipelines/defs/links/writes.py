"""How the link tables are written: windows, chunks, diffs and inserts, in set-based SQL (sql/links/).

Every run makes its slice of a table equal to its definition (docs/contract.md) with set-based SQL
(sql/links/), beside a busy application whose clients may read the tables through logical replication
(Zero) and whose URL may be a transaction pooler's:
- a window is diffed: its oracle pairs are staged by a parallel CREATE TEMPORARY TABLE AS, the links that
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

import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVar

from psycopg import sql
from psycopg.rows import namedtuple_row

from convo_pipelines.defs.checks import SAMPLE_LIMIT
from convo_pipelines.defs.links.config import FILL_CHUNK_CONVERSATIONS, FILL_SLICE_LINKS, FrontLinksConfig
from convo_pipelines.defs.links.link_storage import (
    drop_newest_index_of_empty_table,
    first_fill_staged,
    link_foreign_keys,
    link_table_is_empty,
    lock_link_table,
    take_over_from_first_fill,
)
from convo_pipelines.defs.links.tables import (
    BEGINNING_OF_TIME,
    END_OF_TIME,
    GUARANTEEING_FOREIGN_KEYS_SQL,
    GUARANTEEING_UNIQUE_INDEX_SQL,
    PROJECT_LINKS_TABLE,
    FrontLinkTable,
    ProvenJoin,
)
from convo_pipelines.lib.progress import Progress
from convo_pipelines.lib.retries import FOREIGN_KEY_VIOLATION, retry_concurrent_changes, retry_in_savepoint
from convo_pipelines.lib.session import Session
from convo_pipelines.lib.statistics import refresh_statistics_after_bulk_write
from convo_pipelines.lib.timing import TimedClientCursor, counted_as_sql
from convo_pipelines.lib.transactions import pipeline_transaction

# The problem kinds of check_project_array_consistency.sql, in its order.
ARRAY_DRIFT_KINDS = ("stale", "mismatched", "missing")
T = TypeVar("T")


@dataclass(frozen=True)
class Chunk:
    """A slice [start, end) of a run's window and how many conversations it holds."""

    start: datetime
    end: datetime
    conversations: int


@dataclass
class WriteCounts:
    rows_inserted: int = 0
    rows_deleted: int = 0
    rows_in_window: int = 0
    rows_updated: int = 0

    def add(self, other: "WriteCounts") -> None:
        """Add another window's counts (its rows in window included)."""
        self.add_writes(other)
        self.rows_in_window += other.rows_in_window

    @property
    def rows_written(self) -> int:
        return self.rows_inserted + self.rows_updated + self.rows_deleted

    def add_writes(self, other: "WriteCounts") -> None:
        """Add the writes of another transaction over this window (its rows in window are already counted)."""
        self.rows_inserted += other.rows_inserted
        self.rows_updated += other.rows_updated
        self.rows_deleted += other.rows_deleted


# ---------------------------------------------------------------------------------------------
# Windows and chunks


def chunk_window(
    start: datetime, end: datetime, day_counts: list[tuple[date, int]], max_conversations: int
) -> list[Chunk]:
    """Cut [start, end) at the starts of its UTC days into chunks of consecutive days holding at most
    `max_conversations` conversations each (a day above the cap alone). Days with none belong to a neighbour; a
    window with none gives no chunk."""
    chunks: list[Chunk] = []
    chunk_start, in_chunk = start, 0
    for day, conversations in day_counts:
        if in_chunk and in_chunk + conversations > max_conversations:
            cut = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            chunks.append(Chunk(chunk_start, cut, in_chunk))
            chunk_start, in_chunk = cut, 0
        in_chunk += conversations
    if in_chunk:
        chunks.append(Chunk(chunk_start, end, in_chunk))
    return chunks


# ---------------------------------------------------------------------------------------------
# Shared SQL steps


def in_retried_transaction(
    session: Session,
    table: str,
    work: Callable[[], T],
    log: Callable[[str], object],
) -> T:
    """Run `work` in one transaction holding the table's writer lock, again from the start when the
    application changed something under it (a person deleted after the snapshot fails the insert of a
    link to them: the retry's snapshot no longer has that person)."""

    def attempt() -> T:
        with pipeline_transaction(session.conn):
            lock_link_table(session, table)
            return work()

    return retry_concurrent_changes(attempt, what=table, log=log, also_retry=frozenset({FOREIGN_KEY_VIOLATION}))


def in_front_transaction(
    session: Session,
    spec: FrontLinkTable,
    work: Callable[[bool], T],
    log: Callable[[str], object],
    *,
    staged: "StagedPairs | None" = None,
) -> T:
    """in_retried_transaction for a Front link table, which it first takes over from a first fill (its staged
    pairs dropped, its index built back), unless they are `staged`, this run's own fill's. `work` is told whether
    the run still owns the table as its first fill: this run staged the pairs while the table was empty, the same
    table (by oid) still exists, so no other writer has written since, and the fill's slices never overlap."""

    def work_on_table() -> T:
        if staged is not None and first_fill_staged(session, spec) == staged.oid:
            return work(True)
        take_over_from_first_fill(session, spec, log)
        return work(False)

    return in_retried_transaction(session, spec.table, work_on_table, log)


def end_first_fill(session: Session, spec: FrontLinkTable, log: Callable[[str], object]) -> None:
    """Drop a first fill's staged pairs and build the secondary index it dropped, if any, in a transaction of their
    own: a first fill's last write, and a whole-window run's with no chunk to write (which met no transaction that
    would have)."""
    in_retried_transaction(session, spec.table, lambda: take_over_from_first_fill(session, spec, log), log)


@dataclass(frozen=True)
class StagedPairs:
    """A first fill's staged pairs: the oid of the table this run staged them in, and how many."""

    oid: int
    pairs: int


def stage_first_fill(
    session: Session, spec: FrontLinkTable, plan: "WritePlan", log: Callable[[str], object]
) -> StagedPairs | None:
    """Stage the oracle pairs of the plan's whole range (stage_front_link_first_fill.sql), numbered in their insert
    order, (conversation, owner), when the table is still empty and without foreign keys; the staged table when this call
    staged it (the run's fill then owns the table: insert_first_fill_slices), else None. Pairs staged earlier are
    dropped first: a killed fill's (its retry stages again rather than diff an empty table by chunks), or a live
    fill's that inserted nothing yet, which then finds its table gone and diffs its range."""
    start, end = plan.chunks[0].start, plan.chunks[-1].end
    identifiers = {"owner": spec.owner_column, "first_fill": spec.first_fill_table}

    def stage() -> StagedPairs | None:
        if link_foreign_keys(session, spec.table) or not link_table_is_empty(session, spec.table):
            return None
        take_over_from_first_fill(session, spec, log)
        session.execute(session.sql("links/set_staging_settings.sql"))
        rows = session.sql("links/stage_front_link_first_fill.sql", **identifiers, rows=front_oracle(session, spec))
        staged = TimedClientCursor(session.conn).execute(rows, window_params(start, end))
        session.execute(session.sql("links/prepare_front_link_first_fill.sql", first_fill=spec.first_fill_table))
        log(f"{spec.table}: staged the first fill's {staged.rowcount:,} pairs")
        return StagedPairs(first_fill_staged(session, spec), staged.rowcount)

    return in_retried_transaction(session, spec.table, stage, log)


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


# ---------------------------------------------------------------------------------------------
# Front link tables (people, clients)


def front_oracle(session: Session, spec: FrontLinkTable, *, bulk: bool = True) -> sql.Composed:
    """The oracle of `spec`: the pairs its window should hold. For a bulk read (a first fill, a window's diff),
    its ProvenJoin is left out when the source's validated foreign key proves it needless; a scoped run's
    few conversations keep it, which costs less than asking the catalog."""
    join = spec.proven_join
    if join is None:
        return session.sql(spec.oracle_file)
    proven = bulk and source_key_is_validated(session, join)
    # Proven: the join is bound to nothing, since the source's validated key proves every referenced row exists.
    bound = sql.SQL("") if proven else session.sql(join.join_sql)
    return session.sql(spec.oracle_file, **{join.placeholder: bound})


def source_key_is_validated(session: Session, join: ProvenJoin) -> bool:
    """True when `join.source_table.column` has a validated foreign key to `join.referenced_table`'s id, its
    triggers enabled: PostgreSQL's own proof that every non-null value is an existing row's id."""
    keys = session.execute(
        session.sql(GUARANTEEING_FOREIGN_KEYS_SQL),
        {"trust_constraints": True, "source_schema": session.source_schema, "link_table_name": join.source_table},
    ).fetchall()
    # The lookup lists only keys to the referenced table's id.
    return any((column, table) == (join.column, join.referenced_table) for _, column, table in keys)


def front_link_guarantees(session: Session, spec: FrontLinkTable) -> dict[str, str]:
    """{problem: constraint} for each duplicate or orphan problem of `spec.table` its constraints rule out
    now: read once the run's writes and foreign keys are done, and recorded in its materialization
    (GUARANTEES_METADATA), so the duplicate and orphan checks that follow it need not read the catalog again."""
    statement = session.sql(
        "links/select_front_link_guarantees.sql",
        guaranteeing_index=session.sql(GUARANTEEING_UNIQUE_INDEX_SQL),
        guaranteeing_keys=session.sql(GUARANTEEING_FOREIGN_KEYS_SQL),
    )
    params = {"trust_constraints": True, "source_schema": session.source_schema, **spec.constraint_lookup_params()}
    return {problem: verified_by for problem, _, _, verified_by in session.execute(statement, params).fetchall()}


def window_params(start: datetime, end: datetime, only_conversation_ids: list[str] | None = None) -> dict[str, object]:
    """What a Front link table's oracle and its window's links bind: the conversations' created_at window [start, end),
    and the conversations a scoped run or a batch names."""
    return {"start": start, "end": end, "only_conversation_ids": only_conversation_ids}


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
    """Make the window's links exact inside the caller's transaction: the oracle pairs of a window are staged by a
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
        oracle = front_oracle(session, spec, bulk=False)
    else:
        # The window's rows once the diff is applied: exactly its oracle pairs.
        in_window = stage_rows(session, front_oracle(session, spec), params)
        # A table without foreign keys yet and empty in this snapshot has nothing to compare them with.
        if not sliced and link_table_is_empty(session, spec.table):
            return (
                WriteCounts(rows_inserted=insert_staged_links(session, spec), rows_in_window=in_window),
                NOTHING_CHANGED,
            )
        oracle = session.sql("links/select_staged_link_rows.sql", **identifiers)
    differences = session.sql(
        "links/create_front_link_differences.sql", **identifiers, oracle=oracle, window_links=window_links
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
    """Inside the caller's transaction, compute `rows` (an oracle query) into pg_temp.link_rows_staged with a
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

PairBound = tuple[str, str] | None  # (conversation id, owner id); None: open


def insert_pending_links(session: Session, spec: FrontLinkTable, slice_rows: int | None) -> int:
    """Insert the missing links of pg_temp.front_link_differences inside the caller's transaction: in one
    statement (slice_rows None: no foreign key holds app rows yet), else by slices of `slice_rows`."""
    missing = session.sql("links/select_missing_front_links.sql", owner_table=spec.owner_table)
    statement = insert_front_links_statement(session, spec, in_key_order(session, missing))
    session.execute(session.sql("links/set_insert_settings.sql"))
    inserted = 0
    for after, upto in pending_slices(session, slice_rows):
        params = {
            "after_conversation": after and after[0],
            "after_owner": after and after[1],
            "upto_conversation": upto and upto[0],
            "upto_owner": upto and upto[1],
        }
        inserted += retry_in_savepoint(session.conn, statement, params)
    return inserted


def in_key_order(session: Session, links: sql.Composable) -> sql.Composed:
    """`links` (owner, conversation, its created_at) numbered in (conversation, owner) order, the unique pair's, as
    insert_front_links_statement takes them."""
    return session.sql("links/number_links_in_key_order.sql", links=links)


def insert_front_links_statement(
    session: Session, spec: FrontLinkTable, missing_links: sql.Composable, *, skip_existing: bool = True
) -> sql.Composed:
    """The insert of `missing_links` (owner, conversation, its created_at, the row's number in insert order) into
    `spec.table`, with new ids, skipping the pairs it holds; `skip_existing` False for a first fill's slices, known
    to hold none of them (the check costs each row a speculative insertion)."""
    skip = session.sql("links/skip_existing_front_links.sql", owner=spec.owner_column) if skip_existing else sql.SQL("")
    return session.sql(
        "links/insert_pending_front_links.sql",
        links=spec.table,
        owner=spec.owner_column,
        missing_links=missing_links,
        skip_existing=skip,
    )


def insert_staged_links(session: Session, spec: FrontLinkTable) -> int:
    """Insert the window's staged oracle pairs (pg_temp.link_rows_staged) into its table, which holds no link in
    the same snapshot, inside the caller's transaction."""
    staged = session.sql("links/select_staged_link_rows.sql", owner=spec.owner_column)
    session.execute(session.sql("links/set_insert_settings.sql"))
    return session.execute(insert_front_links_statement(session, spec, in_key_order(session, staged))).rowcount


def insert_first_fill_links(session: Session, spec: FrontLinkTable, params: dict[str, object]) -> int:
    """Insert the next slice of the pairs this run's first fill staged (select_front_link_first_fill_pairs.sql binds
    `params`) into its table, inside the caller's transaction: the table holds none of them (it was empty when they were
    staged, no other writer has written since, and each slice commits once), so none is checked for. Without a
    foreign key yet, a pair whose owner or conversation the app deleted after the staging goes in too: adding the
    key removes it (ensure_foreign_keys); what the app changed after the staging is the late-change sensor's, as
    after any run."""
    staged = session.sql(
        "links/select_front_link_first_fill_pairs.sql", owner=spec.owner_column, first_fill=spec.first_fill_table
    )
    session.execute(session.sql("links/set_insert_settings.sql"))
    return session.execute(insert_front_links_statement(session, spec, staged, skip_existing=False), params).rowcount


def pending_slices(session: Session, slice_rows: int | None) -> list[tuple[PairBound, PairBound]]:
    """(after, upto] bounds of the slices of the missing links, in key order; one open slice when unsliced."""
    if slice_rows is None:
        return [(None, None)]
    ends = session.execute(
        session.sql("links/select_pending_front_link_slice_ends.sql"), {"slice_rows": slice_rows}
    ).fetchall()
    # The last slice is left open above: it takes the rest, fewer than slice_rows.
    bounds: list[PairBound] = [None, *(tuple(end) for end in ends)]
    return [(bounds[i], bounds[i + 1]) for i in range(len(ends))] + [(bounds[-1], None)]


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
        progress = Progress(log, f"{spec.table}: changed conversations", total_steps=len(changed), unit="conversations")
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


def count_conversations_by_day(
    session: Session, conversations: str, start: datetime, end: datetime
) -> list[tuple[date, int]]:
    """(UTC day, conversations created that day) of `conversations` (front_conversations or conversations) in
    [start, end)."""
    statement = session.sql("links/count_conversations_by_day.sql", conversations=conversations)
    return [(day, count) for day, count in session.execute(statement, {"start": start, "end": end})]


@dataclass(frozen=True)
class WritePlan:
    """How a whole-window run writes: its mode, its transactions' chunks and their cap on links to change."""

    mode: str  # "bulk": the table was never filled (empty, without its foreign keys); "diff" otherwise
    chunks: list[Chunk]
    batch_rows: int | None  # None: a chunk changes all its links at once (no foreign key holds app rows)
    fill_slice_links: int = FILL_SLICE_LINKS  # a first fill: links per transaction


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


def fill_project_links(session: Session, log: Callable[[str], object]) -> int:
    """Insert every missing project link, by conversations' days, FILL_CHUNK_CONVERSATIONS at most per
    transaction: a first fill (or what a killed one left) reaches a logical subscriber in bounded transactions."""
    day_counts = count_conversations_by_day(session, "conversations", BEGINNING_OF_TIME, END_OF_TIME)
    chunks = chunk_window(BEGINNING_OF_TIME, END_OF_TIME, day_counts, FILL_CHUNK_CONVERSATIONS)
    progress = Progress(
        log, PROJECT_LINKS_TABLE, total_steps=sum(chunk.conversations for chunk in chunks), unit="conversations"
    )
    inserted = 0
    statement = session.sql("links/insert_project_links.sql", oracle=session.sql("links/select_project_links.sql"))
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
    statement = session.sql("links/sync_project_links.sql", oracle=session.sql("links/select_project_links.sql"))
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
