"""What the app wrote since a diff's snapshot, told by the source rows' change stamps: the conversations whose
held differences (held_differences.py) a batch must not apply as found, but diff again (diff_batches.py).

With the indexes the late_change_indexes check recommends, a look is one range scan of each source table's stamp,
cheap enough for every batch. Without them it reads each source table whole, so the batches apply their
differences as found and one look after them finds what to diff again."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from psycopg import sql

from convo_pipelines.defs.links.change_fingerprints import CHANGE_INDEX_SUFFIX, FRONT_CHANGE_WATCHED_TABLES
from convo_pipelines.defs.links.held_differences import DiffStart, diff_start
from convo_pipelines.defs.links.windows import estimate_conversations
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE

# Without the change-stamp indexes, a look reads every source table a Front link is defined from, streamed, where a
# conversation diffed again probes their indexes. While those tables fit in the server's cache, a look took as long
# as diffing again about one in 20 of the source's conversations: at 200,000 demo conversations (1.06 to 1.20 s,
# 9,245 to 9,745 of them). Past it, more probes read their page in: at 10,000,000 lean conversations, 3.1 times
# effective_cache_size, diffing 477,386 again took 254 s (0.53 ms each) and a look 47 s, one in about 110. So one
# look pays off past one in LOOK_COST_IN_CONVERSATIONS conversations for each time the tables fill the cache
# (select_source_size_in_caches.sql): one in 62 there, still on the side of diffing again.
LOOK_COST_IN_CONVERSATIONS = 20


class Look(Enum):
    """How a run's batches tell the conversations the app wrote since their diff, to diff those again; each says so
    in the batches' summary line."""

    # The change-stamp indexes make a look one range scan per table.
    BEFORE_EACH_BATCH = "the app wrote them since, as each batch looked first"
    # A look reads the source whole: once, for many conversations.
    AFTER_THE_BATCHES = "those the app wrote since are looked for after the batches"
    # Too few conversations to pay for a whole read: each one is diffed again.
    NOT_AT_ALL = "too few to pay for a look at the source: each one"


def how_to_look(session: Session, conversations: int) -> Look:
    """How batches of `conversations` handed-over conversations tell which ones the app wrote since the diff."""
    if change_stamps_indexed(session):
        return Look.BEFORE_EACH_BATCH
    source = estimate_conversations(session, "front_conversations")
    one_in = LOOK_COST_IN_CONVERSATIONS * source_size_in_caches(session)
    return Look.AFTER_THE_BATCHES if conversations * one_in >= source else Look.NOT_AT_ALL


def source_size_in_caches(session: Session) -> float:
    """How many times the source tables a look reads outweigh the server's cache (effective_cache_size), at least 1."""
    params = {"source_schema": session.source_schema, "watched_tables": list(FRONT_CHANGE_WATCHED_TABLES)}
    return session.execute(session.sql("links/select_source_size_in_caches.sql"), params).fetchone()[0]


@dataclass(frozen=True)
class WrittenSince:
    """The conversations the app wrote since a diff, as far as the run has looked: where it last looked from (a
    snapshot), and every conversation found written since the diff."""

    looked: DiffStart
    conversations: frozenset[str]


def nothing_written_since(started: DiffStart) -> WrittenSince:
    """Where a run starts looking from: its diff's start, nothing found yet."""
    return WrittenSince(started, frozenset())


def look_again(session: Session, written: WrittenSince) -> WrittenSince:
    """The conversations the app wrote since the run last looked, added. Only rows the last look's snapshot did not
    see are followed to their conversations, so looks together follow each row the app writes once, whatever their
    number."""
    looked = diff_start(session)
    stamped_rows = sql.SQL("\n    union all\n    ").join(
        session.sql("links/select_rows_stamped_since.sql", watched_table=table, table_name=sql.Literal(table))
        for table in FRONT_CHANGE_WATCHED_TABLES
    )
    statement = session.sql("links/select_front_conversations_written_since.sql", stamped_rows=stamped_rows)
    params = {"changed_after": written.looked.at - LATE_COMMIT_ALLOWANCE, "diff_snapshot": written.looked.snapshot}
    found = {conversation for (conversation,) in session.execute(statement, params)}
    return WrittenSince(looked, written.conversations | found)


def change_stamps_indexed(session: Session) -> bool:
    """Whether every source table a Front link is defined from has the index on its change stamp that the
    late_change_indexes check recommends."""
    missing = session.execute(
        session.sql("links/checks/check_late_change_indexes.sql"),
        {
            "source_schema": session.source_schema,
            "watched_tables": list(FRONT_CHANGE_WATCHED_TABLES),
            "index_suffix": CHANGE_INDEX_SUFFIX,
        },
    ).fetchone()[1]
    return missing == 0
