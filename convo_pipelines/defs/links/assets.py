"""The link tables: people and clients of each Front conversation, and the project of each conversation.

Every run makes its slice of a table equal to its definition (docs/contract.md) with set-based SQL
(sql/links/), beside a busy application whose clients may read the tables through logical replication
(Zero) and whose URL may be a transaction pooler's:
- a window is diffed: its oracle pairs are staged by a parallel CREATE TEMPORARY TABLE AS, the links that
  lost their support are deleted, stale copies refreshed, and the missing links inserted, in one
  transaction per chunk of consecutive days (bounded in conversations), so links that stay keep their id
  and created_at;
- every write changes rows of the link table itself, in transactions of bounded size, so a logical
  subscriber receives the same row changes in bounded transactions: a table without its foreign keys yet
  (its first fill) is written in chunks of max_fill_chunk_conversations; once it has them, a window with
  more than max_insert_batch_rows missing links inserts them in transactions of about that many, cut by
  their conversations' days, so their foreign-key checks never hold the app's people or conversations long;
- then the table's foreign keys are made whole (link_storage.py).
Nothing outlives a transaction on the server: the writers' lock is transaction-level, settings are
SET LOCAL, staging tables are temporary and dropped at commit. So every transaction stands alone: it is
exact for its snapshot, another run may interleave, and a killed run leaves whole transactions.
A transaction that meets a concurrent application change (a person deleted after the statement's
snapshot, a deadlock, a lock timeout) is retried whole; each is idempotent, so the retry is exact.
"""

# No `from __future__ import annotations`: Dagster reads the config class from the real annotation.
import json
import time
import uuid
from collections.abc import Callable
from typing import TypeVar
from dataclasses import dataclass
from datetime import date, datetime, timezone

import dagster as dg
import psycopg
from psycopg.rows import namedtuple_row
from psycopg import sql
from pydantic import Field

from convo_pipelines.defs.links.link_storage import (
    ensure_foreign_keys,
    link_foreign_keys,
    link_table_is_empty,
    lock_link_table,
)
from convo_pipelines.defs.links.tables import (
    BEGINNING_OF_TIME,
    CLIENT_LINKS,
    END_OF_TIME,
    GUARANTEEING_FOREIGN_KEYS_SQL,
    GUARANTEEING_UNIQUE_INDEX_SQL,
    PEOPLE_LINKS,
    PROJECT_LINKS_FOREIGN_KEYS,
    PROJECT_LINKS_TABLE,
    FrontLinkTable,
    ProvenJoin,
)
from convo_pipelines.defs import sources
from convo_pipelines.defs.checks import GUARANTEES_METADATA
from convo_pipelines.defs.table_asset import table_asset
from convo_pipelines.lib.db import (
    FOREIGN_KEY_VIOLATION,
    TimedClientCursor,
    pipeline_transaction,
    retry_concurrent_changes,
    sql_seconds,
)
from convo_pipelines.defs.partitions import partition_window
from convo_pipelines.lib.progress import Progress
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.settings import get_settings

GROUP = "links"
# Conversations per transaction of a first fill: small enough that a logical subscriber applies each
# without holding much in memory, large enough that the fill stays a few parallel statements per chunk.
FILL_CHUNK_CONVERSATIONS = 50_000
ARRAY_SAMPLE_LIMIT = 5
# The problem kinds of check_project_array_consistency.sql, in its order.
ARRAY_DRIFT_KINDS = ("stale", "mismatched", "missing")
T = TypeVar("T")


class FrontLinksConfig(dg.Config):
    """Run configuration of the Front link assets."""

    max_chunk_conversations: int = Field(
        default=5_000_000,
        ge=1,
        description=(
            "When a range is diffed, consecutive days are grouped into transactions of at most this many "
            "conversations (a single busier day is one chunk). A large chunk reads every recipient once, "
            "in parallel, so fewer, larger chunks are faster (by default a range of up to 5,000,000 "
            "conversations is one); smaller ones hold their deletes' row locks for less time."
        ),
    )
    max_fill_chunk_conversations: int = Field(
        default=FILL_CHUNK_CONVERSATIONS,
        ge=1,
        description=(
            "While the table has none of its foreign keys yet (its first fill, or what a killed first fill "
            "left), consecutive days are grouped into transactions of at most this many conversations, each "
            "committed on its own: a logical subscriber (Zero) receives the fill in bounded transactions, "
            "and a killed run keeps what it committed."
        ),
    )
    max_insert_batch_rows: int = Field(
        default=5_000,
        ge=1,
        description=(
            "Once the table has its foreign keys, a window with more missing links than this inserts them in "
            "transactions of about this many, cut by their conversations' days (a busier day is one). Each "
            "insert's foreign-key checks hold the linked people and conversations against the app's deletes "
            "until commit; a window with fewer missing links (every usual run) is diffed in one transaction."
        ),
    )
    only_conversation_ids: list[str] = Field(
        default_factory=list,
        description=(
            "Recompute only these Front conversations of the window (what the late-change sensor asks "
            "for); empty recomputes the whole window."
        ),
    )

    def conversation_scope(self) -> list[str] | None:
        """The validated conversation ids of a scoped run, or None for a whole-window run."""
        if not self.only_conversation_ids:
            return None
        for value in self.only_conversation_ids:
            try:
                uuid.UUID(value)
            except ValueError:
                raise dg.Failure(f"only_conversation_ids holds {value!r}, which is not a uuid", allow_retries=False) from None
        return sorted(set(self.only_conversation_ids))


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
    """Cut [start, end) at UTC midnights into chunks of consecutive days holding at most
    `max_conversations` conversations each (a day above the cap alone). Days with no
    conversation belong to a neighbour; a window with none gives no chunk."""
    chunks: list[Chunk] = []
    chunk_start, in_chunk = start, 0
    for day, conversations in day_counts:
        if in_chunk and in_chunk + conversations > max_conversations:
            midnight = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc)
            chunks.append(Chunk(chunk_start, midnight, in_chunk))
            chunk_start, in_chunk = midnight, 0
        in_chunk += conversations
    if in_chunk:
        chunks.append(Chunk(chunk_start, end, in_chunk))
    return chunks


def describe_bound(moment: datetime) -> str:
    if moment <= BEGINNING_OF_TIME:
        return "-infinity"
    if moment >= END_OF_TIME:
        return "infinity"
    return moment.isoformat()


# ---------------------------------------------------------------------------------------------
# Shared SQL steps


def count_link_rows(conn: psycopg.Connection, postgres: PostgresResource, table: str) -> int:
    return conn.execute(postgres.sql("links/count_link_rows.sql", links=table)).fetchone()[0]


def in_retried_transaction(
    conn: psycopg.Connection,
    postgres: PostgresResource,
    table: str,
    work: Callable[[], T],
    log: Callable[[str], object],
) -> T:
    """Run `work` in one transaction holding the table's writer lock, again from the start when the
    application changed something under it (a person deleted after the snapshot fails the insert of a
    link to them: the retry's snapshot no longer has that person)."""

    def attempt() -> T:
        with pipeline_transaction(conn):
            lock_link_table(conn, postgres, table)
            return work()

    return retry_concurrent_changes(attempt, what=table, log=log, also_retry=frozenset({FOREIGN_KEY_VIOLATION}))


# ---------------------------------------------------------------------------------------------
# Front link tables (people, clients)


def front_oracle(conn: psycopg.Connection, postgres: PostgresResource, spec: FrontLinkTable, *, bulk: bool = True) -> sql.Composed:
    """The oracle of `spec`: the pairs its window should hold. For a bulk read (a first fill, a window's diff),
    its ProvenJoin is left out when the source's validated foreign key proves it needless; a scoped run's
    few conversations keep it, which costs less than asking the catalog. (`postgres` may be anything with
    the resource's `sql` and `source_schema`: the bench renders its contenders' joins the same way.)"""
    join = spec.proven_join
    if join is None:
        return postgres.sql(spec.oracle_file)
    proven = bulk and source_key_is_validated(conn, postgres, join)
    bound = postgres.sql("links/no_join_proven_by_foreign_key.sql" if proven else join.join_sql)
    return postgres.sql(spec.oracle_file, **{join.placeholder: bound})


def source_key_is_validated(conn: psycopg.Connection, postgres: PostgresResource, join: ProvenJoin) -> bool:
    """True when `join.source_table.column` has a validated foreign key to `join.referenced_table`'s id, its
    triggers enabled: PostgreSQL's own proof that every non-null value is an existing row's id."""
    keys = conn.execute(
        postgres.sql(GUARANTEEING_FOREIGN_KEYS_SQL),
        {"trust_constraints": True, "source_schema": postgres.source_schema, "link_table_name": join.source_table},
    ).fetchall()
    # The lookup lists only keys to the referenced table's id.
    return any((column, table) == (join.column, join.referenced_table) for _, column, table in keys)


def front_link_guarantees(conn: psycopg.Connection, postgres: PostgresResource, spec: FrontLinkTable) -> dict[str, str]:
    """{problem: constraint} for each duplicate or orphan problem of `spec.table` its constraints rule out
    now: read once the run's writes and foreign keys are done, and recorded in its materialization
    (GUARANTEES_METADATA), so the duplicate and orphan checks that follow it need not read the catalog again."""
    statement = postgres.sql(
        "links/select_front_link_guarantees.sql",
        guaranteeing_index=postgres.sql(GUARANTEEING_UNIQUE_INDEX_SQL),
        guaranteeing_keys=postgres.sql(GUARANTEEING_FOREIGN_KEYS_SQL),
    )
    params = {"trust_constraints": True, "source_schema": postgres.source_schema, **spec.constraint_lookup_params()}
    return {problem: verified_by for problem, _, _, verified_by in conn.execute(statement, params).fetchall()}


def diff_front_window(
    conn: psycopg.Connection,
    postgres: PostgresResource,
    spec: FrontLinkTable,
    start: datetime,
    end: datetime,
    batch_rows: int | None,
    only_conversation_ids: list[str] | None = None,
    *,
    sliced: bool,
) -> tuple[WriteCounts, list[tuple[date, int]]]:
    """Make the window's links exact inside the caller's transaction: the oracle pairs of a window are staged
    by a parallel statement (a scoped run's few are computed in place), a second finds the differences, a
    short one deletes and refreshes, a last inserts the missing links. With more than `batch_rows` missing,
    none is inserted: they are counted per day instead, for make_front_window_exact to insert in bounded
    transactions. `sliced` (the table has its foreign keys) inserts them by slices of
    PENDING_INSERT_SLICE_ROWS. Returns the counts and those per-day counts (empty when everything was inserted)."""
    identifiers = {"links": spec.table, "owner": spec.owner_column}
    window_links = postgres.sql("links/select_front_links_of_window.sql", **identifiers)
    params = {"start": start, "end": end, "only_conversation_ids": only_conversation_ids}
    scoped = only_conversation_ids is not None
    if scoped:
        oracle = front_oracle(conn, postgres, spec, bulk=False)
    else:
        # The window's rows once the diff is applied: exactly its oracle pairs.
        in_window = stage_rows(conn, postgres, front_oracle(conn, postgres, spec), params)
        oracle = postgres.sql("links/select_staged_link_rows.sql", **identifiers)
    differences = postgres.sql("links/create_front_link_differences.sql", **identifiers, oracle=oracle, window_links=window_links)
    TimedClientCursor(conn).execute(differences, params)
    pending, updated, deleted = conn.execute(postgres.sql("links/apply_front_link_differences.sql", **identifiers)).fetchone()
    if scoped:  # the window's rows once the missing ones are in: those it holds now, plus those to insert
        in_window = conn.execute(postgres.sql("links/count_front_links_window.sql", window_links=window_links), params).fetchone()[0] + pending
    counts = WriteCounts(rows_updated=updated, rows_deleted=deleted, rows_in_window=in_window)
    if batch_rows is not None and pending > batch_rows:
        return counts, conn.execute(postgres.sql("links/count_pending_front_links_by_day.sql")).fetchall()
    slice_rows = PENDING_INSERT_SLICE_ROWS if sliced else None
    counts.rows_inserted = insert_pending_links(conn, postgres, spec, slice_rows) if pending else 0
    return counts, []


def stage_rows(conn: psycopg.Connection, postgres: PostgresResource, rows: sql.Composable, params: dict[str, object]) -> int:
    """Inside the caller's transaction, compute `rows` (an oracle query) into pg_temp.link_rows_staged with a
    CREATE TABLE AS, which PostgreSQL runs in parallel; returns how many rows it holds."""
    conn.execute(postgres.sql("links/set_staging_settings.sql"))
    return TimedClientCursor(conn).execute(postgres.sql("links/stage_link_rows.sql", rows=rows), params).rowcount


# Once the table has its foreign keys, the missing links go in by slices of this many, one statement each,
# retried alone (a savepoint) when the app deleted a person or conversation between the statement's
# snapshot and its foreign-key check: a retry meets only the app's deletes during one short statement, and
# converges. One statement for a whole batch was long enough to meet a delete in almost every attempt
# beside an app that deletes people often, and never converged.
PENDING_INSERT_SLICE_ROWS = 1_000
PENDING_INSERT_ATTEMPTS = 50

PairBound = tuple[str, str] | None  # (owner id, conversation id); None: open


def insert_pending_links(
    conn: psycopg.Connection, postgres: PostgresResource, spec: FrontLinkTable, slice_rows: int | None
) -> int:
    """Insert the missing links of pg_temp.front_link_differences inside the caller's transaction: in one
    statement (slice_rows None: no foreign key holds app rows yet), else by slices of `slice_rows`."""
    statement = postgres.sql(
        "links/insert_pending_front_links.sql", links=spec.table, owner=spec.owner_column, owner_table=spec.owner_table
    )
    inserted = 0
    for after, upto in pending_slices(conn, postgres, slice_rows):
        params = {
            "after_owner": after and after[0], "after_conversation": after and after[1],
            "upto_owner": upto and upto[0], "upto_conversation": upto and upto[1],
        }
        inserted += insert_retrying_alone(conn, statement, params)
    return inserted


def pending_slices(conn: psycopg.Connection, postgres: PostgresResource, slice_rows: int | None) -> list[tuple[PairBound, PairBound]]:
    """(after, upto] bounds of the slices of the missing links, in key order; one open slice when unsliced."""
    if slice_rows is None:
        return [(None, None)]
    ends = conn.execute(postgres.sql("links/select_pending_front_link_slice_ends.sql"), {"slice_rows": slice_rows}).fetchall()
    # The last slice is left open above: it takes the rest, fewer than slice_rows.
    bounds: list[PairBound] = [None, *(tuple(end) for end in ends)]
    return [(bounds[i], bounds[i + 1]) for i in range(len(ends))] + [(bounds[-1], None)]


def insert_retrying_alone(conn: psycopg.Connection, statement: sql.Composed, params: dict[str, object]) -> int:
    """Run the insert in a savepoint, again when a foreign-key check met a row the app deleted meanwhile."""
    for attempt in range(1, PENDING_INSERT_ATTEMPTS + 1):
        try:
            with conn.transaction():  # a savepoint inside the caller's transaction
                return conn.execute(statement, params).rowcount
        except psycopg.errors.ForeignKeyViolation:
            if attempt == PENDING_INSERT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def make_front_window_exact(
    conn: psycopg.Connection,
    postgres: PostgresResource,
    spec: FrontLinkTable,
    window: Chunk,
    log: Callable[[str], object],
    batch_rows: int | None,
    only_conversation_ids: list[str] | None = None,
) -> WriteCounts:
    """Diff the window in one retried transaction. With more than `batch_rows` missing links, that transaction
    only deletes and refreshes; the missing links then go in by the window's days, cut into transactions of
    about `batch_rows` (a busier day alone), each diffing its days again, so it also meets what the app changed
    since. Each insert's foreign-key checks key-share the linked people (or clients) and conversations until
    commit, and an app DELETE of one of them waits that long. `batch_rows` None: the table has no foreign
    key yet, and nothing is batched or sliced."""
    sliced = batch_rows is not None
    counts, pending_days = in_retried_transaction(
        conn,
        postgres,
        spec.table,
        lambda: diff_front_window(
            conn, postgres, spec, window.start, window.end, batch_rows, only_conversation_ids, sliced=sliced
        ),
        log,
    )
    if not pending_days:
        return counts
    batches = chunk_window(window.start, window.end, pending_days, batch_rows)
    progress = Progress(log, f"{spec.table}: missing links", total_steps=len(batches), unit="batches")
    for batch in batches:
        batch_counts, _ = in_retried_transaction(
            conn,
            postgres,
            spec.table,
            lambda batch=batch: diff_front_window(
                conn, postgres, spec, batch.start, batch.end, None, only_conversation_ids, sliced=sliced
            ),
            log,
        )
        counts.add_writes(batch_counts)
        progress.advance(rows=batch_counts.rows_inserted)
    return counts


def count_conversations_by_day(
    conn: psycopg.Connection, postgres: PostgresResource, conversations: str, start: datetime, end: datetime
) -> list[tuple[date, int]]:
    """(UTC day, conversations created that day) of `conversations` (front_conversations or conversations) in [start, end)."""
    statement = postgres.sql("links/count_conversations_by_day.sql", conversations=conversations)
    return [(day, count) for day, count in conn.execute(statement, {"start": start, "end": end})]


@dataclass(frozen=True)
class WritePlan:
    """How a whole-window run writes: its mode, its transactions' chunks and their cap on missing links."""

    mode: str  # "bulk": the table was never filled (empty, without its foreign keys); "diff" otherwise
    chunks: list[Chunk]
    batch_rows: int | None  # None: a chunk inserts all its missing links (no foreign key holds app rows)


def plan_front_writes(
    conn: psycopg.Connection, postgres: PostgresResource, spec: FrontLinkTable, start: datetime, end: datetime, config: FrontLinksConfig
) -> WritePlan:
    """Chunks of at most max_fill_chunk_conversations while the table has no foreign key yet (no insert holds an
    app row, so a chunk inserts all it misses), else of max_chunk_conversations with batches of missing links."""
    day_counts = count_conversations_by_day(conn, postgres, "front_conversations", start, end)
    if link_foreign_keys(conn, postgres, spec.table):
        return WritePlan("diff", chunk_window(start, end, day_counts, config.max_chunk_conversations), config.max_insert_batch_rows)
    mode = "bulk" if link_table_is_empty(conn, postgres, spec.table) else "diff"
    return WritePlan(mode, chunk_window(start, end, day_counts, config.max_fill_chunk_conversations), None)


def write_front_chunks(
    conn: psycopg.Connection, postgres: PostgresResource, spec: FrontLinkTable, plan: WritePlan, log: Callable[[str], object]
) -> WriteCounts:
    """Make each chunk exact in its own transactions, logging progress (conversations done, rows, rate, ETA) after each."""
    totals = WriteCounts()
    progress = Progress(log, spec.table, total_steps=sum(c.conversations for c in plan.chunks), unit="conversations")
    for chunk in plan.chunks:
        counts = make_front_window_exact(conn, postgres, spec, chunk, log, plan.batch_rows)
        totals.add(counts)
        progress.advance(rows=counts.rows_in_window, steps=chunk.conversations)
    return totals


def materialize_front_links(
    context: dg.AssetExecutionContext, postgres: PostgresResource, spec: FrontLinkTable, config: FrontLinksConfig
) -> dg.MaterializeResult:
    """Make the window's slice of `spec.table` exact; fill it in place when it was never filled.

    A scoped run (the late-change sensor's) recomputes only the conversations it names, which is as
    exact as a whole-window run for every change the sensor can see, at a fraction of the cost.
    """
    started = time.perf_counter()
    partition = partition_window(context)
    # The conversations' created_at window [start, end) the run covers, in UTC: the first partition also
    # links those created before PARTITIONS_START_DATE, and the last one, today's, those created after it.
    start, end = partition.owning_later_dates().bounds(BEGINNING_OF_TIME, END_OF_TIME)
    scope = config.conversation_scope()
    context.log.info(
        f"{spec.table}: conversations created in [{describe_bound(start)}, {describe_bound(end)})"
        + (f", only {len(scope):,} named by the run" if scope else "")
    )
    with postgres.connect(autocommit=True) as conn:
        if scope:
            window = Chunk(start, end, len(scope))
            counts = make_front_window_exact(conn, postgres, spec, window, context.log.info, config.max_insert_batch_rows, scope)
            mode, chunk_count = "scoped", 1
        else:
            plan = plan_front_writes(conn, postgres, spec, start, end, config)
            counts = write_front_chunks(conn, postgres, spec, plan, context.log.info)
            mode, chunk_count = plan.mode, len(plan.chunks)
        keys = ensure_foreign_keys(conn, postgres, spec.table, spec.foreign_keys, context.log.info)
        guarantees = front_link_guarantees(conn, postgres, spec)
        # Counting the whole table would cost more than a scoped run itself; its next full run counts.
        row_count = None if scope else count_link_rows(conn, postgres, spec.table)
        in_postgres = sql_seconds(conn)
    seconds = time.perf_counter() - started
    context.log.info(
        f"{spec.table}: {mode}, {counts.rows_inserted:,} inserted, {counts.rows_updated:,} updated, "
        f"{counts.rows_deleted:,} deleted, "
        f"{counts.rows_in_window:,} in range, "
        + (f"{row_count:,} in the table, " if row_count is not None else "")
        + f"{seconds:.2f}s"
    )
    return dg.MaterializeResult(
        metadata={
            "mode": mode,
            "window_start": describe_bound(start),
            "window_end": describe_bound(end),
            "chunks": chunk_count,
            "foreign_keys_made_whole": len(keys.made_whole),
            "foreign_keys_pending": len(keys.pending),
            GUARANTEES_METADATA: dg.MetadataValue.json(guarantees),
            # Totals of the run's whole window: Dagster copies a range run's metadata onto every partition
            # of the range, so they are named for the range they count, not taken for one day's figures.
            "rows_inserted_in_range": counts.rows_inserted,
            "rows_updated_in_range": counts.rows_updated,
            "rows_deleted_in_range": counts.rows_deleted,
            "rows_in_range": counts.rows_in_window,
            # A one-day run's window is its partition: that count is the partition's own (today's also owns
            # the conversations dated after it).
            **({"dagster/partition_row_count": counts.rows_in_window} if partition.one_day and not scope else {}),
            **({"dagster/row_count": row_count} if row_count is not None else {"conversations_in_scope": len(scope)}),
            "dagster/table_name": f"{postgres.source_schema}.{spec.table}",
            "seconds": round(seconds, 3),
            "sql_seconds": round(in_postgres, 4),
        }
    )


# ---------------------------------------------------------------------------------------------
# Column schemas


def _uuid_column(name: str, description: str, nullable: bool = False) -> dg.TableColumn:
    return dg.TableColumn(name, "uuid", description, dg.TableColumnConstraints(nullable=nullable))


def _timestamp_column(name: str, description: str) -> dg.TableColumn:
    return dg.TableColumn(name, "timestamptz", description, dg.TableColumnConstraints(nullable=False))


def _front_link_schema(owner_column: str, owner_description: str) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn("id", "uuid", "Link id; kept while the link exists.", dg.TableColumnConstraints(nullable=False, unique=True)),
            _uuid_column(owner_column, owner_description),
            _uuid_column("front_conversation_id", "The Front conversation (front_conversations.id, ON DELETE CASCADE)."),
            _timestamp_column(
                "front_conversation_created_at",
                "The conversation's created_at, copied so an owner's newest conversations are one index range scan.",
            ),
            _timestamp_column("created_at", "When the link was first written."),
            _timestamp_column("updated_at", "When something about the link last changed (its created_at copy, if ever)."),
        ],
        constraints=dg.TableConstraints(
            other=[
                f"unique ({owner_column}, front_conversation_id)",
                f"index ({owner_column}, front_conversation_created_at desc, front_conversation_id desc)",
            ]
        ),
    )


def source_table_name(table: str) -> str:
    """schema.table of a link table: they live in SOURCE_SCHEMA, beside the tables they join."""
    return f"{get_settings().source_schema}.{table}"


PEOPLE_LINKS_SCHEMA = _front_link_schema("person_id", "The person (people.id, ON DELETE CASCADE).")
CLIENT_LINKS_SCHEMA = _front_link_schema("client_id", "The client (clients.id, ON DELETE CASCADE).")
PROJECT_LINKS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("id", "uuid", "Link id; kept while the conversation has a project.", dg.TableColumnConstraints(nullable=False, unique=True)),
        _uuid_column("project_id", "The project (projects.id, ON DELETE CASCADE) = conversations.project_id."),
        dg.TableColumn(
            "conversation_id",
            "uuid",
            "The conversation (conversations.id, ON DELETE CASCADE); one project per conversation.",
            dg.TableColumnConstraints(nullable=False, unique=True),
        ),
        _timestamp_column("added_at", "When the link to this project was first written (reset when the conversation moves)."),
        _uuid_column("added_by", "The project's user (users.id, ON DELETE SET NULL); NULL when the project has no existing user.", nullable=True),
    ],
    constraints=dg.TableConstraints(other=["unique (project_id, conversation_id)"]),
)


# ---------------------------------------------------------------------------------------------
# Assets


@table_asset(
    name=PEOPLE_LINKS.table,
    group_name=GROUP,
    table_name=source_table_name(PEOPLE_LINKS.table),
    schema=PEOPLE_LINKS_SCHEMA,
    deps=[sources.front_conversations, sources.front_messages, sources.front_message_recipients, sources.contact_methods, sources.people],
)
def people_front_conversations(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: FrontLinksConfig
) -> dg.MaterializeResult:
    """One row per (person, Front conversation) where one of the person's contact methods received a
    message of the conversation. Partitioned by the conversation's created_at day (UTC); recipients
    with no contact method, or whose contact method resolves to no existing person, link nobody."""
    return materialize_front_links(context, postgres, PEOPLE_LINKS, config)


@table_asset(
    name=CLIENT_LINKS.table,
    group_name=GROUP,
    table_name=source_table_name(CLIENT_LINKS.table),
    schema=CLIENT_LINKS_SCHEMA,
    deps=[people_front_conversations, sources.front_conversations, sources.people, sources.clients],
)
def clients_front_conversations(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: FrontLinksConfig
) -> dg.MaterializeResult:
    """One row per (client, Front conversation): the CURRENT clients of the people linked to the
    conversation. A person whose client no longer exists keeps their people link but gives no client link."""
    return materialize_front_links(context, postgres, CLIENT_LINKS, config)


def fill_project_links(conn: psycopg.Connection, postgres: PostgresResource, log: Callable[[str], object]) -> int:
    """Insert every missing project link, by conversations' days, FILL_CHUNK_CONVERSATIONS at most per
    transaction: a first fill (or what a killed one left) reaches a logical subscriber in bounded transactions."""
    day_counts = count_conversations_by_day(conn, postgres, "conversations", BEGINNING_OF_TIME, END_OF_TIME)
    chunks = chunk_window(BEGINNING_OF_TIME, END_OF_TIME, day_counts, FILL_CHUNK_CONVERSATIONS)
    progress = Progress(log, PROJECT_LINKS_TABLE, total_steps=sum(chunk.conversations for chunk in chunks), unit="conversations")
    inserted = 0
    for chunk in chunks:
        statement = postgres.sql("links/insert_project_links.sql", oracle=postgres.sql("links/select_project_links.sql"))
        rows = in_retried_transaction(
            conn,
            postgres,
            PROJECT_LINKS_TABLE,
            lambda chunk=chunk: conn.execute(statement, {"start": chunk.start, "end": chunk.end}).rowcount,
            log,
        )
        inserted += rows
        progress.advance(rows=rows, steps=chunk.conversations)
    return inserted


def reconcile_project_links(conn: psycopg.Connection, postgres: PostgresResource) -> dict[str, int]:
    """Make project_conversations exact inside the caller's transaction; returns the counts."""
    conn.execute(postgres.sql("links/set_diff_settings.sql"))
    cursor = conn.cursor(row_factory=namedtuple_row)
    statement = postgres.sql("links/sync_project_links.sql", oracle=postgres.sql("links/select_project_links.sql"))
    row = cursor.execute(statement, {"start": BEGINNING_OF_TIME, "end": END_OF_TIME}).fetchone()
    return {
        "rows_inserted": row.rows_inserted,
        "rows_deleted": row.rows_deleted,
        "rows_moved": row.rows_moved,
        "rows_refreshed": row.rows_refreshed,
    }


def project_array_inconsistencies(conn: psycopg.Connection, postgres: PostgresResource) -> dict[str, dict[str, object]]:
    """{kind: {"entries": n, "samples": [...]}} for stale, mismatched and missing projects.conversation_ids entries."""
    # The same SQL as the array_consistency check, so the asset's figures and the check's always agree.
    rows = conn.execute(
        postgres.sql("links/checks/check_project_array_consistency.sql"), {"sample_limit": ARRAY_SAMPLE_LIMIT}
    ).fetchall()
    return {kind: {"entries": entries, "samples": samples} for kind, entries, samples in rows}


@table_asset(
    name=PROJECT_LINKS_TABLE,
    group_name=GROUP,
    table_name=source_table_name(PROJECT_LINKS_TABLE),
    schema=PROJECT_LINKS_SCHEMA,
    deps=[sources.conversations, sources.projects, sources.users],
    partitioned=False,
)
def project_conversations(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    """One row per conversation whose project exists: (conversations.project_id, conversation), added_by
    the project's user. Each run reconciles the whole table; a conversation that moves keeps its row id
    and gets the new project, added_by and added_at. Reports the deprecated projects.conversation_ids drift."""
    started = time.perf_counter()
    with postgres.connect(autocommit=True) as conn:
        # Without its foreign keys the table is being filled: its missing links go in by bounded transactions
        # first, and the reconcile after them finds only what the app changed meanwhile.
        keyed = bool(link_foreign_keys(conn, postgres, PROJECT_LINKS_TABLE))
        mode = "bulk" if not keyed and link_table_is_empty(conn, postgres, PROJECT_LINKS_TABLE) else "diff"
        filled = 0 if keyed else fill_project_links(conn, postgres, context.log.info)
        counts = in_retried_transaction(
            conn, postgres, PROJECT_LINKS_TABLE, lambda: reconcile_project_links(conn, postgres), context.log.info
        )
        counts["rows_inserted"] += filled
        keys = ensure_foreign_keys(conn, postgres, PROJECT_LINKS_TABLE, PROJECT_LINKS_FOREIGN_KEYS, context.log.info)
        row_count = count_link_rows(conn, postgres, PROJECT_LINKS_TABLE)
        drift = project_array_inconsistencies(conn, postgres)
        in_postgres = sql_seconds(conn)
    seconds = time.perf_counter() - started
    drifted = {kind: report["entries"] for kind, report in drift.items() if report["entries"]}
    if drifted:
        context.log.warning(f"projects.conversation_ids disagrees with conversations.project_id: {json.dumps(drifted)}")
    context.log.info(f"{PROJECT_LINKS_TABLE}: {mode}, {json.dumps(counts)}, {row_count:,} in the table, {seconds:.2f}s")
    metadata: dict[str, object] = {
        "mode": mode,
        **counts,
        "foreign_keys_made_whole": len(keys.made_whole),
        "foreign_keys_pending": len(keys.pending),
        "dagster/row_count": row_count,
        "dagster/table_name": f"{postgres.source_schema}.{PROJECT_LINKS_TABLE}",
        "seconds": round(seconds, 3),
        "sql_seconds": round(in_postgres, 4),
    }
    for kind, report in drift.items():
        metadata[f"array_{kind}_entries"] = report["entries"]
        metadata[f"array_{kind}_samples"] = dg.MetadataValue.json(report["samples"])
    return dg.MaterializeResult(metadata=metadata)


link_assets = [people_front_conversations, clients_front_conversations, project_conversations]
