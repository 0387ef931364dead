"""Migration 0008 moves a filled deployment's Front link tables to the unique pair led by the conversation: its
indexes are built concurrently beside the app, a build killed halfway is dropped and built again, and its down
migration gives the tables their previous index set back."""

from __future__ import annotations

import threading

import psycopg
import pytest

from convo_pipelines.lib.migrations.runner import applied_versions, migrate
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.app_workload import AppWorkload
from convo_pipelines_tests.helpers import roll_back_through, wait_until
from convo_pipelines_tests.source_data import expected_client_links, expected_people_links, link_pairs
from convo_pipelines_tests.test_live_database import (
    FRONT_ASSETS,
    RANGE,
    SCHEMA,
    failure_of,
    materialize,
    seed_live_data,
)

ANALYTICS = "analytics"
CONVERSATION_KEY_MIGRATION = 8
CONVERSATION_KEYS = {
    "people_front_conversations_conversation_person_key": "(front_conversation_id, person_id)",
    "clients_front_conversations_conversation_client_key": "(front_conversation_id, client_id)",
}
OWNER_KEYS = {
    "people_front_conversations_person_conversation_key": "(person_id, front_conversation_id)",
    "clients_front_conversations_client_conversation_key": "(client_id, front_conversation_id)",
}
CONVERSATION_INDEXES = {
    "people_front_conversations_front_conversation_id_idx": "(front_conversation_id)",
    "clients_front_conversations_front_conversation_id_idx": "(front_conversation_id)",
}
# What the migration leaves: each conversation key unique, valid and backed by its constraint.
CONVERSATION_KEYS_BUILT = {name: (columns, True, True, True) for name, columns in CONVERSATION_KEYS.items()}


def front_link_indexes(db: psycopg.Connection) -> dict[str, tuple[str, bool, bool, bool]]:
    """{index: (its columns, unique, valid, backed by a constraint)} of the two Front link tables, their newest-first
    indexes left out."""
    rows = db.execute(
        "select index_class.relname, pg_get_indexdef(index_row.indexrelid), index_row.indisunique,"
        " index_row.indisvalid, exists (select 1 from pg_constraint where conindid = index_row.indexrelid)"
        " from pg_index as index_row join pg_class as index_class on index_class.oid = index_row.indexrelid"
        " where index_row.indrelid in ('people_front_conversations'::regclass, 'clients_front_conversations'::regclass)"
        " and index_class.relname not like '%%newest_idx' and index_class.relname not like '%%pkey'"
    ).fetchall()
    return {
        name: (definition[definition.index("(") :], unique, valid, constraint)
        for name, definition, unique, valid, constraint in rows
    }


def assert_front_links_exact(db: psycopg.Connection) -> None:
    assert link_pairs(db, SCHEMA, "people_front_conversations") == expected_people_links(db, SCHEMA)
    assert link_pairs(db, SCHEMA, "clients_front_conversations") == expected_client_links(db, SCHEMA)


def roll_back_to_before_the_conversation_key(database_url: str) -> None:
    with connect(database_url) as conn:
        roll_back_through(conn, CONVERSATION_KEY_MIGRATION, SCHEMA, ANALYTICS)


def test_the_conversation_key_replaces_the_owner_key_and_the_index_by_conversation(db, database_url) -> None:
    assert front_link_indexes(db) == CONVERSATION_KEYS_BUILT
    roll_back_to_before_the_conversation_key(database_url)
    # Every restored index valid: the owner keys backed by their constraints, the indexes by conversation plain ones.
    before = {name: (columns, True, True, True) for name, columns in OWNER_KEYS.items()}
    before |= {name: (columns, False, True, False) for name, columns in CONVERSATION_INDEXES.items()}
    assert front_link_indexes(db) == before


@pytest.mark.slow
def test_a_filled_deployment_moves_to_the_conversation_key_beside_a_busy_app(database_url, postgres, db) -> None:
    histories_tables = seed_live_data(database_url, conversations=2_000, messages=2_000)
    filled = materialize(postgres, FRONT_ASSETS, RANGE)
    assert filled.success, failure_of(filled)
    assert db.execute("select count(*) from people_front_conversations").fetchone()[0] > 1_000
    # A deployment filled before the migration: its down migration gives the filled tables their earlier indexes.
    roll_back_to_before_the_conversation_key(database_url)

    retries: list[str] = []
    with AppWorkload(database_url, SCHEMA, interval=0.01, extra_tables=histories_tables) as app:
        with connect(database_url) as conn:
            applied = migrate(conn, SCHEMA, ANALYTICS, log=retries.append)
        rerun = materialize(postgres, FRONT_ASSETS, RANGE)
    report = app.report()
    print(report.summary(), *retries, sep="\n")

    assert CONVERSATION_KEY_MIGRATION in [migration.version for migration in applied]
    assert rerun.success, failure_of(rerun)
    assert report.errors == {}, report.summary()
    assert report.statements["delete_person"].count > 0, report.summary()  # cascades into the tables went on
    assert front_link_indexes(db) == CONVERSATION_KEYS_BUILT
    result = materialize(postgres, FRONT_ASSETS, RANGE)  # the app quiet: one more run makes the tables exact
    assert result.success, failure_of(result)
    assert_front_links_exact(db)


def test_a_concurrent_build_killed_halfway_is_dropped_and_built_again(database_url, postgres, db) -> None:
    seed_live_data(database_url, conversations=300, messages=100)
    filled = materialize(postgres, FRONT_ASSETS, RANGE)
    assert filled.success, failure_of(filled)
    roll_back_to_before_the_conversation_key(database_url)
    failures: list[BaseException] = []

    def run_migrate() -> None:
        try:
            with connect(database_url) as conn:
                migrate(conn, SCHEMA, ANALYTICS)
        except psycopg.Error as exc:
            failures.append(exc)

    # A snapshot older than the build makes CREATE INDEX CONCURRENTLY wait, its index already in the catalog
    # but not valid, until the snapshot goes: the build is terminated there, as a killed migration's would be.
    with psycopg.connect(database_url, autocommit=True) as snapshot_holder:
        snapshot_holder.execute("begin isolation level repeatable read")
        snapshot_holder.execute("select count(*) from people_front_conversations")
        migrating = threading.Thread(target=run_migrate)
        migrating.start()
        building = wait_until(
            lambda: db.execute(
                "select pid from pg_stat_activity where datname = current_database()"
                " and query ilike 'create unique index concurrently%%people_front_conversations_conversation%%'"
                " and wait_event_type = 'Lock'"
            ).fetchone(),
            timeout=30,
            interval=0.05,
        )
        assert building, "the concurrent build never waited for the older snapshot"
        db.execute("select pg_terminate_backend(%s)", building)
        migrating.join(timeout=30)
        snapshot_holder.execute("rollback")
    assert len(failures) == 1, failures
    columns, unique, valid, constraint = front_link_indexes(db)["people_front_conversations_conversation_person_key"]
    assert (columns, unique) == ("(front_conversation_id, person_id)", True)
    assert not valid  # the killed build's index is left invalid ...
    assert not constraint  # ... and no constraint was made of it
    assert CONVERSATION_KEY_MIGRATION not in applied_versions(db, SCHEMA)

    with connect(database_url) as conn:
        migrate(conn, SCHEMA, ANALYTICS)
    assert CONVERSATION_KEY_MIGRATION in applied_versions(db, SCHEMA)
    assert front_link_indexes(db) == CONVERSATION_KEYS_BUILT
    result = materialize(postgres, FRONT_ASSETS, RANGE)
    assert result.success, failure_of(result)
    assert_front_links_exact(db)
