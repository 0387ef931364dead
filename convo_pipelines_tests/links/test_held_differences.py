"""Batches that apply the differences their window's diff found (held_differences.py, diff_batches.py) and diff again
only the conversations the app changed since the diff (written_since.py), so that the table ends exact: each batch
looks first with the indexes the late_change_indexes check recommends, one look after the batches without them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from uuid import UUID

import dagster as dg
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from convo_pipelines.defs.links import diff_batches, held_differences, written_since
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
AFTER_THE_BATCHES = re.compile(
    rf"{PEOPLE}: (?P<after>[\d,]+) conversations the app wrote since the diff diffed again after the batches "
    r"\(of (?P<written>[\d,]+) it wrote\)"
)


def add_recommended_change_indexes(db: psycopg.Connection, db_session) -> None:
    """The indexes on the change stamps, created by the statements the late_change_indexes check names."""
    statements = db.execute(
        db_session.sql("links/checks/check_late_change_indexes.sql"), {"source_schema": SCHEMA, **change_index_params()}
    ).fetchone()[2]
    for statement in statements:
        db.execute(statement)


def emptied_then_refilled(postgres, db, db_session, *, indexed: bool = True) -> tuple[SourceData, dg.DagsterInstance]:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    if indexed:
        add_recommended_change_indexes(db, db_session)
    db.execute(f"truncate {PEOPLE}")  # every conversation changed: its links go in by batches
    return data, dg.DagsterInstance.ephemeral()


def refill(postgres, instance: dg.DagsterInstance) -> dict[str, int]:
    """Run the people links over every day in batches of BATCH_ROWS changes; what its one batch summary counted, and
    how many conversations it diffed again after the batches (absent: it looked in each batch)."""
    config = {"ops": {PEOPLE: {"config": {"max_insert_batch_rows": BATCH_ROWS}}}}
    result = run_assets(postgres, [people_front_conversations], FULL_RANGE, run_config=config, instance=instance)
    messages = [entry.user_message or "" for entry in instance.all_logs(result.run_id)]
    # The first summary is the window's batches'; the re-diff after them may batch its own changes.
    first_summary = next(match.groupdict() for line in messages if (match := SUMMARY.match(line)))
    after = [match.groupdict() for line in messages if (match := AFTER_THE_BATCHES.match(line))]
    assert len(after) <= 1, after
    return {kind: int(count.replace(",", "")) for summary in [first_summary, *after] for kind, count in summary.items()}


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
    after, reached = hand_a_contact_method_over_after_the_diff(db, data, database_url, monkeypatch)

    summary = refill(postgres, instance)

    assert_exact_with_the_handover(db, after, reached)
    conversations = len({conversation for _, conversation in expected_people_links(db, SCHEMA)})
    assert summary == {"applied": conversations - len(reached), "rediffed": len(reached)}


def test_without_the_change_indexes_one_look_after_the_batches_finds_what_to_diff_again(
    db, db_session, postgres, database_url, monkeypatch
) -> None:
    data, instance = emptied_then_refilled(postgres, db, db_session, indexed=False)
    linked = {conversation for _, conversation in expected_people_links(db, SCHEMA)}
    # A conversation that has no people link, hence no difference to hold: what the app writes to it is left to the
    # late-change sensor, as any write after a run.
    unlinked = next(conversation for conversation in data.front_conversations if conversation not in linked)
    after, reached = hand_a_contact_method_over_after_the_diff(db, data, database_url, monkeypatch, also=unlinked)

    summary = refill(postgres, instance)

    assert_exact_with_the_handover(db, after, reached)
    conversations = len({conversation for _, conversation in expected_people_links(db, SCHEMA)})
    assert summary == {"applied": conversations, "rediffed": 0, "after": len(reached), "written": len(reached) + 1}


def test_too_few_conversations_to_pay_for_a_look_are_each_diffed_again(
    db, db_session, postgres, database_url, monkeypatch
) -> None:
    # No change-stamp index, and a source that weighs more than a look over the changed conversations can save.
    summary, linked, _reached = refilled_after_a_handover_unindexed(
        db, db_session, postgres, database_url, monkeypatch, look_cost=0
    )
    assert summary == {"applied": 0, "rediffed": linked}


def test_a_source_past_the_servers_cache_pays_for_a_look_sooner(
    db, db_session, postgres, database_url, monkeypatch
) -> None:
    # One look costs a conversation's diff again: too few changed conversations to pay for it, while the source
    # fits in the cache. A server that says it caches 8 kB holds none of the source.
    database = sql.Identifier(conninfo_to_dict(database_url)["dbname"])
    db.execute(sql.SQL("alter database {} set effective_cache_size = '8kB'").format(database))
    summary, linked, reached = refilled_after_a_handover_unindexed(
        db, db_session, postgres, database_url, monkeypatch, look_cost=1
    )
    assert linked < db.execute("select count(*) from front_conversations").fetchone()[0]
    assert summary == {"applied": linked, "rediffed": 0, "after": len(reached), "written": len(reached)}


def refilled_after_a_handover_unindexed(
    db, db_session, postgres, database_url, monkeypatch, *, look_cost: int
) -> tuple[dict[str, int], int, set[UUID]]:
    """Without the change-stamp indexes, one look weighed as `look_cost` conversations: the table emptied, the app
    handing a contact method over after the diff, the refill. Its summary (refill), how many conversations have
    people links, and those the handover reached; the table exact with the handover."""
    data, instance = emptied_then_refilled(postgres, db, db_session, indexed=False)
    db.execute("analyze front_conversations")
    monkeypatch.setattr(written_since, "LOOK_COST_IN_CONVERSATIONS", look_cost)
    after, reached = hand_a_contact_method_over_after_the_diff(db, data, database_url, monkeypatch)

    summary = refill(postgres, instance)

    assert_exact_with_the_handover(db, after, reached)
    linked = len({conversation for _, conversation in expected_people_links(db, SCHEMA)})
    return summary, linked, reached


def hand_a_contact_method_over_after_the_diff(
    db, data: SourceData, database_url: str, monkeypatch, also: UUID | None = None
) -> tuple[UUID, set[UUID]]:
    """Between the diff and its first batch, the app hands a contact method over to another person (and stamps the
    front conversation `also`): that person, and the conversations the method's recipients reach."""
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
        with connect(database_url, autocommit=True) as app:
            app.execute("update contact_methods set person_id = %s, updated_at = now() where id = %s", (after, moved))
            app.execute("update front_conversations set updated_at = now() where id = %s", (also,))
        monkeypatch.setattr(diff_batches, "conversation_batches", held_differences.conversation_batches)
        yield from held_differences.conversation_batches(held, batch_rows)

    monkeypatch.setattr(diff_batches, "conversation_batches", batches_after_an_app_change)
    return after, reached


def assert_exact_with_the_handover(db, after: UUID, reached: set[UUID]) -> None:
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    assert {(after, conversation) for conversation in reached} <= link_pairs(db, SCHEMA, PEOPLE)
