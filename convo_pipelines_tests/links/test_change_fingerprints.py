"""The late-change sensor's windows and fingerprints, evaluated for real: a change is requested by the tick after
it and only once, a late commit or a clock behind within the allowance still is, and stamps ahead of the tick
share its bucket."""

import json
from datetime import date, timedelta

import psycopg

from convo_pipelines.defs.links import change_fingerprints
from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE
from convo_pipelines_tests.late_change_ticks import (
    conversation_created_on,
    db_now,
    evaluate,
    execute_requests,
    named_conversations,
    named_project_conversations,
    project_requests,
    requested_ranges,
    stamp_conversation,
)
from convo_pipelines_tests.source_data import assert_links_exact


def test_a_change_stamped_just_now_is_requested_by_the_next_tick_and_only_once(
    definitions, postgres, db, source, instance
):
    """No waiting for late commits: the tick after a change requests it, and a tick that finds nothing written
    since the previous one requests nothing, though the change is still inside its window."""
    first = evaluate(definitions, postgres, None, instance)
    stamp_conversation(db, source.first_instant_of_jan_10, db_now(db))

    data = evaluate(definitions, postgres, first.cursor, instance)
    assert requested_ranges(data) == [("2024-01-10", "2024-01-10")]
    execute_requests(definitions, data, instance)

    again = evaluate(definitions, postgres, data.cursor, instance)
    assert not again.run_requests
    assert again.skip_message == "No source change since the last tick."


def test_a_project_change_stamped_just_now_is_requested_by_the_next_tick_and_only_once(
    definitions, postgres, db, source, instance
):
    first = evaluate(definitions, postgres, None, instance)
    moved = source.conversations_without_project[0]
    db.execute(
        "update public.conversations set project_id = %s, updated_at = now() where id = %s", (source.projects[1], moved)
    )
    data = evaluate(definitions, postgres, first.cursor, instance)
    (request,) = project_requests(data)
    assert named_project_conversations(request) == {str(moved)}
    execute_requests(definitions, data, instance)
    assert_links_exact(db)
    again = evaluate(definitions, postgres, data.cursor, instance)
    assert not again.run_requests


def test_a_tick_recomputes_only_what_was_written_since_the_previous_tick(definitions, postgres, db, source, instance):
    """A change still inside the window but already requested is not requested again: only the stamp buckets
    whose fingerprint changed since the previous tick are followed to their conversations, so a busy app's last
    two minutes of changes are not recomputed at every tick."""
    first = evaluate(definitions, postgres, None, instance)
    stamp_conversation(db, source.first_instant_of_jan_10, db_now(db) - timedelta(seconds=30))
    earlier = evaluate(definitions, postgres, first.cursor, instance)
    assert requested_ranges(earlier) == [("2024-01-10", "2024-01-10")]

    jan_12 = conversation_created_on(source, date(2024, 1, 12))
    stamp_conversation(db, jan_12, db_now(db))
    later = evaluate(definitions, postgres, earlier.cursor, instance)
    assert requested_ranges(later) == [("2024-01-12", "2024-01-12")]
    assert named_conversations(later) == {
        "people_front_conversations": {str(jan_12)},
        "clients_front_conversations": {str(jan_12)},
    }


def test_a_late_commit_into_a_bucket_already_requested_requests_that_bucket_again(
    definitions, postgres, db, source, instance
):
    """A row committed with a stamp in a bucket an earlier tick already fingerprinted changes that bucket's
    fingerprint: the next tick follows the bucket again, the late row with it."""
    first = evaluate(definitions, postgres, None, instance)
    stamp = db_now(db) - timedelta(seconds=40)
    stamp_conversation(db, source.first_instant_of_jan_10, stamp)
    earlier = evaluate(definitions, postgres, first.cursor, instance)
    assert requested_ranges(earlier) == [("2024-01-10", "2024-01-10")]

    stamp_conversation(db, conversation_created_on(source, date(2024, 1, 12)), stamp)
    later = evaluate(definitions, postgres, earlier.cursor, instance)
    assert ("2024-01-12", "2024-01-12") in requested_ranges(later)


def test_stamps_after_the_tick_share_its_bucket_so_the_cursor_stays_small(definitions, postgres, db, source, instance):
    """An app server whose clock is ahead, or a stamp of 'infinity', neither breaks a tick nor grows the cursor:
    every stamp after the tick's moment counts in the moment's bucket."""
    first = evaluate(definitions, postgres, None, instance)
    now = db_now(db)
    ahead = [conversation_created_on(source, date(2024, 1, day)) for day in (10, 11, 12)]
    for minutes, conversation in zip((10, 20, 30), ahead, strict=True):
        stamp_conversation(db, conversation, now + timedelta(minutes=minutes))
    stamp_conversation(db, conversation_created_on(source, date(2024, 1, 14)), "infinity")

    data = evaluate(definitions, postgres, first.cursor, instance)
    assert requested_ranges(data) == [("2024-01-10", "2024-01-12"), ("2024-01-14", "2024-01-14")]
    [(bucket, fingerprint)] = json.loads(data.cursor)["fingerprints"]["front"].items()
    assert fingerprint.startswith("4:")
    assert int(bucket) * change_fingerprints.CHANGE_BUCKET_SECONDS <= db_now(db).timestamp()
    # Another row stamped ahead changes that bucket: the next tick follows all of them again, that one included.
    stamp_conversation(db, conversation_created_on(source, date(2024, 1, 13)), now + timedelta(minutes=40))
    assert requested_ranges(evaluate(definitions, postgres, data.cursor, instance)) == [("2024-01-10", "2024-01-14")]


def test_a_late_commit_stamped_before_the_previous_tick_is_requested_by_the_next(
    definitions, postgres, db, source, instance, database_url
):
    """An app transaction stamps a row (now() is its start), a tick runs while it is still open and cannot see
    it, then it commits: the next tick reads it, though its stamp is older than the tick that missed it."""
    first = evaluate(definitions, postgres, None, instance)
    with psycopg.connect(database_url) as app:
        stamp_conversation(app, source.first_instant_of_jan_10, app.execute("select now()").fetchone()[0])
        while_open = evaluate(definitions, postgres, first.cursor, instance)
        assert not while_open.run_requests
    # The app's transaction committed when its connection closed.
    data = evaluate(definitions, postgres, while_open.cursor, instance)
    assert requested_ranges(data) == [("2024-01-10", "2024-01-10")]


def test_an_app_server_clock_behind_the_database_within_the_allowance_is_seen(
    definitions, postgres, db, source, instance
):
    """Rails stamps updated_at from the app server's clock: one behind the database's by less than
    LATE_COMMIT_ALLOWANCE writes a stamp older than the previous tick, still inside the next window."""
    first = evaluate(definitions, postgres, None, instance)
    stamp_conversation(db, source.first_instant_of_jan_10, db_now(db) - LATE_COMMIT_ALLOWANCE * 3 / 4)
    data = evaluate(definitions, postgres, first.cursor, instance)
    assert requested_ranges(data) == [("2024-01-10", "2024-01-10")]


def test_a_stamp_older_than_the_allowance_is_left_to_the_nightly_sync(definitions, postgres, db, source, instance):
    """The window's limit, as the docs state it: a row committed with a stamp further back than
    LATE_COMMIT_ALLOWANCE before the previous tick is not read again; the nightly sync reconciles it."""
    first = evaluate(definitions, postgres, None, instance)
    stamp_conversation(db, source.first_instant_of_jan_10, db_now(db) - LATE_COMMIT_ALLOWANCE * 2)
    data = evaluate(definitions, postgres, first.cursor, instance)
    assert not data.run_requests
