"""The link assets on a real PostgreSQL through dg.materialize() and the dagster CLI.

Every table is compared with the independent Python oracle of source_data.py: after a range run
(bulk path), a single partition, a chunked diff, late changes, and a run that fails halfway.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg

from convo_pipelines.defs.links import window_diff
from convo_pipelines.defs.links.assets import clients_front_conversations, people_front_conversations
from convo_pipelines.defs.links.project_assets import project_conversations
from convo_pipelines.defs.links.table_state.lock import LOCK_CLASS
from convo_pipelines.defs.links.tables import BEGINNING_OF_TIME, PEOPLE_LINKS, front_definition
from convo_pipelines.defs.links.window_diff import ChangedConversations, conversation_batches
from convo_pipelines.defs.links.windows import Chunk, chunk_window
from convo_pipelines.defs.partitions import daily_partitions
from convo_pipelines_tests.helpers import (
    materialize_front_links_command,
    wait_for_pipeline_lock_wait,
    wait_until,
    watch_while,
)
from convo_pipelines_tests.source_data import (
    build_source_data,
    expected_array_inconsistencies,
    expected_client_links,
    expected_people_links,
    expected_project_links,
    link_pairs,
    link_rows,
    project_link_rows,
    source_checksums,
)

SCHEMA = "public"
PEOPLE = "people_front_conversations"
CLIENTS = "clients_front_conversations"
PROJECTS = "project_conversations"
FRONT_ASSETS = [people_front_conversations, clients_front_conversations]
UTC = UTC
FIRST_PARTITION, LAST_PARTITION = "2024-01-01", "2024-01-20"


def jan(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=UTC)


def range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


FULL_RANGE = range_tags(FIRST_PARTITION, LAST_PARTITION)


def run_assets(
    postgres, assets, tags=None, run_config=None, instance=None, raise_on_error=True
) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        assets,
        resources={"postgres": postgres},
        tags=tags or {},
        run_config=run_config,
        instance=instance,
        raise_on_error=raise_on_error,
    )
    if raise_on_error:
        assert result.success
    return result


def metadata_of(result: dg.ExecuteInProcessResult, asset_name: str) -> dict[str, object]:
    materializations = result.asset_materializations_for_node(asset_name)
    assert materializations, f"{asset_name} was not materialized"
    return {key: value.value for key, value in materializations[0].metadata.items()}


def row_versions(db: psycopg.Connection, table: str) -> dict[str, tuple]:
    """{id: (xmin, every column)}: a row rewritten by an UPDATE, or deleted and re-inserted, changes here."""
    rows = db.execute(
        psycopg.sql.SQL("select id::text, xmin::text, t::text from {} as t").format(psycopg.sql.Identifier(table))
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def assert_front_tables_exact(
    db: psycopg.Connection, start: datetime | None = None, end: datetime | None = None
) -> None:
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA, start, end)
    assert link_pairs(db, SCHEMA, CLIENTS) == expected_client_links(db, SCHEMA, start, end)


def conversations_of_pairs(pairs) -> set:
    return {conversation for _, conversation in pairs}


# ---------------------------------------------------------------------------------------------


def analyzed_by_hand(db: psycopg.Connection, table: str) -> bool:
    """Whether an ANALYZE (not autovacuum's) gathered `table`'s statistics; the statistics reach the view late."""

    def last_analyze() -> object:
        db.execute("select pg_stat_clear_snapshot()")
        row = db.execute(
            "select last_analyze from pg_stat_user_tables where schemaname = %s and relname = %s", (SCHEMA, table)
        ).fetchone()
        db.commit()
        return row[0]

    return wait_until(last_analyze, timeout=10) is not None


def test_definitions_describe_the_three_link_assets() -> None:
    from convo_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {PEOPLE, CLIENTS, PROJECTS} <= keys
    for asset in (people_front_conversations, clients_front_conversations, project_conversations):
        spec = next(iter(asset.specs))
        assert spec.group_name == "links"
        assert spec.kinds == {"postgres"}
        assert spec.owners == ["team:data-platform"]
        assert spec.description and len(spec.description) > 40
        schema = spec.metadata["dagster/column_schema"]
        assert {column.name for column in schema.columns} >= {"id"}
        assert spec.metadata["dagster/table_name"] == f"public.{spec.key.to_user_string()}"
    assert people_front_conversations.backfill_policy == dg.BackfillPolicy.single_run()
    assert clients_front_conversations.backfill_policy == dg.BackfillPolicy.single_run()
    assert project_conversations.partitions_def is None
    clients_deps = {dep.asset_key for dep in next(iter(clients_front_conversations.specs)).deps}
    # Computed from the people links, with the conversations' days and the people's current clients.
    assert clients_deps == {
        people_front_conversations.key,
        *map(dg.AssetKey, ("front_conversations", "people", "clients")),
    }


def test_full_range_backfill_bulk_builds_tables_equal_to_the_oracle(db, postgres) -> None:
    data = build_source_data(db)
    definitions_before = _table_definitions(db, PEOPLE)
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
    after = dict(_table_definitions(db, PEOPLE))
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


def test_single_partition_covers_exactly_its_utc_day(db, postgres) -> None:
    data = build_source_data(db)

    first = run_assets(postgres, FRONT_ASSETS, {"dagster/partition": "2024-01-10"})
    assert metadata_of(first, PEOPLE)["mode"] == "bulk"
    assert_front_tables_exact(db, jan(10), jan(11))
    linked = conversations_of_pairs(link_pairs(db, SCHEMA, PEOPLE))
    assert data.first_instant_of_jan_10 in linked  # 00:00:00 belongs to its own day
    assert data.last_instant_of_jan_9 not in linked  # 23:59:59.999999 belongs to the day before

    second = run_assets(postgres, FRONT_ASSETS, {"dagster/partition": "2024-01-09"})
    assert metadata_of(second, PEOPLE)["mode"] == "diff"
    assert metadata_of(second, PEOPLE)["rows_deleted_in_range"] == 0
    assert_front_tables_exact(db, jan(9), jan(11))
    assert data.last_instant_of_jan_9 in conversations_of_pairs(link_pairs(db, SCHEMA, PEOPLE))

    run_assets(postgres, FRONT_ASSETS, {"dagster/partition": FIRST_PARTITION})
    linked = conversations_of_pairs(link_pairs(db, SCHEMA, PEOPLE))
    assert {data.before_partitions_start, data.first_instant_of_partitions} <= linked


def test_rerun_writes_nothing_and_keeps_ids_and_timestamps(db, postgres) -> None:
    build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    run_assets(postgres, [project_conversations])
    before = {table: row_versions(db, table) for table in (PEOPLE, CLIENTS, PROJECTS)}

    again = run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    one_day = run_assets(postgres, FRONT_ASSETS, {"dagster/partition": "2024-01-12"})
    project_again = run_assets(postgres, [project_conversations])

    for result in (again, one_day):
        for table in (PEOPLE, CLIENTS):
            meta = metadata_of(result, table)
            assert (
                meta["mode"],
                meta["rows_inserted_in_range"],
                meta["rows_updated_in_range"],
                meta["rows_deleted_in_range"],
            ) == ("diff", 0, 0, 0)
    assert metadata_of(again, PEOPLE)["rows_in_range"] == len(before[PEOPLE])
    # A one-day run's window is its partition, so its count is that partition's own; a range's total is not.
    assert (
        metadata_of(one_day, PEOPLE)["dagster/partition_row_count"] == metadata_of(one_day, PEOPLE)["rows_in_range"] > 0
    )
    assert "dagster/partition_row_count" not in metadata_of(again, PEOPLE)
    project_meta = metadata_of(project_again, PROJECTS)
    assert (
        project_meta["rows_inserted"],
        project_meta["rows_deleted"],
        project_meta["rows_moved"],
        project_meta["rows_refreshed"],
    ) == (0, 0, 0, 0)
    # Same ids, same xmin (no row rewritten), same created_at/updated_at/added_at.
    assert {table: row_versions(db, table) for table in (PEOPLE, CLIENTS, PROJECTS)} == before


def test_a_conversation_whose_created_at_changed_refreshes_its_links_copy_in_place(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    client_linked = {conversation for _, conversation in link_pairs(db, SCHEMA, CLIENTS)}
    conversation = next(c for c in data.front_conversations_on(jan(12)) if c in client_linked)
    before = {
        table: dict(
            db.execute(
                psycopg.sql.SQL(
                    "select id, front_conversation_created_at from {} where front_conversation_id = %s"
                ).format(psycopg.sql.Identifier(table)),
                (conversation,),
            ).fetchall()
        )
        for table in (PEOPLE, CLIENTS)
    }
    assert before[PEOPLE] and before[CLIENTS]
    db.execute(
        "update front_conversations set created_at = created_at + interval '1 minute' where id = %s", (conversation,)
    )
    moved_to = db.execute("select created_at from front_conversations where id = %s", (conversation,)).fetchone()[0]

    result = run_assets(postgres, FRONT_ASSETS, {"dagster/partition": "2024-01-12"})

    for table in (PEOPLE, CLIENTS):
        meta = metadata_of(result, table)
        assert (meta["rows_inserted_in_range"], meta["rows_updated_in_range"], meta["rows_deleted_in_range"]) == (
            0,
            len(before[table]),
            0,
        )
        after = dict(
            db.execute(
                psycopg.sql.SQL(
                    "select id, front_conversation_created_at from {} where front_conversation_id = %s"
                ).format(psycopg.sql.Identifier(table)),
                (conversation,),
            ).fetchall()
        )
        assert set(after) == set(before[table])  # same link ids
        assert set(after.values()) == {moved_to}
    assert_front_tables_exact(db)


def test_a_conversation_dated_after_today_is_linked_by_a_run_of_the_last_partition(db, postgres) -> None:
    """The last partition (today's) owns the conversations dated after it, as the first owns those before it:
    a conversation a skewed clock moved into next month keeps its links, copy refreshed, once today's
    partition runs; and a later day's conversations are not left out of the tables."""
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    client_linked = {conversation for _, conversation in link_pairs(db, SCHEMA, CLIENTS)}
    conversation = next(c for c in data.front_conversations_on(jan(12)) if c in client_linked)
    moved_to = db.execute(
        "update front_conversations set created_at = now() + interval '40 days' where id = %s returning created_at",
        (conversation,),
    ).fetchone()[0]

    today = daily_partitions.get_last_partition_key()
    result = run_assets(postgres, FRONT_ASSETS, {"dagster/partition": today})

    assert metadata_of(result, PEOPLE)["window_end"] == "infinity"
    # Today's count is what today's partition owns, the conversation dated next month included.
    owned = expected_people_links(db, SCHEMA, datetime.fromisoformat(today).replace(tzinfo=UTC), None)
    assert {conversation for _, conversation in owned} == {conversation}
    assert (
        metadata_of(result, PEOPLE)["dagster/partition_row_count"]
        == metadata_of(result, PEOPLE)["rows_in_range"]
        == len(owned)
    )
    assert_front_tables_exact(db)
    for table in (PEOPLE, CLIENTS):
        copies = db.execute(
            psycopg.sql.SQL(
                "select distinct front_conversation_created_at from {} where front_conversation_id = %s"
            ).format(psycopg.sql.Identifier(table)),
            (conversation,),
        ).fetchall()
        assert copies == [(moved_to,)]


def test_partition_run_leaves_rows_outside_its_window_untouched(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    jan_12 = set(data.front_conversations_on(jan(12)))
    # Corrupt Jan 12: drop one real link and add one that has no support.
    victim = next(pair for pair in link_pairs(db, SCHEMA, PEOPLE) if pair[1] in jan_12)
    db.execute("delete from people_front_conversations where person_id = %s and front_conversation_id = %s", victim)
    stranger = next(
        person
        for person in data.people
        if (person, victim[1]) not in link_pairs(db, SCHEMA, PEOPLE) and person != victim[0]
    )
    db.execute(
        "insert into people_front_conversations (person_id, front_conversation_id, front_conversation_created_at) "
        "select %s, id, created_at from front_conversations where id = %s",
        (stranger, victim[1]),
    )
    corrupted = row_versions(db, PEOPLE)

    result = run_assets(postgres, [people_front_conversations], range_tags("2024-01-13", "2024-01-14"))
    assert (
        metadata_of(result, PEOPLE)["rows_inserted_in_range"]
        == metadata_of(result, PEOPLE)["rows_deleted_in_range"]
        == 0
    )
    assert row_versions(db, PEOPLE) == corrupted

    repaired = run_assets(postgres, [people_front_conversations], {"dagster/partition": "2024-01-12"})
    assert (
        metadata_of(repaired, PEOPLE)["rows_inserted_in_range"],
        metadata_of(repaired, PEOPLE)["rows_deleted_in_range"],
    ) == (1, 1)
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db)


def test_scoped_run_recomputes_only_the_conversations_it_names(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    jan_12 = set(data.front_conversations_on(jan(12)))
    linked = sorted(
        {pair for pair in link_pairs(db, SCHEMA, PEOPLE) if pair[1] in jan_12}, key=lambda pair: str(pair[1])
    )
    named, other = linked[0], next(pair for pair in linked if pair[1] != linked[0][1])
    for pair in (named, other):
        db.execute("delete from people_front_conversations where person_id = %s and front_conversation_id = %s", pair)
    scope = {"config": {"only_conversation_ids": [str(named[1])]}}
    scoped = run_assets(
        postgres,
        FRONT_ASSETS,
        {"dagster/partition": "2024-01-12"},
        run_config={"ops": {PEOPLE: scope, CLIENTS: scope}},
    )
    people = metadata_of(scoped, PEOPLE)
    assert (
        people["mode"],
        people["rows_inserted_in_range"],
        people["rows_deleted_in_range"],
        people["conversations_in_scope"],
    ) == ("scoped", 1, 0, 1)
    assert named in link_pairs(db, SCHEMA, PEOPLE)
    assert other not in link_pairs(db, SCHEMA, PEOPLE)  # not named: left as it was

    whole_day = run_assets(postgres, FRONT_ASSETS, {"dagster/partition": "2024-01-12"})
    assert metadata_of(whole_day, PEOPLE)["rows_inserted_in_range"] == 1
    assert_front_tables_exact(db)


def test_scoped_run_refuses_an_id_that_is_not_a_uuid(db, postgres) -> None:
    build_source_data(db)
    scope = {"config": {"only_conversation_ids": ["not-a-uuid"]}}
    result = run_assets(
        postgres,
        [people_front_conversations],
        {"dagster/partition": "2024-01-12"},
        run_config={"ops": {PEOPLE: scope}},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "only_conversation_ids holds 'not-a-uuid'" in str(failure.event_specific_data.error)


def test_every_late_change_reaches_the_links_on_rerun(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    run_assets(postgres, [project_conversations])
    people_before = link_rows(db, SCHEMA, PEOPLE)
    projects_before = project_link_rows(db)

    # A new recipient: person 5 joins a Jan 11 conversation.
    conversation = sorted(data.front_conversations_on(jan(11)))[0]
    person_five_method = next(cm for cm, person in data.contact_methods.items() if person == data.people[5])
    db.execute(
        "insert into front_message_recipients (front_message_id, contact_method_id) "
        "select id, %s from front_messages where front_conversation_id = %s limit 1",
        (person_five_method, conversation),
    )
    # An unresolved participant is resolved to person 6 later.
    db.execute(
        "update contact_methods set person_id = %s where id = %s", (data.people[6], data.unresolved_contact_methods[0])
    )
    # Person 1 moves to client 0.
    db.execute("update people set client_id = %s where id = %s", (data.clients[0], data.people[1]))
    # Every recipient row of one existing link is deleted: the link loses its support.
    lost_person, lost_conversation = next(
        pair for pair in sorted(people_before) if pair[0] not in (data.people[5], data.people[6])
    )
    db.execute(
        "delete from front_message_recipients as r using front_messages as m, contact_methods as cm "
        "where r.front_message_id = m.id and r.contact_method_id = cm.id and m.front_conversation_id = %s and cm.person_id = %s",
        (lost_conversation, lost_person),
    )
    # One conversation moves to another project, another leaves its project.
    moved, left = [cid for cid, project in data.conversations.items() if project == data.stale_array_project][:2]
    db.execute("update conversations set project_id = %s where id = %s", (data.mismatched_array_project, moved))
    db.execute("update conversations set project_id = null where id = %s", (left,))

    front = run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    project = run_assets(postgres, [project_conversations])

    assert_front_tables_exact(db)
    people_after = link_rows(db, SCHEMA, PEOPLE)
    assert (lost_person, lost_conversation) not in people_after
    assert (data.people[5], conversation) in people_after
    assert (
        metadata_of(front, PEOPLE)["rows_deleted_in_range"] >= 1
        and metadata_of(front, PEOPLE)["rows_inserted_in_range"] >= 1
    )
    assert (
        metadata_of(front, CLIENTS)["rows_deleted_in_range"] >= 1
        and metadata_of(front, CLIENTS)["rows_inserted_in_range"] >= 1
    )
    for pair in people_before.keys() & people_after.keys():
        assert people_after[pair] == people_before[pair]  # staying links keep id, created_at, updated_at

    assert _project_triples(db) == expected_project_links(db)
    projects_after = project_link_rows(db)
    assert left not in projects_after
    moved_id, moved_project, moved_added_at, _ = projects_after[moved]
    old_id, _old_project, old_added_at, _ = projects_before[moved]
    assert (moved_id, moved_project) == (old_id, data.mismatched_array_project)
    assert moved_added_at > old_added_at
    meta = metadata_of(project, PROJECTS)
    assert (meta["rows_moved"], meta["rows_deleted"], meta["rows_inserted"]) == (1, 1, 0)


def test_chunked_diff_path_equals_the_oracle_and_logs_progress(db, postgres) -> None:
    build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, {"dagster/partition": "2024-01-14"})  # the table is no longer empty
    instance = dg.DagsterInstance.ephemeral()
    config = {"ops": {name: {"config": {"max_chunk_conversations": 9}} for name in (PEOPLE, CLIENTS)}}

    result = run_assets(postgres, FRONT_ASSETS, FULL_RANGE, run_config=config, instance=instance)

    assert_front_tables_exact(db)
    meta = metadata_of(result, PEOPLE)
    # Conversations per day: Dec 31: 1, Jan 1: 1, Jan 8: 4, Jan 9-11: 5 each, Jan 12-14: 4 each.
    # At most 9 per chunk: [-inf, Jan 9) 6, [Jan 9, 10) 5, [Jan 10, 11) 5, [Jan 11, 13) 9, [Jan 13, Jan 21) 8.
    assert (meta["mode"], meta["chunks"]) == ("diff", 5)
    assert meta["rows_in_range"] == len(expected_people_links(db))
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    progress_lines = [m for m in messages if m.startswith(f"{PEOPLE}: ") and " conversations, " in m]
    assert len(progress_lines) == 5
    assert progress_lines[0].startswith(f"{PEOPLE}: 6/33 conversations")
    assert (
        "33/33 conversations" in progress_lines[-1]
        and "rows/s" in progress_lines[-1]
        and "ETA 0.0s" in progress_lines[-1]
    )


def test_a_table_emptied_by_hand_is_refilled_in_committed_batches_and_ends_exact(
    db, postgres, database_url, monkeypatch
) -> None:
    build_source_data(db)
    monkeypatch.setattr(window_diff, "BATCH_PROGRESS_SECONDS", 0.0)  # a line per batch, to count them
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)  # the first fill: the tables get their foreign keys
    expected = len(expected_people_links(db))
    assert expected > 12
    db.execute(f"truncate {PEOPLE}")  # emptied by hand: the foreign keys stay, so this is a diff, not a first fill
    results: list[dg.ExecuteInProcessResult] = []
    instance = dg.DagsterInstance.ephemeral()
    config = {"ops": {PEOPLE: {"config": {"max_insert_batch_rows": 5}}}}
    committed_counts = _committed_counts_while(
        database_url,
        lambda: results.append(
            run_assets(postgres, [people_front_conversations], FULL_RANGE, run_config=config, instance=instance)
        ),
    )

    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    meta = metadata_of(results[0], PEOPLE)
    assert (meta["mode"], meta["rows_inserted_in_range"]) == ("diff", expected)
    assert list(_link_foreign_keys(db, PEOPLE).values()) == [True, True]
    # The missing links go in by batches of whole conversations holding about 5 of them, each a transaction logged
    # with rate and ETA.
    conversations = len({conversation for _, conversation in expected_people_links(db)})
    messages = [entry.user_message for entry in instance.all_logs(results[0].run_id)]
    batch_lines = [m for m in messages if m.startswith(f"{PEOPLE}: changed conversations: ")]
    assert len(batch_lines) >= -(-expected // 10)  # a batch holds at most 5 links, or one conversation's
    assert batch_lines[-1].startswith(
        f"{PEOPLE}: changed conversations: {conversations}/{conversations} conversations, {expected:,} rows"
    )
    assert "ETA" in batch_lines[-1]
    assert any(0 < count < expected for count in committed_counts), sorted(set(committed_counts))


def test_a_diff_hands_over_a_bounded_number_of_changed_conversations_and_diffs_again_for_the_rest(
    db, postgres, monkeypatch
) -> None:
    build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    expected = len(expected_people_links(db))
    db.execute(f"truncate {PEOPLE}")
    monkeypatch.setattr(window_diff, "CHANGED_CONVERSATIONS_PER_DIFF", 3)
    instance = dg.DagsterInstance.ephemeral()
    config = {"ops": {PEOPLE: {"config": {"max_insert_batch_rows": 5}}}}
    result = run_assets(postgres, [people_front_conversations], FULL_RANGE, run_config=config, instance=instance)

    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    assert metadata_of(result, PEOPLE)["rows_inserted_in_range"] == expected
    # Each diff that finds more than a batch to change hands over at most 3 conversations, never more; then the
    # window is diffed again, until one finds at most a batch to change and changes it itself.
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    batch_lines = [m for m in messages if m.startswith(f"{PEOPLE}: changed conversations: ")]
    handed_over = [int(line.split("/")[1].split(" ")[0]) for line in batch_lines]
    assert batch_lines and max(handed_over) == 3, batch_lines
    diffs = [line for line in batch_lines if line.startswith(f"{PEOPLE}: changed conversations: 3/3 ")]
    assert len(diffs) > 1, batch_lines


def test_a_scoped_run_missing_more_than_a_batch_inserts_only_its_conversations_links(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    expected = expected_people_links(db)
    db.execute(f"truncate {PEOPLE}")
    jan_12 = set(data.front_conversations_on(jan(12)))
    named = sorted({conversation for _, conversation in expected if conversation in jan_12}, key=str)[:3]
    in_scope = {pair for pair in expected if pair[1] in named}
    assert len(in_scope) > 2
    scope = {"config": {"only_conversation_ids": [str(conversation) for conversation in named]}}
    instance = dg.DagsterInstance.ephemeral()
    scoped = run_assets(
        postgres,
        [people_front_conversations],
        {"dagster/partition": "2024-01-12"},
        run_config={"ops": {PEOPLE: {"config": {**scope["config"], "max_insert_batch_rows": 2}}}},
        instance=instance,
    )

    # The batches stay inside the scope: its conversations' links are back, no other link is.
    assert link_pairs(db, SCHEMA, PEOPLE) == in_scope
    people = metadata_of(scoped, PEOPLE)
    assert (people["mode"], people["rows_inserted_in_range"]) == ("scoped", len(in_scope))
    messages = [entry.user_message for entry in instance.all_logs(scoped.run_id)]
    assert any(m.startswith(f"{PEOPLE}: changed conversations: ") for m in messages)


def test_a_window_changing_more_than_a_batch_changes_it_by_transactions_of_whole_conversations(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    gone = {data.deleted_person, data.person_of_deleted_client}
    contact_method, person = next(
        (method, person) for method, person in data.contact_methods.items() if person and person not in gone
    )
    # A shared address: the person joins twelve new conversations of Jan 15, one an hour.
    conversations = [uuid.uuid4() for _ in range(12)]
    for hour, conversation in enumerate(conversations):
        created = jan(15) + timedelta(hours=hour, minutes=30)
        message = uuid.uuid4()
        db.execute(
            "insert into front_conversations (id, subject, created_at) values (%s, 'shared', %s)",
            (conversation, created),
        )
        db.execute(
            "insert into front_messages (id, front_conversation_id, created_at) values (%s, %s, %s)",
            (message, conversation, created),
        )
        db.execute(
            "insert into front_message_recipients (id, front_message_id, contact_method_id, role)"
            " values (%s, %s, %s, 'to')",
            (uuid.uuid4(), message, contact_method),
        )
    config = {"ops": {PEOPLE: {"config": {"max_insert_batch_rows": 3}}}}
    run_assets(postgres, [people_front_conversations], range_tags("2024-01-15", "2024-01-15"), run_config=config)

    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    assert {(person, conversation) for conversation in conversations} <= link_pairs(db, SCHEMA, PEOPLE)
    # Rows written by one transaction (one savepoint of it) share their xmin: four batches of three conversations,
    # one new link each.
    per_transaction = db.execute(
        f"select count(*) from {PEOPLE} where front_conversation_id = any(%s) group by xmin::text",
        (conversations,),
    ).fetchall()
    assert sorted(count for (count,) in per_transaction) == [3, 3, 3, 3]


def test_app_side_deletes_cascade_to_the_rebuilt_link_tables(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)  # bulk path: the foreign keys were rebuilt
    run_assets(postgres, [project_conversations])
    person, conversation = sorted(link_pairs(db, SCHEMA, PEOPLE))[0]
    client = sorted(link_pairs(db, SCHEMA, CLIENTS))[0][0]
    project_conversation, (_, project, _, _) = sorted(project_link_rows(db).items())[0]
    user = data.users[0]

    db.execute("delete from people where id = %s", (person,))
    db.execute("delete from front_conversations where id = %s", (conversation,))
    db.execute("delete from clients where id = %s", (client,))
    db.execute("delete from projects where id = %s", (project,))
    db.execute("delete from conversations where id = %s", (data.conversations_without_project[0],))
    db.execute("delete from users where id = %s", (user,))

    assert person not in {p for p, _ in link_pairs(db, SCHEMA, PEOPLE)}
    assert conversation not in conversations_of_pairs(link_pairs(db, SCHEMA, PEOPLE))
    assert conversation not in conversations_of_pairs(link_pairs(db, SCHEMA, CLIENTS))
    assert client not in {c for c, _ in link_pairs(db, SCHEMA, CLIENTS)}
    remaining = project_link_rows(db)
    assert project_conversation not in remaining
    assert project not in {row[1] for row in remaining.values()}
    assert user not in {row[3] for row in remaining.values()}  # added_by: ON DELETE SET NULL
    # After the app's deletes a run still finds the tables exact (nothing left to remove).
    again = run_assets(postgres, [project_conversations])
    assert _project_triples(db) == expected_project_links(db)
    assert metadata_of(again, PROJECTS)["rows_deleted"] == 0


def test_runs_never_write_to_source_tables(db, postgres) -> None:
    build_source_data(db)
    before = source_checksums(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    run_assets(postgres, FRONT_ASSETS, {"dagster/partition": "2024-01-11"})
    run_assets(postgres, [project_conversations])
    run_assets(postgres, [project_conversations])
    assert source_checksums(db) == before


def test_project_conversations_equals_the_oracle_and_reports_array_drift(db, postgres) -> None:
    data = build_source_data(db)
    result = run_assets(postgres, [project_conversations])

    assert _project_triples(db) == expected_project_links(db)
    by_conversation = project_link_rows(db)
    for conversation, project in data.conversations.items():
        if project is None:
            assert conversation not in by_conversation
        elif project in (data.userless_project, data.deleted_user_project):
            assert by_conversation[conversation][3] is None  # no existing user: added_by NULL
        else:
            assert by_conversation[conversation][3] is not None
    meta = metadata_of(result, PROJECTS)
    assert meta["mode"] == "bulk" and meta["dagster/row_count"] == len(by_conversation)
    assert analyzed_by_hand(db, PROJECTS)
    expected = expected_array_inconsistencies(db)
    assert all(expected[kind] for kind in ("stale", "mismatched", "missing"))
    for kind, entries in expected.items():
        assert meta[f"array_{kind}_entries"] == len(entries)
        samples = {(s["project_id"], s["conversation_id"]) for s in meta[f"array_{kind}_samples"]}
        assert samples and samples <= {(str(p), str(c)) for p, c in entries}
    assert meta["array_missing_entries"] >= len(
        [c for c, p in data.conversations.items() if p == data.null_array_project]
    )


def test_project_user_change_refreshes_added_by_and_keeps_added_at(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, [project_conversations])
    before = project_link_rows(db)
    db.execute("update projects set user_id = %s where id = %s", (data.users[2], data.userless_project))

    result = run_assets(postgres, [project_conversations])

    after = project_link_rows(db)
    assert _project_triples(db) == expected_project_links(db)
    changed = [c for c, p in data.conversations.items() if p == data.userless_project]
    assert metadata_of(result, PROJECTS)["rows_refreshed"] == len(changed)
    for conversation in changed:
        assert after[conversation][3] == data.users[2]
        assert after[conversation][:3] == before[conversation][:3]  # same id, project, added_at


def project_scope(*conversations) -> dict:
    """The run config of a scoped project run (the late-change sensor's) naming these conversations."""
    return {"ops": {PROJECTS: {"config": {"only_conversation_ids": [str(c) for c in conversations]}}}}


def test_scoped_project_run_fixes_the_conversations_it_names_and_touches_nothing_else(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, [project_conversations])
    before = project_link_rows(db)
    versions = row_versions(db, PROJECTS)
    listed_in = data.mismatched_array_project
    moved, other_moved = [c for c, p in data.conversations.items() if p == listed_in][:2]
    new_project = data.userless_project
    db.execute("update conversations set project_id = %s where id = any(%s)", (new_project, [moved, other_moved]))
    # A link lost by hand, of a conversation the run does not name: left for a whole run.
    lost = next(c for c, p in data.conversations.items() if p == data.stale_array_project)
    db.execute("delete from project_conversations where conversation_id = %s", (lost,))

    scoped = run_assets(postgres, [project_conversations], run_config=project_scope(moved))

    after = project_link_rows(db)
    link_id, project, added_at, added_by = after[moved]
    assert (link_id, project, added_by) == (before[moved][0], new_project, None)  # same row, new project and user
    assert added_at > before[moved][2]
    assert after[other_moved] == before[other_moved]  # moved too, but not named: as it was
    assert lost not in after
    changed = {row_id for row_id, version in row_versions(db, PROJECTS).items() if versions.get(row_id) != version}
    assert changed == {str(link_id)}  # no other row written
    meta = metadata_of(scoped, PROJECTS)
    assert (meta["mode"], meta["rows_moved"], meta["rows_inserted"], meta["rows_deleted"], meta["rows_refreshed"]) == (
        "scoped",
        1,
        0,
        0,
        0,
    )
    assert meta["conversations_in_scope"] == 1 and "dagster/row_count" not in meta
    # The arrays of the projects the conversation left and joined: the one that still lists it, the one that does not.
    assert meta["array_scope"] == "the 2 projects of the run's conversations"
    assert {(s["project_id"], s["conversation_id"]) for s in meta["array_mismatched_samples"]} >= {
        (str(listed_in), str(moved))
    }
    expected = expected_array_inconsistencies(db)
    for kind, entries in expected.items():
        in_scope = {(p, c) for p, c in entries if p in (listed_in, new_project)}
        assert meta[f"array_{kind}_entries"] == len(in_scope)

    whole = run_assets(postgres, [project_conversations])
    assert _project_triples(db) == expected_project_links(db)
    assert (metadata_of(whole, PROJECTS)["rows_moved"], metadata_of(whole, PROJECTS)["rows_inserted"]) == (1, 1)


def test_scoped_project_run_adds_and_removes_the_links_of_its_conversations(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, [project_conversations])
    joined = data.conversations_without_project[0]
    left = next(c for c, p in data.conversations.items() if p == data.stale_array_project)
    db.execute("update conversations set project_id = %s where id = %s", (data.projects[0], joined))
    db.execute("update conversations set project_id = null where id = %s", (left,))

    scoped = run_assets(postgres, [project_conversations], run_config=project_scope(joined, left))

    assert _project_triples(db) == expected_project_links(db)
    meta = metadata_of(scoped, PROJECTS)
    assert (meta["mode"], meta["rows_inserted"], meta["rows_deleted"], meta["conversations_in_scope"]) == (
        "scoped",
        1,
        1,
        2,
    )
    again = run_assets(postgres, [project_conversations], run_config=project_scope(joined, left))
    assert [metadata_of(again, PROJECTS)[f"rows_{verb}"] for verb in ("inserted", "deleted", "moved", "refreshed")] == [
        0,
        0,
        0,
        0,
    ]


def test_scoped_project_run_on_a_table_not_filled_yet_reconciles_the_whole_table(db, postgres) -> None:
    """A scoped run is exact only on top of a whole table: before the first fill it fills everything."""
    data = build_source_data(db)
    result = run_assets(
        postgres, [project_conversations], run_config=project_scope(data.conversations_without_project[0])
    )
    assert _project_triples(db) == expected_project_links(db)
    meta = metadata_of(result, PROJECTS)
    assert meta["mode"] == "bulk" and meta["dagster/row_count"] == len(expected_project_links(db))
    assert meta["array_scope"] == "every project"


def test_scoped_project_run_refuses_an_id_that_is_not_a_uuid(db, postgres) -> None:
    build_source_data(db)
    result = run_assets(postgres, [project_conversations], run_config=project_scope("not-a-uuid"), raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "only_conversation_ids holds 'not-a-uuid'" in str(failure.event_specific_data.error)


def test_failed_run_leaves_the_previous_table_and_its_constraints(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    before = row_versions(db, PEOPLE)
    definitions = _table_definitions(db, PEOPLE)
    # A late change that makes the next run delete a link first and then insert one ...
    person, conversation = sorted(link_pairs(db, SCHEMA, PEOPLE))[0]
    db.execute(
        "delete from front_message_recipients as r using front_messages as m, contact_methods as cm "
        "where r.front_message_id = m.id and r.contact_method_id = cm.id and m.front_conversation_id = %s and cm.person_id = %s",
        (conversation, person),
    )
    db.execute(
        "update contact_methods set person_id = %s where id = %s", (data.people[7], data.unresolved_contact_methods[1])
    )
    # ... and an insert that fails halfway through the run.
    db.execute(
        "create function fail_link_insert() returns trigger language plpgsql as "
        "$$ begin raise exception 'injected failure'; end $$"
    )
    db.execute(
        "create trigger fail_link_insert before insert on people_front_conversations for each row execute function fail_link_insert()"
    )

    failed = run_assets(postgres, [people_front_conversations], FULL_RANGE, raise_on_error=False)
    assert not failed.success
    assert row_versions(db, PEOPLE) == before  # the delete of the same transaction was rolled back

    db.execute("truncate people_front_conversations")
    failed_bulk = run_assets(postgres, [people_front_conversations], FULL_RANGE, raise_on_error=False)
    assert not failed_bulk.success
    assert link_pairs(db, SCHEMA, PEOPLE) == set()
    assert _table_definitions(db, PEOPLE) == definitions  # keys, indexes and FKs are back

    db.execute("drop trigger fail_link_insert on people_front_conversations")
    run_assets(postgres, [people_front_conversations], FULL_RANGE)
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db)


def test_a_run_waits_for_another_writer_of_the_same_table(db, postgres, database_url) -> None:
    build_source_data(db)
    results: list[dg.ExecuteInProcessResult] = []
    with psycopg.connect(database_url) as holder:
        holder.execute("select pg_advisory_xact_lock(%s, hashtext('public.people_front_conversations'))", (LOCK_CLASS,))
        runner = threading.Thread(
            target=lambda: results.append(
                run_assets(postgres, [people_front_conversations], {"dagster/partition": "2024-01-10"})
            )
        )
        runner.start()
        waiting = wait_for_pipeline_lock_wait(db, runner, "advisory")
        assert waiting and not results  # the run is blocked on the table's lock, nothing written yet
        assert link_pairs(db, SCHEMA, PEOPLE) == set()
        holder.rollback()
    runner.join(timeout=120)
    assert results and results[0].success
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA, jan(10), jan(11))


def test_cli_partition_range_run_equals_the_oracle(db, database_url, tmp_path, project_root: Path) -> None:
    build_source_data(db)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("")
    env = {**os.environ, "DATABASE_URL": database_url, "DAGSTER_HOME": str(dagster_home)}
    command = materialize_front_links_command("2024-01-10", "2024-01-14")
    for attempt in range(2):
        completed = subprocess.run(command, cwd=project_root, env=env, capture_output=True, text=True, timeout=300)
        assert completed.returncode == 0, completed.stderr[-3000:]
        assert_front_tables_exact(db, jan(10), jan(15))
        if attempt == 0:
            first = row_versions(db, PEOPLE)
    assert row_versions(db, PEOPLE) == first  # the second run rewrote nothing


# ---------------------------------------------------------------------------------------------
# Pieces


def test_chunk_window_groups_consecutive_days_up_to_the_cap() -> None:
    from datetime import date

    counts = [(date(2024, 1, 3), 4), (date(2024, 1, 4), 3), (date(2024, 1, 6), 9), (date(2024, 1, 7), 1)]
    assert chunk_window(jan(3), jan(10), counts, 7) == [
        Chunk(jan(3), jan(6), 7),
        Chunk(jan(6), jan(7), 9),  # a day above the cap is a chunk of its own
        Chunk(jan(7), jan(10), 1),  # the last chunk runs to the window's end
    ]
    assert chunk_window(BEGINNING_OF_TIME, jan(10), counts, 100) == [Chunk(BEGINNING_OF_TIME, jan(10), 17)]
    assert chunk_window(jan(3), jan(10), [], 100) == []


def test_conversation_batches_cut_the_changed_conversations_in_their_order_keeping_each_whole() -> None:
    conversations = sorted(uuid.uuid4() for _ in range(4))
    changes = [2, 1, 5, 1]
    packed = bytearray(b"".join(c.bytes + n.to_bytes(4, "big") for c, n in zip(conversations, changes, strict=True)))
    changed = ChangedConversations(packed, more=False)
    ids = [str(conversation) for conversation in conversations]
    assert len(changed) == 4
    # A conversation with more changes than a batch is a batch of its own; the others add up to at most the batch.
    assert list(conversation_batches(changed, 3)) == [ids[:2], [ids[2]], [ids[3]]]
    assert list(conversation_batches(changed, 9)) == [ids]
    assert list(conversation_batches(ChangedConversations(bytearray(), more=False), 5)) == []


# ---------------------------------------------------------------------------------------------
# Beside a busy application: no foreign key is ever dropped, app changes never fail a run


def test_a_fill_that_died_before_its_foreign_keys_is_completed_by_the_next_run(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    run_assets(postgres, [project_conversations])
    # The state a run killed between its fill's commit and its foreign keys leaves: rows, no keys,
    # and meanwhile the app deleted a linked person, a linked conversation and a project's user.
    for table in (PEOPLE, CLIENTS, PROJECTS):
        for name in _link_foreign_keys(db, table):
            db.execute(
                psycopg.sql.SQL("alter table {} drop constraint {}").format(
                    psycopg.sql.Identifier(table), psycopg.sql.Identifier(name)
                )
            )
    person, _conversation = sorted(link_pairs(db, SCHEMA, PEOPLE))[0]
    project_link = next(row for row in project_link_rows(db).values() if row[3] is not None)
    db.execute("delete from people where id = %s", (person,))
    db.execute(
        "delete from conversations where id = (select conversation_id from project_conversations where added_by is not null limit 1 offset 1)"
    )
    db.execute("delete from projects where user_id = %s and id <> %s", (project_link[3], project_link[1]))
    db.execute("update projects set user_id = null where user_id = %s", (project_link[3],))
    db.execute("delete from users where id = %s", (project_link[3],))
    assert person in {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}  # an orphan, nothing cascaded

    front = run_assets(postgres, FRONT_ASSETS, {"dagster/partition": "2024-01-12"})
    project = run_assets(postgres, [project_conversations])

    assert metadata_of(front, PEOPLE)["foreign_keys_made_whole"] == 2
    assert metadata_of(project, PROJECTS)["foreign_keys_made_whole"] == 3
    for table, count in ((PEOPLE, 2), (CLIENTS, 2), (PROJECTS, 3)):
        assert list(_link_foreign_keys(db, table).values()) == [True] * count, table
    assert person not in {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    assert_front_tables_exact(db)
    assert _project_triples(db) == expected_project_links(db)
    # From now on the keys cascade: the app's delete of a person takes their links with it.
    other_person = sorted(link_pairs(db, SCHEMA, PEOPLE))[0][0]
    db.execute("delete from people where id = %s", (other_person,))
    assert other_person not in {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}
    assert data.deleted_person not in {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}


def test_the_run_that_adds_a_key_removes_and_reports_the_links_of_people_deleted_before_it(db, postgres) -> None:
    build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    for name in _link_foreign_keys(db, PEOPLE):
        db.execute(
            psycopg.sql.SQL("alter table {} drop constraint {}").format(
                psycopg.sql.Identifier(PEOPLE), psycopg.sql.Identifier(name)
            )
        )
    # Three linked people deleted while the table had no key (as during a first fill): their links stay.
    counted = db.execute(
        f"select person_id, count(*) from {PEOPLE} group by person_id order by count(*) desc, person_id limit 3"
    ).fetchall()
    gone = [person for person, _ in counted]
    orphaned = sum(links for _, links in counted)
    assert orphaned > 3
    db.execute("delete from people where id = any(%s)", (gone,))
    instance = dg.DagsterInstance.ephemeral()

    result = run_assets(postgres, [people_front_conversations], {"dagster/partition": "2024-01-12"}, instance=instance)

    # The run's diff of its own day deletes the gone people's links there; the key's removal takes the rest.
    removed_in_window = metadata_of(result, PEOPLE)["rows_deleted_in_range"]
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    removal = f"removed {orphaned - removed_in_window:,} links whose people row the app deleted before people_front_conversations_person_id_fkey existed"
    assert any(removal in message for message in messages), messages
    assert _link_foreign_keys(db, PEOPLE) == {
        "people_front_conversations_person_id_fkey": True,
        "people_front_conversations_front_conversation_id_fkey": True,
    }
    assert not set(gone) & {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    assert_front_tables_exact(db)


def test_adding_a_foreign_key_waits_for_app_writers_without_queueing_them(db, database_url, postgres) -> None:
    build_source_data(db)
    instance = dg.DagsterInstance.ephemeral()
    results: list[dg.ExecuteInProcessResult] = []
    with psycopg.connect(database_url) as app_transaction, psycopg.connect(database_url, autocommit=True) as app:
        # An app transaction holds ROW EXCLUSIVE on people and front_conversations: adding a foreign key
        # to either (SHARE ROW EXCLUSIVE) must wait for it, but only in 50 ms turns.
        app_transaction.execute("update people set name = name where id = (select id from people order by id limit 1)")
        app_transaction.execute(
            "update front_conversations set subject = subject where id = (select id from front_conversations order by id limit 1)"
        )
        runner = threading.Thread(
            target=lambda: results.append(
                run_assets(postgres, [people_front_conversations], FULL_RANGE, instance=instance)
            )
        )
        runner.start()
        assert wait_for_pipeline_lock_wait(db, runner, "relation")
        # Meanwhile other app writers of people are never queued behind the pipeline for long: with a
        # lock_timeout of 1 s each would fail if a lock request of the run stood in front of it longer.
        app.execute("set lock_timeout = '1s'")
        for _number in range(10):
            app.execute("update people set name = name where id = (select id from people order by id desc limit 1)")
            app.execute("select count(*) from people")
            time.sleep(0.05)
        assert runner.is_alive() and not results
        app_transaction.commit()
        runner.join(timeout=120)
    assert results and results[0].success
    assert list(_link_foreign_keys(db, PEOPLE).values()) == [True, True]
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    messages = _run_log_messages(instance, results[0])
    assert any(
        "adding people_front_conversations_person_id_fkey: attempt" in message and "55P03" in message
        for message in messages
    )


def test_a_person_deleted_while_a_run_inserts_their_link_is_skipped_not_failed(db, database_url, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    # A late change: a person's contact method receives a message of a conversation they were not in.
    person = data.people[5]
    message, _conversation = db.execute(
        "select m.id, m.front_conversation_id from front_messages as m "
        "where m.front_conversation_id not in (select front_conversation_id from people_front_conversations where person_id = %s) "
        "order by m.id limit 1",
        (person,),
    ).fetchone()
    contact_method = next(cm for cm, owner in data.contact_methods.items() if owner == person)
    db.execute(
        "insert into front_message_recipients (front_message_id, contact_method_id) values (%s, %s)",
        (message, contact_method),
    )
    instance = dg.DagsterInstance.ephemeral()
    results: list[dg.ExecuteInProcessResult] = []
    with psycopg.connect(database_url) as app:
        # The app deletes that person in a transaction still open when the run's statement takes its
        # snapshot: the run computes the link, its insert's foreign-key check waits for the delete, and
        # then finds the person gone.
        app.execute("delete from people where id = %s", (person,))
        runner = threading.Thread(
            target=lambda: results.append(
                run_assets(postgres, [people_front_conversations], FULL_RANGE, instance=instance)
            )
        )
        runner.start()
        assert wait_for_pipeline_lock_wait(db, runner, "transactionid")
        app.commit()
        runner.join(timeout=120)
    assert results and results[0].success
    # The insert key-shared the person as its foreign-key check would, found them deleted, and skipped
    # their link: no foreign-key violation, nothing to retry.
    messages = _run_log_messages(instance, results[0])
    assert not any("met a concurrent change" in message for message in messages)
    assert person not in {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)


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
        committed_counts = _committed_counts_while(
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
        assert list(_link_foreign_keys(db, PEOPLE).values()) == [True, True]
        # Another session saw the fill commit chunk by chunk: the count climbs in steps, not 0 then all.
        assert any(0 < count < len(expected) for count in committed_counts), sorted(set(committed_counts))
    finally:
        db.execute(psycopg.sql.SQL("drop owned by {}").format(psycopg.sql.Identifier(role)))
        db.execute(psycopg.sql.SQL("drop role {}").format(psycopg.sql.Identifier(role)))


def _committed_counts_while(database_url: str, run: Callable[[], object]) -> list[int]:
    """The people links another session sees committed, read every few milliseconds while `run` goes."""
    return watch_while(
        database_url, lambda watcher: watcher.execute(f"select count(*) from {PEOPLE}").fetchone()[0], run
    )


def _table_identity(db: psycopg.Connection, table: str) -> tuple:
    """What replacing a table would change: its oid, its comment, its keys' and indexes' names and definitions."""
    oid, comment = db.execute(
        "select %s::regclass::oid, obj_description(%s::regclass, 'pg_class')", (table, table)
    ).fetchone()
    return (
        oid,
        comment,
        {(name, definition) for name, definition in _table_definitions(db, table) if not name.endswith("_fkey")},
    )


def _persistent_relations(db: psycopg.Connection) -> set[tuple[str, str]]:
    """(schema, name) of every relation but temporary ones and the catalog's."""
    return set(
        db.execute(
            "select relnamespace::regnamespace::text, relname from pg_class "
            "where relpersistence <> 't' and relnamespace::regnamespace::text not in ('pg_catalog', 'information_schema', 'pg_toast')"
        ).fetchall()
    )


# ---------------------------------------------------------------------------------------------


def _run_log_messages(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(result.run_id)]


def _link_foreign_keys(db: psycopg.Connection, table: str) -> dict[str, bool]:
    rows = db.execute(
        "select conname, convalidated from pg_constraint where contype = 'f' and conrelid = %s::regclass", (table,)
    )
    return dict(rows.fetchall())


def _project_triples(db: psycopg.Connection) -> set[tuple]:
    return {
        (project, conversation, added_by) for conversation, (_, project, _, added_by) in project_link_rows(db).items()
    }


def _table_definitions(db: psycopg.Connection, table: str) -> set[tuple[str, str]]:
    """Every constraint and index of `table` with its DDL (not the NOT NULL constraints PostgreSQL 18 lists too:
    the columns' NOT NULL are the same on every major)."""
    constraints = db.execute(
        "select conname, pg_get_constraintdef(oid) from pg_constraint where conrelid = %s::regclass and contype <> 'n'",
        (table,),
    ).fetchall()
    indexes = db.execute(
        "select indexname, indexdef from pg_indexes where schemaname = 'public' and tablename = %s", (table,)
    ).fetchall()
    return set(constraints) | set(indexes)


def test_a_bulk_run_leaves_out_the_people_join_only_when_the_sources_key_proves_it(db, postgres) -> None:
    """contact_methods.person_id's validated foreign key proves every linked person exists: a fill and a diff
    then read no people table, and the tables are exact. A key NOT VALID (or none: the other tests' dangling
    person) proves nothing, and a scoped run always keeps the join (asking the catalog costs it more)."""
    build_source_data(db, dangling_references=False)

    def oracle_text(bulk: bool) -> str:
        with postgres.session() as session:
            return front_definition(session, PEOPLE_LINKS, bulk=bulk).as_string(session.conn)

    people_join = '"public".people as person'
    assert people_join not in oracle_text(bulk=True)
    assert people_join in oracle_text(bulk=False)
    result = run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    assert metadata_of(result, PEOPLE)["mode"] == "bulk"
    assert_front_tables_exact(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)  # a diff of the whole range, still without the join
    assert_front_tables_exact(db)

    db.execute("alter table public.contact_methods drop constraint contact_methods_person_id_fkey")
    db.execute(
        "alter table public.contact_methods add constraint contact_methods_person_id_fkey "
        "foreign key (person_id) references public.people (id) on delete set null not valid"
    )
    assert people_join in oracle_text(bulk=True)


def test_a_person_the_app_deletes_while_their_links_are_inserted_is_left_unlinked(db, database_url, postgres) -> None:
    build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    # Two people's links go missing (the app re-pointed their contact methods and back, say): the next run inserts them.
    first, second = sorted({owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)})[:2]
    db.execute(f"delete from {PEOPLE} where person_id = any(%s)", ([first, second],))
    result, waiting = run_people_links_while_the_app_deletes(db, database_url, postgres, first)
    # The insert's foreign-key check waited for the app's delete and failed once it committed: the insert
    # alone is tried again (a savepoint), with a snapshot that no longer sees the person.
    assert waiting.startswith("-- Inserts the missing links a diff found"), waiting
    assert result.success
    linked = {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}
    assert second in linked and first not in linked
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)


def run_people_links_while_the_app_deletes(
    db: psycopg.Connection, database_url: str, postgres, person
) -> tuple[dg.ExecuteInProcessResult, str]:
    """Run the people links while the app deletes `person` in a transaction still open when the run's diff
    takes its snapshot (so the diff counts the person's links as missing), committed once the run waits on
    it; returns the run's result and the run's statement that waited."""
    results: list[dg.ExecuteInProcessResult] = []
    with psycopg.connect(database_url) as app:
        app.execute("delete from people where id = %s", (person,))
        runner = threading.Thread(
            target=lambda: results.append(run_assets(postgres, [people_front_conversations], FULL_RANGE))
        )
        runner.start()
        waiting = wait_until(lambda: waiting_statement(db, database_url), timeout=60, interval=0.05)
        assert waiting, "the run never waited for the app's delete"
        app.commit()
        runner.join(timeout=120)
    assert results, "the run did not end"
    return results[0], waiting


def waiting_statement(db: psycopg.Connection, database_url: str) -> str | None:
    """The statement of the pipeline's backend that waits for a row lock of another transaction, if any."""
    row = db.execute(
        "select query from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' "
        "and application_name <> 'app_workload' and pid <> pg_backend_pid() and query not like 'delete from people%%'"
    ).fetchone()
    return row[0] if row else None


def test_a_foreign_key_failure_redoes_only_the_slice_that_met_it(db, database_url, postgres, monkeypatch) -> None:
    """Beside an app deleting people all the time, re-inserting a whole batch whenever one of its people was
    deleted meanwhile never converged: the missing links go in by slices, and a failure retries its slice alone."""
    monkeypatch.setattr(window_diff, "PENDING_INSERT_SLICE_ROWS", 5)
    build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    pairs = link_pairs(db, SCHEMA, PEOPLE)
    # The person whose links come last in key order: the open last slice, the only one that meets the delete.
    last = max(owner for owner, _ in pairs)
    db.execute(f"delete from {PEOPLE}")
    # The first fill's backends report their rows when they end.
    wait_until(lambda: rows_ever_inserted(database_url, PEOPLE) >= len(pairs), timeout=10)
    written_before = rows_ever_inserted(database_url, PEOPLE)
    result, _ = run_people_links_while_the_app_deletes(db, database_url, postgres, last)
    assert result.success
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    kept = len(link_pairs(db, SCHEMA, PEOPLE))
    assert kept < len(pairs) - 1 and len(pairs) > 20
    # Rows written, including those of the attempt its foreign-key check undid: the links kept, plus at
    # most the one slice that met the delete (a whole-batch insert would have written every link twice).
    wait_until(lambda: rows_ever_inserted(database_url, PEOPLE) - written_before >= kept, timeout=10)
    written = rows_ever_inserted(database_url, PEOPLE) - written_before
    assert kept < written <= kept + 2 * 5, (kept, written)


def rows_ever_inserted(database_url: str, table: str) -> int:
    """The table's n_tup_ins (rows inserted, also by transactions and savepoints rolled back), on a new
    connection so that no cached statistics snapshot is read."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("select n_tup_ins from pg_stat_user_tables where relname = %s", (table,)).fetchone()[0]
