"""The sessions `connect` (lib/postgres/db.py) opens: only the TimeZone set on the session, the pipeline's settings
inside its transactions."""

from __future__ import annotations

import gc
import time

import psycopg
import psycopg.conninfo
import pytest
from psycopg import sql
from psycopg.pq import TransactionStatus

from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.sqlfiles import read_sql
from convo_pipelines.lib.postgres.timing import COLLECTION_CLOCK, counted_as_sql, sql_seconds
from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines.lib.writing.transactions import pipeline_transaction
from convo_pipelines_tests.helpers import fresh_database


def jit(conn: psycopg.Connection) -> str:
    return conn.execute("select current_setting('jit')").fetchone()[0]


def test_pipeline_transactions_run_without_jit_and_leave_no_setting_on_the_session(server_url: str) -> None:
    """The pipeline's settings are SET LOCAL: inside its transactions only, so a pooled server connection keeps
    none of them; staging puts the database's own JIT setting back for its transaction."""
    with fresh_database(server_url, "convo_session") as url:
        with connect(url, autocommit=True) as admin:
            # The database's own setting, as a DBA may give it: what staging must put back, whatever the server's is.
            database = admin.execute("select current_database()").fetchone()[0]
            admin.execute(sql.SQL("alter database {} set jit = on").format(sql.Identifier(database)))
        with connect(url, autocommit=True) as pipeline:
            assert pipeline.info.transaction_status == TransactionStatus.IDLE
            assert (jit(pipeline), flush_after(pipeline)) == ("on", "0")
            with pipeline_transaction(pipeline):
                assert (jit(pipeline), flush_after(pipeline)) == ("off", "256kB")
                pipeline.execute(read_sql("links/set_staging_settings.sql"))
                assert jit(pipeline) == "on"
                pipeline.execute(read_sql("links/set_hashed_distinct_settings.sql"))
                assert pipeline.execute("select current_setting('enable_sort')").fetchone()[0] == "off"
            # SET LOCAL: gone with the transaction.
            assert (jit(pipeline), flush_after(pipeline)) == ("on", "0")
            assert pipeline.execute("select current_setting('enable_sort')").fetchone()[0] == "on"


def test_a_pipeline_connection_sends_no_startup_options(server_url: str) -> None:
    """A transaction pooler (pgbouncer) refuses the `options` startup parameter: the pipeline sends none."""
    with fresh_database(server_url, "convo_options") as url, connect(url, autocommit=True) as conn:
        assert "options" not in psycopg.conninfo.conninfo_to_dict(conn.info.dsn)


def time_zone(conn: psycopg.Connection) -> str:
    return conn.execute("select current_setting('TimeZone')").fetchone()[0]


@pytest.mark.parametrize("autocommit", [False, True])
def test_a_connection_reads_stamps_in_its_zone_whatever_the_database_role_or_pgtz_say(
    server_url: str, autocommit: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's TimeZone is the zone asked for (SOURCE_TIME_ZONE by default, UTC when unset), over the
    database's and the role's settings and PGTZ's startup parameter, in the autocommit mode asked for: a
    `timestamp` stamp then means that zone's wall time wherever it meets a timestamptz."""
    with fresh_database(server_url, "convo_zone") as url:
        with psycopg.connect(psycopg_url(url), autocommit=True) as admin:
            database = sql.Identifier(admin.info.dbname)
            admin.execute(sql.SQL("alter database {} set timezone = 'America/New_York'").format(database))
            admin.execute(
                sql.SQL("alter role current_user in database {} set timezone = 'Europe/Paris'").format(database)
            )
        monkeypatch.setenv("PGTZ", "Asia/Tokyo")
        with psycopg.connect(psycopg_url(url)) as plain:
            assert time_zone(plain) == "Asia/Tokyo"
        with connect(url, autocommit=autocommit) as conn:
            assert (time_zone(conn), conn.autocommit) == ("UTC", autocommit)
            assert conn.execute(
                "select '2024-01-09 00:30'::timestamp < '2024-01-09 00:00+00'::timestamptz + interval '1 hour'"
            ).fetchone()[0]
        monkeypatch.setenv("SOURCE_TIME_ZONE", "America/Chicago")
        with connect(url, autocommit=autocommit) as conn:
            assert (time_zone(conn), conn.autocommit) == ("America/Chicago", autocommit)
        with connect(url, autocommit=autocommit, time_zone="Europe/Paris") as conn:
            assert time_zone(conn) == "Europe/Paris"
            # Set before the connection was handed out: the caller's first transaction rolling back keeps it.
            conn.rollback()
            assert time_zone(conn) == "Europe/Paris"


def flush_after(conn: psycopg.Connection) -> str:
    return conn.execute("select current_setting('backend_flush_after')").fetchone()[0]


def test_a_garbage_collection_inside_a_statements_span_is_not_counted_as_sql(server_url: str) -> None:
    """Python's collector stops the process where an allocation triggers it, inside execute() too: that pause
    is the process's, not PostgreSQL's, so sql_seconds leaves it out."""
    # Objects the collector must walk, in reference cycles, so that a full collection takes a while.
    heap = []
    for _ in range(300_000):
        node: list = []
        node.append(node)
        heap.append(node)
    with fresh_database(server_url, "convo_gc") as url, connect(url, autocommit=True) as conn:
        collected_before = COLLECTION_CLOCK.seconds
        started = time.perf_counter()
        # As a caller waiting on another connection's statement counts its wait (here 20 ms), and a
        # collection lands meanwhile.
        with counted_as_sql(conn):
            time.sleep(0.02)
            gc.collect()
        elapsed = time.perf_counter() - started
        paused = COLLECTION_CLOCK.seconds - collected_before
    assert paused > 0.01, "the collection was too quick to tell apart"
    assert 0.02 <= sql_seconds(conn) <= elapsed - paused + 1e-6
    del heap
