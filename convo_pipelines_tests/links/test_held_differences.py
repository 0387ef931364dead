"""Batches that apply the differences their window's diff found (held_differences.py, window_diff.py): with the
indexes the late_change_indexes check recommends, a batch diffs again only the conversations the app changed since
the diff, and the table ends exact; without them it diffs every conversation again."""

from __future__ import annotations

import re
from collections.abc import Iterator

import dagster as dg
import psycopg

from convo_pipelines.defs.links import held_differences, window_diff
from convo_pipelines.defs.links.assets import people_front_conversations
from convo_pipelines.defs.links.change_fingerprints import change_index_params
from convo_pipelines.defs.links.held_differences import HeldBatch, HeldDifferences
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.links.link_runs import FRONT_ASSETS, FULL_RANGE, PEOPLE, SCHEMA, run_assets
from convo_pipelines_tests.source_data import SourceData, build_source_data, expected_people_links, link_pairs

BATCH_ROWS = 5
SUMMARY = re.compile(
    rf"{PEOPLE}: (?P<applied>[\d,]+) changed conversations applied as the diff found them, "
    r"(?P<rediffed>[\d,]+) diffed again"
)


def add_recommended_change_indexes(db: psycopg.Connection, db_session) -> None:
    """The indexes on the change stamps, created by the statements the late_change_indexes check names."""
    statements = db.execute(
        db_session.sql("links/checks/check_late_change_indexes.sql"), {"source_schema": SCHEMA, **change_index_params()}
    ).fetchone()[2]
    for statement in statements:
        db.execute(statement)


def emptied_then_refilled(postgres, db, db_session) -> tuple[SourceData, dg.DagsterInstance]:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    add_recommended_change_indexes(db, db_session)
    db.execute(f"truncate {PEOPLE}")  # every conversation changed: its links go in by batches
    return data, dg.DagsterInstance.ephemeral()


def refill(postgres, instance: dg.DagsterInstance) -> dict[str, int]:
    config = {"ops": {PEOPLE: {"config": {"max_insert_batch_rows": BATCH_ROWS}}}}
    result = run_assets(postgres, [people_front_conversations], FULL_RANGE, run_config=config, instance=instance)
    summaries = [
        match.groupdict()
        for entry in instance.all_logs(result.run_id)
        if (match := SUMMARY.match(entry.user_message or ""))
    ]
    assert len(summaries) == 1, summaries
    return {kind: int(count.replace(",", "")) for kind, count in summaries[0].items()}


def test_batches_apply_the_differences_the_diff_found_when_the_app_changed_nothing_since(
    db, db_session, postgres
) -> None:
    # Every source row was stamped seconds ago, within the late-commit allowance, but committed before the diff:
    # the diff saw them all.
    _data, instance = emptied_then_refilled(postgres, db, db_session)
    summary = refill(postgres, instance)

    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    conversations = len({conversation for _, conversation in expected_people_links(db, SCHEMA)})
    assert summary == {"applied": conversations, "rediffed": 0}


def test_a_conversation_the_app_changed_after_the_diff_is_diffed_again_in_its_batch(
    db, db_session, postgres, database_url, monkeypatch
) -> None:
    data, instance = emptied_then_refilled(postgres, db, db_session)
    gone = {data.deleted_person, data.person_of_deleted_client}
    moved, before = next(
        (method, person) for method, person in data.contact_methods.items() if person and person not in gone
    )
    after = next(person for person in data.people if person not in gone and person != before)
    reached = {
        conversation
        for (conversation,) in db.execute(
            "select distinct message.front_conversation_id from front_message_recipients as recipient"
            " join front_messages as message on message.id = recipient.front_message_id"
            " where recipient.contact_method_id = %s",
            (moved,),
        )
    }
    assert reached

    def batches_after_an_app_change(held: HeldDifferences, batch_rows: int) -> Iterator[HeldBatch]:
        # Between the diff and its first batch, the app hands a contact method over to another person.
        with connect(database_url, autocommit=True) as app:
            app.execute("update contact_methods set person_id = %s, updated_at = now() where id = %s", (after, moved))
        yield from held_differences.conversation_batches(held, batch_rows)

    monkeypatch.setattr(window_diff, "conversation_batches", batches_after_an_app_change)
    summary = refill(postgres, instance)

    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    assert {(after, conversation) for conversation in reached} <= link_pairs(db, SCHEMA, PEOPLE)
    conversations = len({conversation for _, conversation in expected_people_links(db, SCHEMA)})
    assert summary == {"applied": conversations - len(reached), "rediffed": len(reached)}
