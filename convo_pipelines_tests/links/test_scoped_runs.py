"""The late-change sensor's scoped run of a Front link table (scoped_run.py): it recomputes only the conversations
it names, its batches stay inside them, and it refuses an id that is not a UUID."""

from __future__ import annotations

import dagster as dg

from convo_pipelines.defs.links.assets import people_front_conversations
from convo_pipelines_tests.links.link_runs import (
    CLIENTS,
    FRONT_ASSETS,
    FULL_RANGE,
    PEOPLE,
    SCHEMA,
    assert_front_tables_exact,
    jan,
    metadata_of,
    run_assets,
)
from convo_pipelines_tests.source_data import build_source_data, expected_people_links, link_pairs


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
