"""The bench's WAL by kind of record: pg_waldump's statistics read into table rows, index entries, whole pages and
the rest."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from convo_benchmarks.bench_scratch import Scratch
from convo_benchmarks.bench_wal_kinds import ServerFiles, bytes_by_kind, held_wal, runs_here
from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines_tests.helpers import url_as

# `pg_waldump --stats=record` of a first fill on PostgreSQL 15 (a part of it), as the tool prints it.
WALDUMP_STATS = """\
WAL statistics between 0/22F16518 and 0/3E2119B8:
Type                                           N      (%)          Record size      (%)             FPI size      (%)        Combined size      (%)
----                                           -      ---          -----------      ---             --------      ---        -------------      ---
XLOG/CHECKPOINT_ONLINE                         2 (  0.00)                  228 (  0.00)                    0 (  0.00)                  228 (  0.00)
XLOG/FPI                                    9394 (  0.24)               460306 (  0.12)             68337276 ( 99.33)             68797582 ( 15.17)
Transaction/COMMIT                           482 (  0.01)                73677 (  0.02)                    0 (  0.00)                73677 (  0.02)
Heap2/MULTI_INSERT                           567 (  0.01)               146962 (  0.04)                38972 (  0.06)               185934 (  0.04)
Heap/INSERT                              1278916 ( 32.68)            162918998 ( 42.36)               106532 (  0.15)            163025530 ( 35.95)
Heap/INSERT+INIT                           16083 (  0.41)              2168104 (  0.56)                    0 (  0.00)              2168104 (  0.48)
Btree/INSERT_LEAF                        2580873 ( 65.96)            206452602 ( 53.67)               241424 (  0.35)            206694026 ( 45.58)
Btree/SPLIT_R                              12839 (  0.33)             11282863 (  2.93)                 5368 (  0.01)             11288231 (  2.49)
                                        --------                      --------                      --------                      --------
Total                                    3912923                     384640008 [84.83%]             68800364 [15.17%]            453440372 [100%]
"""


def test_each_record_counts_its_combined_bytes_in_its_kind_and_the_total_line_in_none() -> None:
    assert bytes_by_kind(WALDUMP_STATS) == {
        "table_rows": 185934 + 163025530 + 2168104,
        "index_entries": 206694026 + 11288231,
        "whole_pages": 68797582,
        # A checkpoint is XLOG's, but not a whole page.
        "other": 228 + 73677,
    }


def insert_indexed_rows(url: str) -> None:
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("create table held (id bigint primary key, note text)")
        conn.execute("insert into held select n, repeat('x', 40) from generate_series(1, 20000) as n")


def test_a_step_inside_held_wal_reads_as_rows_and_index_entries_from_the_servers_own_files(
    empty_database_url: str,
) -> None:
    reports: list[str] = []
    scratch = Scratch(empty_database_url, "public", "analytics", "dagster")
    with held_wal(scratch, reports.append) as held:
        insert_indexed_rows(empty_database_url)
        kinds = held.kinds()
    # The test servers (the embedded one, or the local one TEST_DATABASE_URL names) keep their WAL on this machine.
    assert reports == [] and kinds is not None, reports
    # 20,000 rows of about 80 bytes and their 20,000 primary-key entries, each a record of its own (the other tests'
    # writes on the server, in the same stretch of WAL, can only add to them).
    assert kinds["table_rows"] >= 1.0 and kinds["index_entries"] >= 0.8, kinds
    # The slot that held the WAL is gone once the block is left.
    with psycopg.connect(psycopg_url(empty_database_url)) as conn:
        assert held.slot is not None
        assert conn.execute(
            "select count(*) from pg_replication_slots where slot_name = %s", [held.slot]
        ).fetchone() == (0,)


def test_a_role_that_may_not_read_where_the_wal_is_measures_without_kinds_and_says_why(empty_database_url: str) -> None:
    role = f"convo_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(psycopg_url(empty_database_url), autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        admin.execute(sql.SQL("grant create on schema public to {}").format(sql.Identifier(role)))
    try:
        url = url_as(empty_database_url, role)
        reports: list[str] = []
        with held_wal(Scratch(url, "public", "analytics", "dagster"), reports.append) as held:
            insert_indexed_rows(url)
            assert held.kinds() is None
        assert reports == [
            "WAL by kind left out: this role may not read where the server keeps its WAL (data_directory)"
        ]
    finally:
        with psycopg.connect(psycopg_url(empty_database_url), autocommit=True) as admin:
            admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_a_data_directory_is_the_servers_own_only_where_its_postmaster_pid_gives_the_servers_start(
    tmp_path: Path,
) -> None:
    (tmp_path / "postmaster.pid").write_text("2246\n/var/lib/postgresql/16/main\n1795726649\n5432\n")
    # The server takes its start time a moment after the file's: the next second, at times.
    assert runs_here(ServerFiles(str(tmp_path), 1795726649, 16, "0/0"))
    assert runs_here(ServerFiles(str(tmp_path), 1795726650, 16, "0/0"))
    # Another server at the same path (another machine's, or one restarted since), or no such folder here.
    assert not runs_here(ServerFiles(str(tmp_path), 1795726709, 16, "0/0"))
    assert not runs_here(ServerFiles(str(tmp_path / "elsewhere"), 1795726649, 16, "0/0"))
