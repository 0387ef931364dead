"""The sessions `lib.db.connect` opens: the pipeline's settings, and the server's own for tooling that plays the app."""

from __future__ import annotations

import gc
import time

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from convo_pipelines.lib.db import COLLECTION_CLOCK, connect, counted_as_sql, sql_seconds
from convo_pipelines.lib.sqlfiles import read_sql
from convo_pipelines_tests.helpers import fresh_database


def jit(conn: psycopg.Connection) -> str:
    return conn.execute("select current_setting('jit')").fetchone()[0]


def test_pipeline_sessions_run_without_jit_and_staging_puts_the_databases_own_setting_back(server_url: str) -> None:
    with fresh_database(server_url, "convo_session") as url:
        with connect(url, autocommit=True) as admin:
            # The database's own setting, as a DBA may give it: what staging must put back, whatever the server's is.
            database = admin.execute("select current_database()").fetchone()[0]
            admin.execute(sql.SQL("alter database {} set jit = on").format(sql.Identifier(database)))
        with connect(url) as pipeline:
            # The SET is committed and not counted: the caller starts idle, with its own statements' time only.
            assert pipeline.info.transaction_status == TransactionStatus.IDLE
            assert sql_seconds(pipeline) == 0.0
            assert jit(pipeline) == "off"
            # Its own writes go to disk as it goes, not in the checkpoint's fsync that app commits queue behind.
            assert pipeline.execute("select current_setting('backend_flush_after')").fetchone()[0] == "256kB"
        # As a first fill stages its rows: an autocommit connection, one transaction per step.
        with connect(url, autocommit=True) as pipeline:
            assert jit(pipeline) == "off"
            with pipeline.transaction():
                pipeline.execute(read_sql("links/set_staging_settings.sql"))
                assert jit(pipeline) == "on"
                assert pipeline.execute("select current_setting('enable_sort')").fetchone()[0] == "off"
            # SET LOCAL: gone with the staging transaction.
            assert jit(pipeline) == "off"
            assert pipeline.execute("select current_setting('enable_sort')").fetchone()[0] == "on"
        with connect(url, autocommit=True, pipeline_session=False) as app:
            assert jit(app) == "on"
            assert app.execute("select current_setting('backend_flush_after')").fetchone()[0] == "0"


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
