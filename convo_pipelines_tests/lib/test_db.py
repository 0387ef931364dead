"""The sessions `lib.db.connect` opens: the pipeline's settings, and the server's own for tooling that plays the app."""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from convo_pipelines.lib.db import connect, sql_seconds
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
