"""A window of a Front link table made exact (window_run.py, windows.py): a single partition covers exactly its UTC
day, a re-run writes nothing, a conversation whose day changed keeps its links, late changes all reach the tables,
a chunked diff logs its progress, a failed run leaves the previous table, and a range run through the dagster CLI;
each compared with the independent Python oracle of source_data.py."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psycopg

from convo_pipelines.defs.links.assets import people_front_conversations
from convo_pipelines.defs.links.config import FrontLinksConfig
from convo_pipelines.defs.links.project_assets import project_conversations
from convo_pipelines.defs.links.tables import BEGINNING_OF_TIME, END_OF_TIME, PEOPLE_LINKS
from convo_pipelines.defs.links.window_run import make_window_exact
from convo_pipelines.defs.links.windows import Chunk, RunWindow, chunk_window
from convo_pipelines_tests.helpers import materialize_front_links_command, utc_day_ahead
from convo_pipelines_tests.links.link_runs import (
    CLIENTS,
    FIRST_PARTITION,
    FRONT_ASSETS,
    FULL_RANGE,
    PEOPLE,
    PROJECTS,
    SCHEMA,
    assert_front_tables_exact,
    conversations_of_pairs,
    jan,
    metadata_of,
    project_triples,
    range_tags,
    row_versions,
    run_assets,
    table_definitions,
    writes_of,
)
from convo_pipelines_tests.source_data import (
    build_source_data,
    expected_people_links,
    expected_project_links,
    link_pairs,
    link_rows,
    project_link_rows,
    source_checksums,
)


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
            assert writes_of(result, table) == ("diff", 0, 0, 0)
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


def test_a_window_of_every_conversation_counts_the_tables_links_but_the_undated(db, postgres) -> None:
    """A run over every partition (the nightly reconcile's window, unbounded at both ends) takes its count in range
    from the table's count, less the links of a conversation with no created_at, which no window holds and the run
    leaves alone though it reads the stored links from the table alone."""
    build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    db.execute("alter table front_conversations alter column created_at drop not null")
    undated = db.execute(
        "update front_conversations set created_at = null where id = "
        "(select front_conversation_id from people_front_conversations order by id limit 1) returning id"
    ).fetchone()[0]
    db.execute(
        "delete from people_front_conversations where id = (select id from people_front_conversations "
        "where front_conversation_id <> %s order by id limit 1)",
        (undated,),
    )
    undated_links = [pair for pair in link_pairs(db, SCHEMA, PEOPLE) if pair[1] == undated]
    assert undated_links
    every_conversation = RunWindow(BEGINNING_OF_TIME, END_OF_TIME, "-infinity", "infinity", one_day=False)

    with postgres.session(autocommit=True) as session:
        run = make_window_exact(session, PEOPLE_LINKS, every_conversation, FrontLinksConfig())

    dated = {pair for pair in expected_people_links(db, SCHEMA) if pair[1] != undated}
    assert (run.counts.rows_inserted, run.counts.rows_deleted) == (1, 0)
    # The undated conversation's links are in no window: the run over every day leaves them as they are.
    assert [pair for pair in link_pairs(db, SCHEMA, PEOPLE) if pair[1] == undated] == undated_links
    assert (
        run.counts.rows_in_window
        == len(dated)
        == run.row_count - sum(1 for _, conversation in link_pairs(db, SCHEMA, PEOPLE) if conversation == undated)
    )
    assert {pair for pair in link_pairs(db, SCHEMA, PEOPLE) if pair[1] != undated} == dated


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

    today = utc_day_ahead(db).isoformat()  # the last partition for the whole test
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

    assert project_triples(db) == expected_project_links(db)
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


def test_failed_run_leaves_the_previous_table_and_its_constraints(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    before = row_versions(db, PEOPLE)
    definitions = table_definitions(db, PEOPLE)
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
    assert table_definitions(db, PEOPLE) == definitions  # keys, indexes and FKs are back

    db.execute("drop trigger fail_link_insert on people_front_conversations")
    run_assets(postgres, [people_front_conversations], FULL_RANGE)
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db)


def test_runs_never_write_to_source_tables(db, postgres) -> None:
    build_source_data(db)
    before = source_checksums(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    run_assets(postgres, FRONT_ASSETS, {"dagster/partition": "2024-01-11"})
    run_assets(postgres, [project_conversations])
    run_assets(postgres, [project_conversations])
    assert source_checksums(db) == before


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
