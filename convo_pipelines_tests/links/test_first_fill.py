"""A Front link table's first fill (first_fill.py) on a real PostgreSQL through dg.materialize(): the tables equal
the independent Python oracle of source_data.py and get their foreign keys and statistics, a run's new links get
ids ascending in conversation order, and the fill writes the table itself in committed chunks, keeping all that the
app hung on it."""

from __future__ import annotations

import os
import uuid

import dagster as dg
import psycopg

from convo_pipelines.defs.links.assets import people_front_conversations
from convo_pipelines_tests.links.link_runs import (
    CLIENTS,
    FRONT_ASSETS,
    FULL_RANGE,
    PEOPLE,
    SCHEMA,
    analyzed_by_hand,
    assert_front_tables_exact,
    committed_counts_while,
    conversations_of_pairs,
    link_foreign_keys,
    metadata_of,
    run_assets,
    table_definitions,
)
from convo_pipelines_tests.source_data import build_source_data, expected_people_links, link_pairs


def test_full_range_backfill_bulk_builds_tables_equal_to_the_oracle(db, postgres) -> None:
    data = build_source_data(db)
    definitions_before = table_definitions(db, PEOPLE)
    instance = dg.DagsterInstance.ephemeral()
    result = run_assets(postgres, FRONT_ASSETS, FULL_RANGE, instance=instance)

    assert_front_tables_exact(db)  # the whole definition: the first partition covers older conversations
    people_pairs = link_pairs(db, SCHEMA, PEOPLE)
    client_pairs = link_pairs(db, SCHEMA, CLIENTS)
    linked_people = {person for person, _ in people_pairs}
    assert data.deleted_person not in linked_people  # its contact method dangles
    assert data.person_of_deleted_client in linked_people
    assert data.deleted_client not in {client for client, _ in client_pairs}
    assert data.before_partitions_start in conversations_of_pairs(people_pairs)
    assert data.front_conversation_without_messages not in conversations_of_pairs(people_pairs)

    people_meta = metadata_of(result, PEOPLE)
    assert people_meta["mode"] == "bulk"
    assert people_meta["rows_inserted_in_range"] == people_meta["rows_in_range"] == len(people_pairs)
    assert people_meta["rows_deleted_in_range"] == 0
    assert people_meta["dagster/row_count"] == len(people_pairs)
    assert people_meta["window_start"] == "-infinity"
    assert people_meta["window_end"] == "2024-01-21T00:00:00+00:00"
    assert isinstance(people_meta["seconds"], float)
    assert metadata_of(result, CLIENTS)["rows_inserted_in_range"] == len(client_pairs)
    # The first fill kept the table's keys and indexes and added its foreign keys, validated.
    assert {name for name, _ in definitions_before} == {
        "people_front_conversations_pkey",
        "people_front_conversations_conversation_person_key",
        "people_front_conversations_person_newest_idx",
    }
    after = dict(table_definitions(db, PEOPLE))
    assert set(after) == {name for name, _ in definitions_before} | {
        "people_front_conversations_person_id_fkey",
        "people_front_conversations_front_conversation_id_fkey",
    }
    assert "ON DELETE CASCADE" in after["people_front_conversations_person_id_fkey"]
    assert "NOT VALID" not in after["people_front_conversations_person_id_fkey"]
    assert people_meta["foreign_keys_made_whole"] == 2
    # The fill gathered the tables' statistics itself (last_analyze is a manual ANALYZE's, not autovacuum's).
    assert analyzed_by_hand(db, PEOPLE) and analyzed_by_hand(db, CLIENTS)


def test_a_runs_new_links_get_ids_in_the_uuidv7_layout_ascending_in_conversation_order(db, postgres) -> None:
    build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    for table, owner in ((PEOPLE, "person_id"), (CLIENTS, "client_id")):
        rows = db.execute(
            f"select xmin::text, id, {owner}, front_conversation_id from {SCHEMA}.{table} order by front_conversation_id, {owner}"
        ).fetchall()
        assert rows
        assert {(row[1].version, row[1].variant) for row in rows} == {(7, uuid.RFC_4122)}
        # Each transaction of the first fill inserts its rows in one statement: their ids ascend in the unique pair's
        # order, (conversation, owner).
        by_transaction: dict[str, list[uuid.UUID]] = {}
        for xmin, link_id, _, _ in rows:
            by_transaction.setdefault(xmin, []).append(link_id)
        for ids in by_transaction.values():
            assert ids == sorted(ids)
        # The id's first 48 bits are the millisecond the statement ran, by the database's clock.
        newest_ms = max(row[1].int >> 80 for row in rows)
        now_ms = db.execute("select floor(extract(epoch from clock_timestamp()) * 1000)::bigint").fetchone()[0]
        assert now_ms - 600_000 < newest_ms <= now_ms

    first_fill_ids = {row[0] for row in db.execute(f"select id from {SCHEMA}.{PEOPLE}")}
    # A new recipient: a person with a contact method, on a message of a conversation that person is not linked to.
    message, contact_method = db.execute(
        f"select message.id, contact_method.id from {SCHEMA}.front_messages as message"
        f" inner join {SCHEMA}.front_conversations as conversation on conversation.id = message.front_conversation_id"
        f" cross join {SCHEMA}.contact_methods as contact_method"
        f" inner join {SCHEMA}.people as person on person.id = contact_method.person_id"
        " where conversation.created_at >= '2024-01-12' and conversation.created_at < '2024-01-13'"
        f" and not exists (select 1 from {SCHEMA}.{PEOPLE} as link"
        "  where link.person_id = person.id and link.front_conversation_id = conversation.id)"
        " order by message.id, contact_method.id limit 1"
    ).fetchone()
    db.execute(
        f"insert into {SCHEMA}.front_message_recipients (id, front_message_id, contact_method_id, role)"
        " values (gen_random_uuid(), %s, %s, 'cc')",
        (message, contact_method),
    )
    db.commit()
    result = run_assets(postgres, FRONT_ASSETS, {"dagster/partition": "2024-01-12"})
    added = {row[0] for row in db.execute(f"select id from {SCHEMA}.{PEOPLE}")} - first_fill_ids
    assert metadata_of(result, PEOPLE)["rows_inserted_in_range"] == len(added) >= 1
    # A later statement's ids come after every earlier one's, so the primary key keeps growing at its end.
    assert min(added) > max(first_fill_ids)


def test_a_first_fill_writes_the_table_itself_in_committed_chunks_and_keeps_all_the_app_hung_on_it(
    db, postgres, database_url
) -> None:
    """A logical subscriber (Zero) sees a first fill as inserts into the table itself, in bounded transactions:
    the table is never replaced (same oid, grants, comment, the app's view) and no relation is created outside
    the run's temporary schema."""
    build_source_data(db)
    db.execute(
        "create view person_conversation_counts as select person_id, count(*) from people_front_conversations group by person_id"
    )
    role = f"convo_app_reader_{os.getpid()}"
    db.execute(psycopg.sql.SQL("create role {} nologin").format(psycopg.sql.Identifier(role)))
    try:
        db.execute(
            psycopg.sql.SQL("grant select on people_front_conversations to {}").format(psycopg.sql.Identifier(role))
        )
        table_before = _table_identity(db, PEOPLE)
        relations_before = _persistent_relations(db)
        committed_counts = committed_counts_while(
            database_url,
            lambda: run_assets(
                postgres,
                [people_front_conversations],
                FULL_RANGE,
                run_config={"ops": {PEOPLE: {"config": {"max_fill_slice_links": 3}}}},
            ),
        )
        expected = expected_people_links(db, SCHEMA)
        assert link_pairs(db, SCHEMA, PEOPLE) == expected
        assert _table_identity(db, PEOPLE) == table_before
        assert _persistent_relations(db) == relations_before
        assert db.execute("select has_table_privilege(%s, 'people_front_conversations', 'select')", (role,)).fetchone()[
            0
        ]
        assert db.execute("select sum(count) from person_conversation_counts").fetchone()[0] == len(expected)
        assert list(link_foreign_keys(db, PEOPLE).values()) == [True, True]
        # Another session saw the fill commit chunk by chunk: the count climbs in steps, not 0 then all.
        assert any(0 < count < len(expected) for count in committed_counts), sorted(set(committed_counts))
    finally:
        db.execute(psycopg.sql.SQL("drop owned by {}").format(psycopg.sql.Identifier(role)))
        db.execute(psycopg.sql.SQL("drop role {}").format(psycopg.sql.Identifier(role)))


def _table_identity(db: psycopg.Connection, table: str) -> tuple:
    """What replacing a table would change: its oid, its comment, its keys' and indexes' names and definitions."""
    oid, comment = db.execute(
        "select %s::regclass::oid, obj_description(%s::regclass, 'pg_class')", (table, table)
    ).fetchone()
    return (
        oid,
        comment,
        {(name, definition) for name, definition in table_definitions(db, table) if not name.endswith("_fkey")},
    )


def _persistent_relations(db: psycopg.Connection) -> set[tuple[str, str]]:
    """(schema, name) of every relation but temporary ones and the catalog's."""
    return set(
        db.execute(
            "select relnamespace::regnamespace::text, relname from pg_class "
            "where relpersistence <> 't' and relnamespace::regnamespace::text not in ('pg_catalog', 'information_schema', 'pg_toast')"
        ).fetchall()
    )


def newest_index_oid(db, table: str) -> int | None:
    row = db.execute(
        "select indexrelid::int from pg_index where indexrelid = to_regclass(%s)",
        (f"{SCHEMA}.{table}_person_newest_idx",),
    ).fetchone()
    return row and row[0]


def test_a_first_fill_keeps_the_newest_first_index_when_the_run_asks(db, postgres) -> None:
    """The index the app's newest-first page reads is the same index (oid) all through a fill that keeps it, and a
    new one, built after the rows, through a fill that does not; both fills end exact."""
    build_source_data(db)
    kept = newest_index_oid(db, PEOPLE)
    assert kept is not None
    keep = {"ops": {PEOPLE: {"config": {"keep_newest_index_during_fill": True}}}}
    run_assets(postgres, [people_front_conversations], FULL_RANGE, run_config=keep)
    assert newest_index_oid(db, PEOPLE) == kept
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)

    db.execute(f"truncate {SCHEMA}.{PEOPLE}")
    for name in link_foreign_keys(db, PEOPLE):
        db.execute(f"alter table {SCHEMA}.{PEOPLE} drop constraint {name}")
    run_assets(postgres, [people_front_conversations], FULL_RANGE)
    rebuilt = newest_index_oid(db, PEOPLE)
    assert rebuilt is not None and rebuilt != kept
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
