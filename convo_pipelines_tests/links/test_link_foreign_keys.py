"""A link table's foreign keys (table_state/keys.py): a run completes the keys a killed fill left missing and
removes, and reports, the links of people the app deleted before a key existed; from then on the app's deletes
cascade to the link tables."""

from __future__ import annotations

import dagster as dg
import psycopg

from convo_pipelines.defs.links.assets import people_front_conversations
from convo_pipelines.defs.links.project_assets import project_conversations
from convo_pipelines_tests.links.link_runs import (
    CLIENTS,
    FRONT_ASSETS,
    FULL_RANGE,
    PEOPLE,
    PROJECTS,
    SCHEMA,
    assert_front_tables_exact,
    conversations_of_pairs,
    link_foreign_keys,
    metadata_of,
    project_triples,
    run_assets,
)
from convo_pipelines_tests.source_data import (
    build_source_data,
    expected_project_links,
    link_pairs,
    project_link_rows,
)


def test_a_fill_that_died_before_its_foreign_keys_is_completed_by_the_next_run(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    run_assets(postgres, [project_conversations])
    # The state a run killed between its fill's commit and its foreign keys leaves: rows, no keys,
    # and meanwhile the app deleted a linked person, a linked conversation and a project's user.
    for table in (PEOPLE, CLIENTS, PROJECTS):
        for name in link_foreign_keys(db, table):
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
        assert list(link_foreign_keys(db, table).values()) == [True] * count, table
    assert person not in {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    assert_front_tables_exact(db)
    assert project_triples(db) == expected_project_links(db)
    # From now on the keys cascade: the app's delete of a person takes their links with it.
    other_person = sorted(link_pairs(db, SCHEMA, PEOPLE))[0][0]
    db.execute("delete from people where id = %s", (other_person,))
    assert other_person not in {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}
    assert data.deleted_person not in {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}


def test_the_run_that_adds_a_key_removes_and_reports_the_links_of_people_deleted_before_it(db, postgres) -> None:
    build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    for name in link_foreign_keys(db, PEOPLE):
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
    assert link_foreign_keys(db, PEOPLE) == {
        "people_front_conversations_person_id_fkey": True,
        "people_front_conversations_front_conversation_id_fkey": True,
    }
    assert not set(gone) & {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    assert_front_tables_exact(db)


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
    assert project_triples(db) == expected_project_links(db)
    assert metadata_of(again, PROJECTS)["rows_deleted"] == 0
