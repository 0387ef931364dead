"""The writers' lock of a link table, and the transactions every write of one runs in.

Every write of a link table is a transaction holding its writers' advisory lock (transaction-level, so nothing
outlives a transaction on a pooled server connection) and changing rows of the table itself, so logical
subscribers receive each change as a row change of that table. A transaction that meets a concurrent application
change (a person deleted after the statement's snapshot, a deadlock, a lock timeout) is retried whole; each is
idempotent, so the retry is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import dagster as dg

from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.retries import FOREIGN_KEY_VIOLATION, retry_concurrent_changes
from convo_pipelines.lib.writing.transactions import pipeline_transaction, wait_for_own_lock

# First key of the per-table advisory locks ('conv' in ASCII); the second is hashtext(schema.table).
LOCK_CLASS = 0x636F6E76

LOG = dg.get_dagster_logger(__name__)
T = TypeVar("T")


def lock_link_table(session: Session, table: str) -> None:
    """Wait for, then hold until commit, the lock every writer of `table` takes."""
    params = {"lock_class": LOCK_CLASS, "table": f"{session.source_schema}.{table}"}
    wait_for_own_lock(session.conn, session.sql("links/lock_link_table.sql"), params)


def in_retried_transaction(session: Session, table: str, work: Callable[[], T]) -> T:
    """Run `work` in one transaction holding the table's writers' lock, again from the start when the
    application changed something under it (a person deleted after the snapshot fails the insert of a
    link to them: the retry's snapshot no longer has that person)."""

    def attempt() -> T:
        with pipeline_transaction(session.conn):
            lock_link_table(session, table)
            return work()

    return retry_concurrent_changes(attempt, what=table, log=LOG.info, also_retry=frozenset({FOREIGN_KEY_VIOLATION}))


def link_table_is_empty(session: Session, table: str) -> bool:
    return session.execute(session.sql("links/select_link_table_is_empty.sql", links=table)).fetchone()[0]
