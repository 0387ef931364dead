"""The transactions every write of a link table runs in: the writers' lock held, retried whole when the application
changed something under them, and for a Front link table its first fill's hold ended first unless the write is the
fill's own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from convo_pipelines.defs.links.link_storage import (
    first_fill_staged,
    lock_link_table,
    take_over_from_first_fill,
)
from convo_pipelines.defs.links.tables import (
    FrontLinkTable,
)
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.retries import FOREIGN_KEY_VIOLATION, retry_concurrent_changes
from convo_pipelines.lib.writing.transactions import pipeline_transaction

T = TypeVar("T")


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
    staged: StagedPairs | None = None,
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
