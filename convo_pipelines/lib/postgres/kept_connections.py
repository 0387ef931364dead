"""Connections a run's steps and checks finished with, kept for its next ones.

A run's statements are short next to a new backend's start: PostgreSQL forks a process and fills its catalog
caches anew on each relation's first use, which costs a check or a scoped run's step several times its
statements' own time. So a run hands the connection of one step to the next and to its checks (Dagster runs
them one after another in the run's process). The pipeline keeps nothing on a session but the TimeZone it
connected with (lib/postgres/db.py), which every block wants again; anything else a transaction pooler could hand to
another client. So there is nothing to reset; one round trip tells a connection the server ended meanwhile
(a restart), which is closed for a new one.
"""

from __future__ import annotations

import threading
import time

import psycopg
from psycopg.pq import TransactionStatus

# Connections a run keeps for its next steps and checks, which run one at a time.
MAX_IDLE_RUN_CONNECTIONS = 1
# A kept connection idle longer than this is closed rather than reused: a run's steps follow one another
# within seconds, and one left idle for long (a step queued for a pool slot) may have been dropped by a
# firewall or a failover without a word, which only TCP's own time-out (minutes) would reveal.
MAX_IDLE_SECONDS = 60.0


class KeptConnections:
    """The connections given back for reuse, each with the time.monotonic() it was given back at."""

    def __init__(self) -> None:
        self._idle: list[tuple[psycopg.Connection, float]] = []
        self._guard = threading.Lock()

    def take(self, autocommit: bool) -> psycopg.Connection | None:
        """A kept connection that still answers, reset for a new block (its SQL time at zero), or None."""
        while (conn := self._newest_fresh()) is not None:
            try:
                conn.autocommit = True
                conn.read_only = conn.isolation_level = conn.deferrable = None
                conn.execute("select")
                conn.autocommit = autocommit
            except psycopg.Error:
                conn.close()
                continue
            except BaseException:
                conn.close()  # the step is being stopped: nobody would close it
                raise
            conn.sql_seconds = 0.0
            return conn
        return None

    def give_back(self, conn: psycopg.Connection, *, reusable: bool) -> None:
        """Keep `conn`, its transaction rolled back, when `reusable` and it is whole and there is room; else
        close it (the server then rolls back whatever it had open)."""
        if reusable and not conn.closed and not conn.broken:
            try:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.rollback()
            except psycopg.Error:
                conn.close()
                return
            with self._guard:
                if len(self._idle) < MAX_IDLE_RUN_CONNECTIONS:
                    self._idle.append((conn, time.monotonic()))
                    return
        conn.close()

    def close_all(self) -> None:
        with self._guard:
            idle, self._idle[:] = list(self._idle), []
        for conn, _ in idle:
            conn.close()

    def _newest_fresh(self) -> psycopg.Connection | None:
        """The connection given back last, closing any kept longer than MAX_IDLE_SECONDS (a network device
        may have dropped it without a word, and the reset would then wait for TCP to give up)."""
        with self._guard:
            while self._idle:
                conn, given_back_at = self._idle.pop()
                if time.monotonic() - given_back_at <= MAX_IDLE_SECONDS:
                    return conn
                conn.close()
        return None
