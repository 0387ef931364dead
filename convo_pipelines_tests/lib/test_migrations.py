"""Migrations: applied once, recorded, safe under concurrency, reversible."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.migrations.runner import applied_versions, migrate, read_schema_state, rollback_last
from convo_pipelines.lib.migrations.shipped import EQUIVALENT_EARLIER_CHECKSUMS, available_migrations
from convo_pipelines.lib.postgres.db import connect

SOURCE, ANALYTICS = "public", "analytics"


def test_template_has_every_migration_recorded(db: psycopg.Connection) -> None:
    shipped = [m.version for m in available_migrations()]
    assert shipped and applied_versions(db, SOURCE) == shipped


def test_second_migrate_applies_nothing(database_url: str) -> None:
    with connect(database_url) as conn:
        assert migrate(conn, SOURCE, ANALYTICS) == []


def test_link_tables_have_their_keys_and_indexes(db: psycopg.Connection) -> None:
    indexes = {
        row[0]: row[1]
        for row in db.execute(
            "select indexname, indexdef from pg_indexes where schemaname = 'public' and tablename like '%conversations'"
        )
    }
    assert "UNIQUE INDEX" in indexes["people_front_conversations_conversation_person_key"]
    assert "(front_conversation_id, person_id)" in indexes["people_front_conversations_conversation_person_key"]
    assert "(front_conversation_id, client_id)" in indexes["clients_front_conversations_conversation_client_key"]
    assert "people_front_conversations_front_conversation_id_idx" not in indexes
    assert "UNIQUE INDEX" in indexes["project_conversations_conversation_key"]
    assert "(project_id, conversation_id)" in indexes["project_conversations_project_conversation_key"]
    # The foreign keys come with each table's first fill (see links/test_first_fill.py), so that filling never
    # has to drop one: the migrations leave the link tables without any.
    foreign_keys = db.execute(
        "select conname from pg_constraint where contype = 'f' and conrelid::regclass::text in "
        "('people_front_conversations', 'clients_front_conversations', 'project_conversations')"
    ).fetchall()
    assert foreign_keys == []


def test_rollback_undoes_the_newest_and_migrate_reapplies_it(database_url: str) -> None:
    newest = available_migrations()[-1]
    with connect(database_url) as conn:
        assert rollback_last(conn, SOURCE, ANALYTICS) == newest
        assert newest.version not in applied_versions(conn, SOURCE)
        assert migrate(conn, SOURCE, ANALYTICS) == [newest]
        assert applied_versions(conn, SOURCE)[-1] == newest.version


def test_rollback_of_the_first_migration_drops_the_link_tables(database_url: str) -> None:
    with connect(database_url) as conn:
        _roll_back_everything(conn)
        left = conn.execute("select to_regclass('public.people_front_conversations')").fetchone()[0]
        assert left is None and applied_versions(conn, SOURCE) == []


def test_two_processes_never_apply_a_migration_twice(database_url: str) -> None:
    with connect(database_url) as conn:
        _roll_back_everything(conn)
    results: list[object] = []

    def run() -> None:
        try:
            with connect(database_url) as conn:
                results.append(len(migrate(conn, SOURCE, ANALYTICS)))
        except Exception as exc:  # surfaced by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each migration is applied by exactly one process; with several migrations, two processes may
    # each apply some of them (one waits on the lock for the first, then applies the next).
    assert all(isinstance(count, int) for count in results), results
    assert sum(results) == len(available_migrations())


def test_a_failing_migration_leaves_nothing_behind(database_url: str) -> None:
    with connect(database_url) as conn:
        _roll_back_everything(conn)
        # 0001 creates two tables and their indexes before it meets this one, at its last CREATE TABLE's last
        # constraint (whose index takes the name); a table of the link tables' own names is refused earlier.
        conn.execute("create table public.project_conversations_conversation_key (blocker integer)")
        conn.commit()
        with pytest.raises(psycopg.errors.DuplicateTable):
            migrate(conn, SOURCE, ANALYTICS)
        conn.rollback()
        assert applied_versions(conn, SOURCE) == []
        created_before_the_failure = (
            "people_front_conversations",
            "people_front_conversations_front_conversation_id_idx",
            "clients_front_conversations",
        )
        left = [
            relation
            for relation in created_before_the_failure
            if conn.execute("select to_regclass(%s)", (f"public.{relation}",)).fetchone()[0] is not None
        ]
        assert left == []


def _roll_back_everything(conn: psycopg.Connection) -> None:
    undone = rollback_last(conn, SOURCE, ANALYTICS)
    while undone is not None:
        undone = rollback_last(conn, SOURCE, ANALYTICS)


# ---------------------------------------------------------------- checksums


def test_each_applied_migration_records_its_file_checksum(db: psycopg.Connection) -> None:
    recorded = dict(db.execute("select version, checksum from public.convo_pipelines_migrations").fetchall())
    assert recorded == {m.version: m.checksum() for m in available_migrations()}
    state = read_schema_state(db, SOURCE)
    assert (state.pending, state.changed, state.not_shipped, state.without_checksum) == ([], [], [], [])


def test_an_edited_applied_migration_is_reported_by_name_and_never_overwritten(
    db: psycopg.Connection, database_url: str
) -> None:
    edited = available_migrations()[1]
    db.execute("update public.convo_pipelines_migrations set checksum = 'edited' where version = %s", (edited.version,))
    assert read_schema_state(db, SOURCE).changed == [edited]
    with connect(database_url) as conn:
        assert migrate(conn, SOURCE, ANALYTICS) == []
    assert read_schema_state(db, SOURCE).changed == [edited]  # only NULLs are adopted


def test_a_database_that_applied_an_equivalent_earlier_text_is_current(db: psycopg.Connection) -> None:
    """0007's first text, applied by earlier versions, left the same schema: no 'changed' report for it."""
    (version, (earlier, *_)), *_ = EQUIVALENT_EARLIER_CHECKSUMS.items()
    db.execute("update public.convo_pipelines_migrations set checksum = %s where version = %s", (earlier, version))
    assert read_schema_state(db, SOURCE).changed == []
    db.execute("update public.convo_pipelines_migrations set checksum = 'edited' where version = %s", (version,))
    assert [m.version for m in read_schema_state(db, SOURCE).changed] == [version]


def test_rows_applied_before_checksums_existed_are_adopted_by_the_next_migrate(
    db: psycopg.Connection, database_url: str
) -> None:
    # A database migrated by the code before checksums: the record table has no such column.
    db.execute("alter table public.convo_pipelines_migrations drop column checksum")
    state = read_schema_state(db, SOURCE)
    assert state.pending == [] and len(state.without_checksum) == len(available_migrations()) and state.changed == []
    # Runs accept it as it is: nothing is pending, and nothing is written.
    with PostgresResource(database_url=database_url, auto_migrate=False).session() as session:
        session.execute("select 1")
    assert (
        db.execute(
            "select count(*) from information_schema.columns where column_name = 'checksum' "
            "and table_name = 'convo_pipelines_migrations'"
        ).fetchone()[0]
        == 0
    )

    with connect(database_url) as conn:
        assert migrate(conn, SOURCE, ANALYTICS) == []
    recorded = dict(db.execute("select version, checksum from public.convo_pipelines_migrations").fetchall())
    assert recorded == {m.version: m.checksum() for m in available_migrations()}


# ---------------------------------------------------------------- living beside the application


def test_a_migration_waiting_for_an_app_lock_never_queues_the_app_behind_it(database_url: str) -> None:
    """0004 indexes analytics.histories_sessions (a SHARE lock): while an app transaction writes to the table,
    the migration gives up after a short wait and retries, so other writers get through meanwhile."""
    index_migration = next(m for m in available_migrations() if m.version == 4)
    with connect(database_url) as conn:
        while applied_versions(conn, SOURCE)[-1] >= index_migration.version:
            rollback_last(conn, SOURCE, ANALYTICS)
    retries: list[str] = []
    results: list[object] = []

    def run_migrate() -> None:
        try:
            with connect(database_url) as conn:
                results.append(migrate(conn, SOURCE, ANALYTICS, log=retries.append))
        except Exception as exc:  # surfaced by the assertion below
            results.append(exc)

    with connect(database_url) as app_writer:
        app_writer.execute("lock table analytics.histories_sessions in row exclusive mode")
        migrating = threading.Thread(target=run_migrate)
        migrating.start()
        deadline = time.monotonic() + 30
        while not any(index_migration.label in line for line in retries) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(f"migration {index_migration.label}: attempt" in line for line in retries), retries
        # Another app writer: with the migration queued for good it would wait behind it and time out.
        with connect(database_url) as other_writer:
            for _ in range(5):
                other_writer.execute("set local lock_timeout = '1s'")
                other_writer.execute("lock table analytics.histories_sessions in row exclusive mode")
                other_writer.commit()
        assert migrating.is_alive() and not results  # still waiting for the first writer
        app_writer.commit()
    migrating.join(timeout=120)
    assert results and not isinstance(results[0], Exception), results
    assert results[0][0] == index_migration
    with connect(database_url) as conn:
        assert applied_versions(conn, SOURCE) == [m.version for m in available_migrations()]
