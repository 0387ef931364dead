"""Migrations: applied once, recorded, safe under concurrency, reversible."""

from __future__ import annotations

import threading

import psycopg
import pytest

from convo_pipelines.db import connect
from convo_pipelines.migrations import applied_versions, available_migrations, migrate, rollback_last

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
        for row in db.execute("select indexname, indexdef from pg_indexes where schemaname = 'public' and tablename like '%conversations'")
    }
    assert "UNIQUE INDEX" in indexes["people_front_conversations_person_conversation_key"]
    assert "(front_conversation_id)" in indexes["people_front_conversations_front_conversation_id_idx"]
    assert "(front_conversation_id)" in indexes["clients_front_conversations_front_conversation_id_idx"]
    assert "UNIQUE INDEX" in indexes["project_conversations_conversation_key"]
    assert "(project_id, conversation_id)" in indexes["project_conversations_project_conversation_key"]
    on_delete = dict(
        db.execute(
            "select conname, confdeltype from pg_constraint where contype = 'f' and conrelid::regclass::text in "
            "('people_front_conversations', 'clients_front_conversations', 'project_conversations')"
        ).fetchall()
    )
    assert on_delete["people_front_conversations_person_id_fkey"] == "c"
    assert on_delete["clients_front_conversations_client_id_fkey"] == "c"
    assert on_delete["project_conversations_added_by_fkey"] == "n"


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
        conn.execute("drop table public.project_conversations")
        conn.execute("delete from public.convo_pipelines_migrations")
        conn.commit()
        with pytest.raises(psycopg.errors.DuplicateTable):
            migrate(conn, SOURCE, ANALYTICS)
        conn.rollback()
        assert applied_versions(conn, SOURCE) == []
        assert conn.execute("select to_regclass('public.project_conversations')").fetchone()[0] is None


def _roll_back_everything(conn: psycopg.Connection) -> None:
    undone = rollback_last(conn, SOURCE, ANALYTICS)
    while undone is not None:
        undone = rollback_last(conn, SOURCE, ANALYTICS)
