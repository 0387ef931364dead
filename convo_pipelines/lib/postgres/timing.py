"""Timed cursors and clocks: how much of a step's time its connection spent in PostgreSQL."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


class _TimesStatements:
    """Adds each statement's time (round trip, planning, execution) to the connection's `sql_seconds`, so
    an asset can report the time spent in PostgreSQL apart from its own Python."""

    def execute(self, query, params=None, **kwargs):
        with counted_as_sql(self.connection):
            return super().execute(query, params, **kwargs)


class TimedCursor(_TimesStatements, psycopg.Cursor):
    """The cursor of every connection `connect` makes: values bound server-side, each statement timed."""


class TimedClientCursor(_TimesStatements, psycopg.ClientCursor):
    """For the statements PostgreSQL takes no parameters for (CREATE TABLE AS): psycopg binds the values into
    the statement's text itself, each quoted by its adapter as a literal; timed like TimedCursor."""


def sql_seconds(conn: psycopg.Connection) -> float:
    """Seconds this connection has spent executing statements (0 for a connection not made by `connect`)."""
    return getattr(conn, "sql_seconds", 0.0)


class StepClock:
    """A step's wall time and the part of it its connection spent in PostgreSQL: the `seconds` and
    `sql_seconds` every asset records, so that Dagster's own share of a step reads off its metadata."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.sql = 0.0

    def read_sql(self, conn: psycopg.Connection) -> None:
        """Take the connection's SQL time (call it before the connection closes)."""
        self.sql = sql_seconds(conn)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def metadata(self) -> dict[str, float]:
        return {"seconds": round(self.seconds, 3), "sql_seconds": round(self.sql, 4)}


class _CollectionClock:
    """Seconds this process spent in Python's cyclic garbage collector, which stops every thread while it runs.

    In a Dagster run process (millions of objects) a full collection takes longer than a small step's
    statements, and it lands where an allocation triggers it: inside a statement's execute() it is psycopg
    building the query in Python, not PostgreSQL's time, and would be counted as SQL without this clock."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


COLLECTION_CLOCK = _CollectionClock()
gc.callbacks.append(COLLECTION_CLOCK)


@contextmanager
def counted_as_sql(conn: psycopg.Connection) -> Iterator[None]:
    """Adds the block's time to `conn`'s sql_seconds: a statement of its own (every timed cursor's), or the
    caller waiting on other connections' statements that do its work beside this one's; less the garbage
    collections that stopped the process meanwhile (_CollectionClock)."""
    started, collected = time.perf_counter(), COLLECTION_CLOCK.seconds
    try:
        yield
    finally:
        paused = COLLECTION_CLOCK.seconds - collected
        conn.sql_seconds = sql_seconds(conn) + max(time.perf_counter() - started - paused, 0.0)
