"""The late-change sensor's cursor, evaluated for real: what the first tick leaves in it, and how cursors of
other shapes (one bound for every job, or `changes_through`) are read."""

import json
from datetime import timedelta

from convo_pipelines.defs.links import change_fingerprints, sensor_cursor
from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE
from convo_pipelines_tests.late_change_ticks import (
    SCHEMA,
    db_now,
    evaluate,
    next_window_start,
    requested_ranges,
    stamp_conversation,
)
from convo_pipelines_tests.source_data import link_pairs


def test_first_tick_sets_the_cursor_and_requests_nothing(definitions, postgres, db, source, instance):
    # Changes a later tick would request: a recipient an hour old, and one inside the late-commit allowance.
    conversation = source.first_instant_of_jan_10
    linked = link_pairs(db, SCHEMA, "people_front_conversations")
    unlinked = [p for p in source.people if p != source.deleted_person and (p, conversation) not in linked]
    assert len(unlinked) >= 2
    now = db_now(db)
    for person, age in zip(unlinked, (timedelta(hours=1), LATE_COMMIT_ALLOWANCE / 2), strict=False):
        contact_method = next(cm for cm, owner in source.contact_methods.items() if owner == person)
        db.execute(
            "insert into public.front_message_recipients (front_message_id, contact_method_id, created_at, updated_at)"
            " select min(id::text)::uuid, %s, %s, %s from public.front_messages where front_conversation_id = %s",
            (contact_method, now - age, now - age, conversation),
        )
    before = db_now(db)
    data = evaluate(definitions, postgres, None, instance)
    after = db_now(db)
    assert not data.run_requests
    assert before - LATE_COMMIT_ALLOWANCE <= next_window_start(data) <= after - LATE_COMMIT_ALLOWANCE
    assert set(json.loads(data.cursor)["fingerprints"]) == {"front", "project"}
    # The change inside the allowance is the next tick's; the hour-old one is the nightly reconcile's.
    assert requested_ranges(evaluate(definitions, postgres, data.cursor, instance)) == [("2024-01-10", "2024-01-10")]


def test_a_cursor_with_one_fingerprint_per_job_reads_every_bucket_as_changed(
    definitions, postgres, db, source, instance
):
    """The cursor before stamp buckets held one fingerprint per job: the first tick after the upgrade compares
    nothing with it and follows every row of its window, as a tick after the first does."""
    moment = db_now(db) - timedelta(minutes=1)
    stamp_conversation(db, source.first_instant_of_jan_10, db_now(db))
    old = json.dumps(
        {
            "changes_after": {"front": moment.isoformat(), "project": moment.isoformat()},
            "fingerprints": {"front": "1:5"},
        }
    )
    assert sensor_cursor.read_cursor(old).fingerprints is None
    data = evaluate(definitions, postgres, old, instance)
    assert requested_ranges(data) == [("2024-01-10", "2024-01-10")]
    assert json.loads(data.cursor)["bucket_seconds"] == change_fingerprints.CHANGE_BUCKET_SECONDS


def test_a_cursor_with_one_bound_for_every_job_is_read_as_the_same_bound_for_each(definitions, postgres, db, instance):
    """The cursor before each job had its own bound: {changes_after: moment, fingerprints}."""
    moment = db_now(db) - timedelta(minutes=1)
    old = json.dumps({"changes_after": moment.isoformat(), "fingerprints": {"front": "0:0", "project": "0:0"}})
    assert sensor_cursor.read_cursor(old).changes_after == {"front": moment, "project": moment}
    data = evaluate(definitions, postgres, old, instance)
    assert set(sensor_cursor.read_cursor(data.cursor).changes_after) == {"front", "project"}
