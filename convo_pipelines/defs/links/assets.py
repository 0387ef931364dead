"""The link tables: people and clients of each Front conversation, and the project of each conversation.

Every run makes its slice of a table equal to its definition (docs/contract.md) with set-based SQL
(sql/links/), beside a busy application:
- a table never filled (empty, and without its foreign keys yet) gets its first fill (link_storage.py):
  fresh storage built beside it (the rows computed by a parallel CREATE TABLE AS), then swapped in in
  a moment (in place, by one INSERT, when a swap would lose the app's view, trigger or policy); nothing
  is taken on a source table beyond what a SELECT takes;
- otherwise a diff (the window's oracle pairs staged by a parallel CREATE TABLE AS) deletes the links
  that lost their support and inserts the missing ones, one transaction per chunk of consecutive days
  (bounded in conversations), so links that stay keep
  their id and created_at (updated_at changes only when their front_conversation_created_at copy is refreshed);
  missing links past a first batch (max_insert_batch_rows) are inserted in batches of that size, each
  committed on its own, so their foreign-key checks never hold the app's people or conversations for long;
- then the table's foreign keys are made whole: each missing one is added NOT VALID (a moment of
  SHARE ROW EXCLUSIVE on the referenced table, under a short lock_timeout, retried), links whose
  referenced row the application deleted meanwhile are removed, and the key is validated, which
  blocks neither reads nor writes. Foreign keys are never dropped: that would take ACCESS EXCLUSIVE
  on the referenced source table.
A transaction that meets a concurrent application change (a person deleted after the statement's
snapshot, a deadlock, a lock timeout) is retried whole; each is idempotent, so the retry is exact.
Writers of one table are serialized by an advisory lock, held across a chunk's transactions.
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
    RowsToLoad,
    stage_rows,
    ensure_foreign_keys,
    fill_never_filled_table,
    link_table_locked_for_session,
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
from convo_pipelines.lib.db import FOREIGN_KEY_VIOLATION, TimedClientCursor, retry_concurrent_changes, sql_seconds
from convo_pipelines.defs.partitions import partition_window
from convo_pipelines.lib.progress import Progress
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.settings import get_settings

GROUP = "links"
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
    max_insert_batch_rows: int = Field(
        default=5_000,
        ge=1,
        description=(
            "Missing links are inserted at most this many per transaction. Each insert's foreign-key checks "
            "hold the linked people and conversations against the app's deletes until commit, so a refill of "
            "a window emptied by hand goes in short batches; a window with fewer missing links (every usual "
            "run) is diffed and inserted in one transaction."
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
        self.rows_inserted += other.rows_inserted
        self.rows_updated += other.rows_updated
        self.rows_deleted += other.rows_deleted
        self.rows_in_window += other.rows_in_window


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
        with conn.transaction():
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
    batch_rows: int,
    only_conversation_ids: list[str] | None = None,
) -> tuple[WriteCounts, int]:
    """Make the window's links exact inside the caller's transaction, but for the missing links past
    the first `batch_rows`: the oracle pairs of a window are staged by a parallel statement (a scoped run's
    few are computed in place), a second finds the differences, a short one deletes and refreshes, then
    the first batch of missing links is inserted. Returns the counts and how many
    missing links there are."""
    conn.execute(postgres.sql("links/create_links_to_insert.sql"))
    conn.execute(postgres.sql("links/truncate_links_to_insert.sql"))
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
    inserted = insert_pending_links(conn, postgres, spec, 1, min(pending, batch_rows))
    return WriteCounts(rows_inserted=inserted, rows_updated=updated, rows_deleted=deleted, rows_in_window=in_window), pending


# A batch is retried alone (a savepoint) when the app deleted a person or conversation between its
# snapshot and its foreign-key check; it takes milliseconds, so a retry meets the app's deletes of
# the last few milliseconds only and converges, where retrying the whole diff (seconds on a large
# window) could keep meeting new ones.
PENDING_INSERT_ATTEMPTS = 50


def insert_pending_links(conn: psycopg.Connection, postgres: PostgresResource, spec: FrontLinkTable, first: int, last: int) -> int:
    """Insert the missing links numbered first..last of pg_temp.links_to_insert, inside the caller's transaction."""
    if last < first:
        return 0
    statement = postgres.sql(
        "links/insert_pending_front_links.sql", links=spec.table, owner=spec.owner_column, owner_table=spec.owner_table
    )
    for attempt in range(1, PENDING_INSERT_ATTEMPTS + 1):
        try:
            with conn.transaction():  # a savepoint inside the caller's transaction
                return conn.execute(statement, {"first": first, "last": last}).rowcount
        except psycopg.errors.ForeignKeyViolation:
            if attempt == PENDING_INSERT_ATTEMPTS:
                raise
            time.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


def make_front_window_exact(
    conn: psycopg.Connection,
    postgres: PostgresResource,
    spec: FrontLinkTable,
    start: datetime,
    end: datetime,
    log: Callable[[str], object],
    batch_rows: int,
    only_conversation_ids: list[str] | None = None,
) -> WriteCounts:
    """Diff the window in one retried transaction, then insert the missing links past its first batch in
    batches of `batch_rows`, each its own retried transaction, logging progress.

    Each insert's foreign-key checks key-share the linked people (or clients) and conversations until
    commit, and an app DELETE of one of them waits that long: a batch of thousands commits within tens of
    milliseconds, where one insert of a window emptied by hand (hundreds of thousands of links) would hold
    them for seconds.

    The writers' lock is held for the session throughout, so no other run writes the table between the
    transactions. A run killed between two batches leaves links missing, never wrong: the next run's
    diff finds them missing and inserts them.
    """
    with link_table_locked_for_session(conn, postgres, spec.table):
        counts, pending = in_retried_transaction(
            conn, postgres, spec.table, lambda: diff_front_window(conn, postgres, spec, start, end, batch_rows, only_conversation_ids), log
        )
        if pending <= batch_rows:
            return counts
        batches = range(batch_rows + 1, pending + 1, batch_rows)
        progress = Progress(log, f"{spec.table}: missing links", total_steps=len(batches), unit="batches")
        for first in batches:
            last = min(first + batch_rows - 1, pending)
            inserted = in_retried_transaction(
                conn, postgres, spec.table, lambda first=first, last=last: insert_pending_links(conn, postgres, spec, first, last), log
            )
            counts.rows_inserted += inserted
            progress.advance(rows=inserted)
        return counts


def try_fill_front(
    conn: psycopg.Connection,
    postgres: PostgresResource,
    spec: FrontLinkTable,
    start: datetime,
    end: datetime,
    log: Callable[[str], object],
) -> WriteCounts | None:
    """Fill the whole window when the table was never filled; None when it was."""
    params = {"start": start, "end": end, "only_conversation_ids": None}
    columns = (spec.owner_column, "front_conversation_id", "front_conversation_created_at")
    filled = fill_never_filled_table(conn, postgres, spec.table, RowsToLoad(front_oracle(conn, postgres, spec), params, columns), log)
    if filled is None:
        return None
    return WriteCounts(rows_inserted=filled.rows_inserted, rows_deleted=0, rows_in_window=filled.rows_inserted)


def count_conversations_by_day(
    conn: psycopg.Connection, postgres: PostgresResource, start: datetime, end: datetime
) -> list[tuple[date, int]]:
    statement = postgres.sql("links/count_front_conversations_by_day.sql")
    return [(day, count) for day, count in conn.execute(statement, {"start": start, "end": end})]


def diff_front_chunks(
    conn: psycopg.Connection,
    postgres: PostgresResource,
    spec: FrontLinkTable,
    chunks: list[Chunk],
    log: Callable[[str], object],
    batch_rows: int,
) -> WriteCounts:
    """Diff each chunk in its own transaction, logging progress (conversations done, rows, rate, ETA) after each."""
    totals = WriteCounts()
    progress = Progress(log, spec.table, total_steps=sum(c.conversations for c in chunks), unit="conversations")
    for chunk in chunks:
        counts = make_front_window_exact(conn, postgres, spec, chunk.start, chunk.end, log, batch_rows)
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
            counts = make_front_window_exact(conn, postgres, spec, start, end, context.log.info, config.max_insert_batch_rows, scope)
            mode, chunk_count = "scoped", 1
        else:
            counts = try_fill_front(conn, postgres, spec, start, end, context.log.info)
            mode, chunk_count = "bulk", 1
        if counts is None:
            day_counts = count_conversations_by_day(conn, postgres, start, end)
            chunks = chunk_window(start, end, day_counts, config.max_chunk_conversations)
            mode, chunk_count = "diff", len(chunks)
            counts = diff_front_chunks(conn, postgres, spec, chunks, context.log.info, config.max_insert_batch_rows)
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


def fill_project_links(conn: psycopg.Connection, postgres: PostgresResource, log: Callable[[str], object]) -> dict[str, int] | None:
    """Fill project_conversations when it was never filled; None when it was."""
    rows = RowsToLoad(postgres.sql("links/select_project_links.sql"), {}, ("project_id", "conversation_id", "added_by"))
    filled = fill_never_filled_table(conn, postgres, PROJECT_LINKS_TABLE, rows, log)
    if filled is None:
        return None
    return {"rows_inserted": filled.rows_inserted, "rows_deleted": 0, "rows_moved": 0, "rows_refreshed": 0}


def reconcile_project_links(conn: psycopg.Connection, postgres: PostgresResource) -> dict[str, int]:
    """Make project_conversations exact inside the caller's transaction; returns the counts."""
    conn.execute(postgres.sql("links/set_diff_settings.sql"))
    cursor = conn.cursor(row_factory=namedtuple_row)
    row = cursor.execute(postgres.sql("links/sync_project_links.sql", oracle=postgres.sql("links/select_project_links.sql"))).fetchone()
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
        mode, counts = "bulk", fill_project_links(conn, postgres, context.log.info)
        if counts is None:
            mode, counts = "diff", in_retried_transaction(
                conn, postgres, PROJECT_LINKS_TABLE, lambda: reconcile_project_links(conn, postgres), context.log.info
            )
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
