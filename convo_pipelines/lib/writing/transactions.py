"""The pipeline's transactions and locks: the settings of its transactions, how long it queues for a lock on a
table the application uses, and its own advisory locks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg
from psycopg import sql

from convo_pipelines.lib.postgres.sqlfiles import read_sql

# How long a statement that needs a lock stronger than ROW EXCLUSIVE on a table the app uses may queue
# for it: while it queues, every app statement on that table queues behind it, so this bounds the app's wait.
SHORT_LOCK_TIMEOUT = "50ms"
# A row stamped with now() (updated_at, created_at) becomes visible only when its transaction commits,
# possibly after a reader has read past its stamp. Readers that follow stamps (the late-change sensor,
# the incremental histories runs) re-read this far back, so transactions that commit up to this late are
# never missed; later ones wait for the next full recompute.
LATE_COMMIT_ALLOWANCE = timedelta(minutes=2)


def set_pipeline_transaction_settings(conn: psycopg.Connection) -> None:
    """The settings of every pipeline transaction (set_pipeline_transaction_settings.sql), as SET LOCAL."""
    conn.execute(read_sql("lib/session/set_pipeline_transaction_settings.sql"))


@contextmanager
def pipeline_transaction(conn: psycopg.Connection) -> Iterator[None]:
    """A transaction (a savepoint inside one) with the pipeline's settings, which end with it."""
    with conn.transaction():
        set_pipeline_transaction_settings(conn)
        yield


def set_short_lock_timeout(conn: psycopg.Connection) -> None:
    """Give up on a lock after SHORT_LOCK_TIMEOUT for the rest of the caller's transaction (then retry)."""
    conn.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(SHORT_LOCK_TIMEOUT)))


def wait_for_own_lock(conn: psycopg.Connection, statement: sql.Composable, params: dict[str, object]) -> None:
    """Take one of the pipeline's own transaction-level advisory locks, however long another run holds it.

    A DBA's lock_timeout bounds how long statements queue for a lock (behind one, the app's queue too); this
    wait holds nothing anyone queues behind, so it runs without it, and the caller's transaction then has
    the DBA's value again for its own statements.
    """
    previous = conn.execute("select current_setting('lock_timeout')").fetchone()[0]
    conn.execute("set local lock_timeout = 0")
    conn.execute(statement, params)
    conn.execute("select set_config('lock_timeout', %s, true)", (previous,))
