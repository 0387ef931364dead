"""A Front link table's index by owner newest first, and a first fill's hold on the table while it is dropped.

A first fill stages the pairs of its whole range once, in an unlogged table of the analytics schema, and inserts
them slice by slice in conversation order, so the primary key and the unique pair (led by the conversation) grow
at their right edge; it writes the table without its index by owner newest first when its role may build it back,
once, sorted. Which state the table is in is read from the catalog in each transaction, never remembered by a
session: the fill owns the empty table's windows only while its staged pairs exist, and every other writer drops
them and builds the index back before it writes (in_front_transaction), so a killed fill leaves a table the next
run makes whole.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import dagster as dg
import psycopg
from psycopg import sql

from convo_pipelines.defs.links.table_state.keys import link_foreign_keys
from convo_pipelines.defs.links.table_state.lock import in_retried_transaction, link_table_is_empty, lock_link_table
from convo_pipelines.defs.links.tables import FrontLinkTable
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.concurrent_indexes import index_validity
from convo_pipelines.lib.writing.transactions import set_short_lock_timeout

LOG = dg.get_dagster_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class StagedPairs:
    """A first fill's staged pairs: the oid of the table they were staged in, how many, the window [start, end) they
    were staged for (ISO stamps), and the token of the run that holds them now (the one that staged them, or the one
    that went on with a killed fill's slices)."""

    oid: int
    pairs: int
    window: tuple[str, str]
    holder: str

    def description(self) -> str:
        """What the staged table's comment says of them (describe_front_link_first_fill.sql)."""
        return json.dumps({"pairs": self.pairs, "window": list(self.window), "holder": self.holder})


def in_front_transaction(
    session: Session, spec: FrontLinkTable, work: Callable[[bool], T], *, staged: StagedPairs | None = None
) -> T:
    """in_retried_transaction for a Front link table, which it first takes over from a first fill (its staged
    pairs dropped, its index built back), unless they are `staged`, this run's own fill's. `work` is told whether
    the run still owns the table as its first fill: this run staged the pairs while the table was empty (or went on
    with a killed fill's), the same table (by oid) still exists with this run's token on it, so no other writer has
    written since, and the fill's slices never overlap."""

    def work_on_table() -> T:
        if staged is not None and held_staged_pairs(session, spec) == staged:
            return work(True)
        take_over_from_first_fill(session, spec)
        return work(False)

    return in_retried_transaction(session, spec.table, work_on_table)


def end_first_fill(session: Session, spec: FrontLinkTable) -> None:
    """Drop a first fill's staged pairs and build the index it dropped, if any, in a transaction of their own: a
    first fill's last write, and a whole-window run's (which takes over from a killed fill)."""
    in_retried_transaction(session, spec.table, lambda: take_over_from_first_fill(session, spec))


def first_fill_staged(session: Session, spec: FrontLinkTable) -> int | None:
    """The oid of a first fill's staged pairs of `spec.table`, None when there are none: while the table a fill
    staged exists, that fill owns the table's windows; its name alone would also match a later fill's."""
    return _staged_table(session, spec)[0]


def held_staged_pairs(session: Session, spec: FrontLinkTable) -> StagedPairs | None:
    """A first fill's staged pairs of `spec.table` as their table's comment describes them; None when there are
    none, their comment is not one a fill wrote, or this role lacks the privileges of their table's owner, which
    reading them and writing their comment need (another login role may only drop them)."""
    oid, description, may_hold = _staged_table(session, spec)
    if not may_hold:
        return None
    try:
        described = json.loads(description)
        return StagedPairs(oid, described["pairs"], tuple(described["window"]), described["holder"])
    except (TypeError, ValueError, KeyError):
        return None


def hold_staged_pairs(
    session: Session, spec: FrontLinkTable, oid: int, pairs: int, window: tuple[str, str]
) -> StagedPairs:
    """Inside the caller's transaction, which holds the table's writers' lock: make this run the holder of the first
    fill's staged pairs of `spec.table` (a new token in their table's comment), and return them."""
    held = StagedPairs(oid, pairs, window, uuid.uuid4().hex)
    describe = session.sql(
        "links/describe_front_link_first_fill.sql",
        first_fill=spec.first_fill_table,
        description=sql.Literal(held.description()),
    )
    session.execute(describe)
    return held


def _staged_table(session: Session, spec: FrontLinkTable) -> tuple[int | None, str | None, bool | None]:
    params = {"schema": session.analytics_schema, "first_fill": spec.first_fill_table}
    return session.execute(session.sql("links/select_front_link_first_fill_staged.sql"), params).fetchone()


def take_over_from_first_fill(session: Session, spec: FrontLinkTable) -> None:
    """Inside the caller's transaction, which holds the table's writers' lock: end any first fill's hold on
    `spec.table` before writing it, by dropping the pairs it staged (its next slice then finds them gone) and
    building the index by owner it dropped. A fill's own last write does the same; so does the run after a killed
    fill."""
    if first_fill_staged(session, spec) is not None:
        session.execute(session.sql("links/drop_front_link_first_fill.sql", first_fill=spec.first_fill_table))
    build_newest_index_if_missing(session, spec)


def newest_index_present(session: Session, spec: FrontLinkTable) -> bool:
    """True when `spec.table` has its index by owner newest first, built and valid."""
    return index_validity(session.conn, session.source_schema, spec.newest_index) is True


def drop_newest_index_of_empty_table(session: Session, spec: FrontLinkTable) -> None:
    """Drop the index by owner newest first of `spec.table` for its first fill, when the table is empty, has no
    foreign key and has that index. A reader holding the table past the short lock_timeout leaves it, and so does
    a role that could not build it back (the least-privileged writer role has no CREATE in the source schema, and
    a table the application made is the application's): the fill then keeps it up row by row, as slower but as
    exact."""
    if not may_build_indexes(session, spec.table):
        LOG.info(
            f"{spec.table}: filled with all its indexes kept: the role has no CREATE on the schema to build one back"
        )
        return
    try:
        with session.conn.transaction():
            lock_link_table(session, spec.table)
            if (
                link_foreign_keys(session, spec.table)
                or not link_table_is_empty(session, spec.table)
                or not newest_index_present(session, spec)
            ):
                return
            set_short_lock_timeout(session.conn)
            session.execute(session.sql("links/drop_front_link_newest_index.sql", **_index_identifiers(spec)))
    except psycopg.errors.LockNotAvailable:
        LOG.info(f"{spec.table}: filled with all its indexes kept: a transaction held the table")
        return
    LOG.info(f"{spec.table}: first fill without its index by owner newest first, built once its rows are in")


def may_build_indexes(session: Session, table: str) -> bool:
    """Whether the run's role may build an index on `table` (CREATE INDEX needs CREATE on the schema and the table's
    ownership: a table the application made stays the application's)."""
    statement = session.sql("links/select_may_build_link_indexes.sql")
    return session.execute(statement, {"schema": session.source_schema, "table": table}).fetchone()[0]


def build_newest_index_if_missing(session: Session, spec: FrontLinkTable) -> None:
    """Inside the caller's transaction, which holds the table's writers' lock: build the index by owner newest first
    of `spec.table` when it is missing (a first fill dropped it; it, or a run after a killed one, builds it back)."""
    if newest_index_present(session, spec):
        return
    LOG.info(f"{spec.table}: building its index by owner newest first")
    started = time.perf_counter()
    session.execute(session.sql("links/build_front_link_newest_index.sql", **_index_identifiers(spec)))
    LOG.info(f"{spec.table}: index by owner newest first built in {time.perf_counter() - started:.1f}s")


def _index_identifiers(spec: FrontLinkTable) -> dict[str, str]:
    return {"links": spec.table, "owner": spec.owner_column, "newest_index": spec.newest_index}
