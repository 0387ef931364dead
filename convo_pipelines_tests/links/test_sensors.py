"""The late-change sensor evaluated for real: which partitions each kind of late change requests,
how the cursor moves, and that running the requested runs makes the link tables exact again."""

import json
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import dagster as dg
import psycopg
import pytest

from convo_pipelines.defs.automation import SENSOR_NAME_TAG
from convo_pipelines.defs.links import sensors
from convo_pipelines.defs.links.sensors import link_tables_late_changes_sensor
from convo_pipelines.defs.partitions import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    daily_partitions,
    partition_range_tags,
)
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE
from convo_pipelines_tests.source_data import (
    SourceData,
    assert_links_exact,
    build_source_data,
    date_source_rows_at_baseline,
    link_pairs,
    project_link_rows,
)

SCHEMA = "public"
UTC = UTC


@pytest.fixture
def instance() -> dg.DagsterInstance:
    """One Dagster instance for the test's runs and ticks: the sensor reads which partitions were materialized."""
    return dg.DagsterInstance.ephemeral()


@pytest.fixture
def source(db: psycopg.Connection, definitions: dg.Definitions, instance: dg.DagsterInstance) -> SourceData:
    """The dataset with every timestamp in the past and the link tables of 2024-01-01...15 built from it."""
    data = build_source_data(db, SCHEMA)
    date_source_rows_at_baseline(db, SCHEMA)
    front = definitions.resolve_job_def("front_links_job")
    assert front.execute_in_process(tags=partition_range_tags("2024-01-01", "2024-01-15"), instance=instance).success
    assert definitions.resolve_job_def("project_links_job").execute_in_process(instance=instance).success
    return data


def db_now(db: psycopg.Connection) -> datetime:
    return db.execute("select now()").fetchone()[0]


def cursor_at(moment: datetime) -> str:
    return json.dumps({"changes_through": moment.isoformat()})


def next_window_start(data, job: str = sensors.FRONT_SOURCE) -> datetime:
    """The lower bound the tick left in its cursor for the next one of `job`'s windows."""
    return sensors.read_cursor(data.cursor).changes_after[job]


def evaluate(definitions: dg.Definitions, postgres: PostgresResource, cursor: str | None, instance: dg.DagsterInstance):
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"postgres": postgres}, definitions=definitions
    ) as context:
        return link_tables_late_changes_sensor.evaluate_tick(context)


def requested_ranges(data) -> list[tuple[str, str]]:
    """The (first, last) partition keys of the front_links_job runs a tick requested."""
    ranges = []
    for request in data.run_requests or []:
        if request.job_name != "front_links_job":
            continue
        if request.partition_key:
            ranges.append((request.partition_key, request.partition_key))
        else:
            ranges.append((request.tags[PARTITION_RANGE_START_TAG], request.tags[PARTITION_RANGE_END_TAG]))
    return sorted(ranges)


def project_requests(data) -> list[dg.RunRequest]:
    return [request for request in data.run_requests or [] if request.job_name == "project_links_job"]


def collapse(days: set[date]) -> list[tuple[str, str]]:
    """Consecutive days as (first, last) ISO ranges: the test's own version of the sensor's grouping."""
    ranges: list[list[date]] = []
    for day in sorted(days):
        if ranges and day - ranges[-1][1] == timedelta(days=1):
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [(first.isoformat(), last.isoformat()) for first, last in ranges]


def conversations_of_contact_methods(db: psycopg.Connection, contact_methods: set[UUID]) -> set[str]:
    """Ids of the Front conversations that reached any of these contact methods, computed in Python."""
    message_conversation = dict(db.execute("select id, front_conversation_id from public.front_messages").fetchall())
    recipients = db.execute(
        "select front_message_id, contact_method_id from public.front_message_recipients"
    ).fetchall()
    return {
        str(message_conversation[message])
        for message, contact_method in recipients
        if contact_method in contact_methods
    }


def named_conversations(data) -> dict[str, set[str]]:
    """For each Front link asset, the conversation ids the tick's runs are scoped to."""
    named: dict[str, set[str]] = {}
    for request in data.run_requests or []:
        for asset, op_config in (request.run_config or {}).get("ops", {}).items():
            named.setdefault(asset, set()).update(op_config["config"]["only_conversation_ids"])
    return named


def conversation_days_of_contact_methods(db: psycopg.Connection, contact_methods: set[UUID]) -> set[date]:
    """UTC days of the Front conversations that reached any of these contact methods; days before the
    partitions' start count as the first partition, which owns those conversations."""
    message_conversation = dict(db.execute("select id, front_conversation_id from public.front_messages").fetchall())
    created = dict(db.execute("select id, created_at from public.front_conversations").fetchall())
    days = set()
    for message, contact_method in db.execute(
        "select front_message_id, contact_method_id from public.front_message_recipients"
    ).fetchall():
        if contact_method in contact_methods:
            days.add(max(created[message_conversation[message]].date(), date(2024, 1, 1)))
    return days


def resolve_an_unresolved_contact_method(db: psycopg.Connection, source: SourceData) -> tuple[UUID, datetime]:
    """A late change: an unresolved participant is resolved to a person 10 minutes ago. Returns it and now."""
    contact_method = source.unresolved_contact_methods[0]
    now = db_now(db)
    db.execute(
        "update public.contact_methods set person_id = %s, updated_at = %s where id = %s",
        (source.people[1], now - timedelta(minutes=10), contact_method),
    )
    return contact_method, now


def execute_requests(definitions: dg.Definitions, data, instance: dg.DagsterInstance) -> None:
    for request in data.run_requests:
        job = definitions.resolve_job_def(request.job_name)
        if request.partition_key:
            result = job.execute_in_process(
                partition_key=request.partition_key, run_config=request.run_config, instance=instance
            )
        else:
            result = job.execute_in_process(tags=request.tags, run_config=request.run_config, instance=instance)
        assert result.success
        failed = [
            e
            for e in result.get_asset_check_evaluations()
            if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
        ]
        assert not failed, [(e.asset_key, e.check_name, e.metadata) for e in failed]


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


def test_a_new_recipient_requests_its_conversation_day_and_the_run_fixes_the_links(
    definitions, postgres, db, source, instance
):
    conversation = source.first_instant_of_jan_10
    linked = link_pairs(db, SCHEMA, "people_front_conversations")
    person = next(p for p in source.people if p != source.deleted_person and (p, conversation) not in linked)
    contact_method = next(cm for cm, owner in source.contact_methods.items() if owner == person)
    now = db_now(db)
    db.execute(
        "insert into public.front_message_recipients (front_message_id, contact_method_id, created_at, updated_at) "
        "select min(id::text)::uuid, %s, %s, %s from public.front_messages where front_conversation_id = %s",
        (contact_method, now - timedelta(minutes=30), now - timedelta(minutes=30), conversation),
    )

    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    assert requested_ranges(data) == [("2024-01-10", "2024-01-10")]
    assert project_requests(data) == []
    assert next_window_start(data) > now - timedelta(hours=1)

    execute_requests(definitions, data, instance)
    assert (person, conversation) in link_pairs(db, SCHEMA, "people_front_conversations")
    assert_links_exact(db)

    # Nothing changed since: the next tick, from the advanced cursor, requests nothing.
    again = evaluate(definitions, postgres, data.cursor, instance)
    assert not again.run_requests
    assert next_window_start(again) >= next_window_start(data)


def test_a_recipient_added_to_a_conversation_dated_after_today_requests_todays_partition(
    definitions, postgres, db, source, instance
):
    """The last partition (today's) owns the conversations dated after it: a recipient added now to a
    conversation a skewed clock dated next month asks for today's partition, whose run links it. (The
    conversation's own row, stamped next month, is a change the sensor sees then; the nightly reconcile,
    which reaches today's partition, links it before.)"""
    conversation = source.first_instant_of_jan_10
    linked = link_pairs(db, SCHEMA, "people_front_conversations")
    person = next(p for p in source.people if p != source.deleted_person and (p, conversation) not in linked)
    contact_method = next(cm for cm, owner in source.contact_methods.items() if owner == person)
    now = db_now(db)
    db.execute(
        "update public.front_conversations set created_at = %s where id = %s", (now + timedelta(days=40), conversation)
    )
    db.execute(
        "insert into public.front_message_recipients (front_message_id, contact_method_id, created_at, updated_at) "
        "select min(id::text)::uuid, %s, %s, %s from public.front_messages where front_conversation_id = %s",
        (contact_method, now - timedelta(minutes=30), now - timedelta(minutes=30), conversation),
    )

    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    today = daily_partitions.get_last_partition_key()
    assert requested_ranges(data) == [(today, today)]
    execute_requests(definitions, data, instance)
    assert (person, conversation) in link_pairs(db, SCHEMA, "people_front_conversations")
    assert_links_exact(db)


def test_a_resolved_contact_method_requests_exactly_its_conversations_days(definitions, postgres, db, source, instance):
    contact_method, now = resolve_an_unresolved_contact_method(db, source)
    expected_days = conversation_days_of_contact_methods(db, {contact_method})
    assert expected_days

    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    assert requested_ranges(data) == collapse(expected_days)
    execute_requests(definitions, data, instance)
    assert_links_exact(db)


def test_a_person_moved_to_another_client_requests_the_days_of_all_their_conversations(
    definitions, postgres, db, source, instance
):
    person = source.people[0]
    new_client = source.clients[1]
    now = db_now(db)
    db.execute(
        "update public.people set client_id = %s, updated_at = %s where id = %s",
        (new_client, now - timedelta(minutes=5), person),
    )
    contact_methods = {cm for cm, owner in source.contact_methods.items() if owner == person}
    expected_days = conversation_days_of_contact_methods(db, contact_methods)
    assert len(collapse(expected_days)) >= 1

    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    ranges = requested_ranges(data)
    assert ranges == collapse(expected_days)
    assert len(data.run_requests) == len(ranges)  # one run per range of days, not one per conversation
    execute_requests(definitions, data, instance)
    assert_links_exact(db)
    assert any(client == new_client for client, _ in link_pairs(db, SCHEMA, "clients_front_conversations"))


def test_changes_on_consecutive_days_collapse_into_one_range(definitions, postgres, db, source, instance):
    now = db_now(db)
    changed_at = now - timedelta(minutes=20)
    days = [date(2024, 1, 9), date(2024, 1, 10), date(2024, 1, 11), date(2024, 1, 13)]
    conversations = [
        next(cid for cid, created in source.front_conversations.items() if created.date() == day) for day in days
    ]
    db.execute("update public.front_conversations set updated_at = %s where id = any(%s)", (changed_at, conversations))
    # A conversation created before PARTITIONS_START_DATE belongs to the first partition, as in the assets.
    db.execute(
        "update public.front_messages set updated_at = %s where front_conversation_id = %s",
        (changed_at, source.before_partitions_start),
    )

    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    assert requested_ranges(data) == [
        ("2024-01-01", "2024-01-01"),
        ("2024-01-09", "2024-01-11"),
        ("2024-01-13", "2024-01-13"),
    ]
    range_request = next(r for r in data.run_requests if r.partition_key is None)
    assert range_request.tags[PARTITION_RANGE_START_TAG] == "2024-01-09"
    assert range_request.tags[PARTITION_RANGE_END_TAG] == "2024-01-11"
    # Run keys are deterministic from the window: its days and the tick's moment (the next window starts
    # LATE_COMMIT_ALLOWANCE before it).
    through = (next_window_start(data) + LATE_COMMIT_ALLOWANCE).astimezone(UTC).isoformat()
    assert range_request.run_key == f"late-changes:2024-01-09...2024-01-11:through:{through}"
    assert len({r.run_key for r in data.run_requests}) == len(data.run_requests)
    execute_requests(definitions, data, instance)
    assert_links_exact(db)


def named_project_conversations(request: dg.RunRequest) -> set[str] | None:
    """The conversations a project_links_job request names, or None for a whole-table run."""
    ops = (request.run_config or {}).get("ops")
    if not ops:
        return None
    assert set(ops) == {"project_conversations"}
    return set(ops["project_conversations"]["config"]["only_conversation_ids"])


def test_a_conversation_moved_to_another_project_requests_a_run_of_just_that_conversation(
    definitions, postgres, db, source, instance
):
    conversation = source.conversations_without_project[0]
    now = db_now(db)
    db.execute(
        "update public.conversations set project_id = %s, updated_at = %s where id = %s",
        (source.projects[1], now - timedelta(minutes=3), conversation),
    )
    before = project_link_rows(db, SCHEMA)

    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    assert requested_ranges(data) == []
    (request,) = project_requests(data)
    assert request.partition_key is None and PARTITION_RANGE_START_TAG not in request.tags
    assert named_project_conversations(request) == {str(conversation)}
    # Launched, and given the pool's slots, before the same tick's Front runs.
    assert request.tags[sensors.PRIORITY_TAG] == sensors.PROJECT_RUN_PRIORITY
    execute_requests(definitions, data, instance)
    after = project_link_rows(db, SCHEMA)
    assert after[conversation][1] == source.projects[1]
    assert {c: row for c, row in after.items() if c != conversation} == before
    assert_links_exact(db)


def test_a_project_whose_user_changed_requests_a_run_of_its_conversations(definitions, postgres, db, source, instance):
    now = db_now(db)
    project = source.projects[0]
    db.execute(
        "update public.projects set user_id = %s, updated_at = %s where id = %s",
        (source.users[2], now - timedelta(minutes=3), project),
    )
    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    (request,) = project_requests(data)
    assert named_project_conversations(request) == {
        str(conversation) for conversation, of_project in source.conversations.items() if of_project == project
    }
    execute_requests(definitions, data, instance)
    assert_links_exact(db)
    assert {row[3] for c, row in project_link_rows(db, SCHEMA).items() if row[1] == project} == {source.users[2]}


def test_a_project_change_too_large_to_name_reconciles_the_whole_table(
    definitions, postgres, db, source, instance, monkeypatch
):
    monkeypatch.setattr(sensors, "MAX_NAMED_CONVERSATIONS", 1)
    now = db_now(db)
    moved = source.conversations_without_project[:2]
    db.execute(
        "update public.conversations set project_id = %s, updated_at = %s where id = any(%s)",
        (source.projects[1], now - timedelta(minutes=3), moved),
    )
    # A link the table lost by hand: only a whole-table run puts it back.
    lost = next(c for c, project in source.conversations.items() if project == source.projects[0])
    db.execute("delete from public.project_conversations where conversation_id = %s", (lost,))

    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    (request,) = project_requests(data)
    assert named_project_conversations(request) is None
    execute_requests(definitions, data, instance)
    assert lost in project_link_rows(db, SCHEMA)
    assert_links_exact(db)


def test_a_project_change_before_the_table_was_ever_materialized_reconciles_the_whole_table(
    definitions, postgres, db, source
):
    fresh = dg.DagsterInstance.ephemeral()
    now = db_now(db)
    db.execute(
        "update public.conversations set project_id = %s, updated_at = %s where id = %s",
        (source.projects[1], now - timedelta(minutes=3), source.conversations_without_project[0]),
    )
    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), fresh)
    (request,) = project_requests(data)
    assert named_project_conversations(request) is None
    execute_requests(definitions, data, fresh)
    assert_links_exact(db)


def test_a_project_change_that_reaches_no_conversation_requests_no_run(definitions, postgres, db, source, instance):
    now = db_now(db)
    db.execute(
        "insert into public.projects (user_id, name, created_at, updated_at) values (%s, 'Empty', %s, %s)",
        (source.users[0], now - timedelta(minutes=3), now - timedelta(minutes=3)),
    )
    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    assert not data.run_requests and data.skip_message == "No source change since the last tick."


def stamp_conversation(db: psycopg.Connection, conversation, stamp) -> None:
    db.execute("update public.front_conversations set updated_at = %s where id = %s", (stamp, conversation))


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


def conversation_created_on(source: SourceData, day: date):
    return next(cid for cid, created in source.front_conversations.items() if created.date() == day)


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
    assert int(bucket) * sensors.CHANGE_BUCKET_SECONDS <= db_now(db).timestamp()
    # Another row stamped ahead changes that bucket: the next tick follows all of them again, that one included.
    stamp_conversation(db, conversation_created_on(source, date(2024, 1, 13)), now + timedelta(minutes=40))
    assert requested_ranges(evaluate(definitions, postgres, data.cursor, instance)) == [("2024-01-10", "2024-01-14")]


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
    assert sensors.read_cursor(old).fingerprints is None
    data = evaluate(definitions, postgres, old, instance)
    assert requested_ranges(data) == [("2024-01-10", "2024-01-10")]
    assert json.loads(data.cursor)["bucket_seconds"] == sensors.CHANGE_BUCKET_SECONDS


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


def not_started_run(instance: dg.DagsterInstance, job_name: str, number: int) -> dg.DagsterRun:
    """A run of `job_name` the sensor requested, not started yet."""
    run = dg.DagsterRun(
        job_name=job_name,
        run_id=f"{number:08d}-0000-0000-0000-" + "0" * 12,
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags={SENSOR_NAME_TAG: link_tables_late_changes_sensor.name},
    )
    instance.add_run(run)
    return run


def start(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    instance.handle_run_event(run.run_id, dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name=run.job_name))


def test_a_job_waits_while_its_previous_run_has_not_started_then_covers_every_change_since(
    definitions, postgres, db, source, instance
):
    """Runs never pile up in the queue: while a Front run the sensor requested has not started, its ticks request
    no Front run and keep the Front window; project changes are still requested meanwhile; the tick after the
    Front run started requests every Front change made meanwhile."""
    first = evaluate(definitions, postgres, None, instance)
    stamp_conversation(db, source.first_instant_of_jan_10, db_now(db))
    requested = evaluate(definitions, postgres, first.cursor, instance)
    assert requested_ranges(requested) == [("2024-01-10", "2024-01-10")]
    front_run = not_started_run(instance, "front_links_job", 0)
    jan_12 = conversation_created_on(source, date(2024, 1, 12))
    stamp_conversation(db, jan_12, db_now(db))
    moved = source.conversations_without_project[0]
    db.execute(
        "update public.conversations set project_id = %s, updated_at = now() where id = %s", (source.projects[1], moved)
    )

    waiting = evaluate(definitions, postgres, requested.cursor, instance)
    assert requested_ranges(waiting) == []
    (project,) = project_requests(waiting)
    assert named_project_conversations(project) == {str(moved)}
    held, was = sensors.read_cursor(waiting.cursor), sensors.read_cursor(requested.cursor)
    assert held.changes_after["front"] == was.changes_after["front"]
    assert held.fingerprints["front"] == was.fingerprints["front"]
    assert held.changes_after["project"] > was.changes_after["project"]

    # Both jobs waiting: the tick reads nothing and keeps the whole cursor.
    project_run = not_started_run(instance, "project_links_job", 1)
    both = evaluate(definitions, postgres, waiting.cursor, instance)
    assert not both.run_requests and both.cursor == waiting.cursor

    start(instance, front_run)
    start(instance, project_run)
    after = evaluate(definitions, postgres, both.cursor, instance)
    # The first change is followed again only when it shares its 2-second stamp bucket with the second: harmless.
    assert ("2024-01-12", "2024-01-12") in requested_ranges(after)


def test_a_cursor_with_one_bound_for_every_job_is_read_as_the_same_bound_for_each(definitions, postgres, db, instance):
    """The cursor before each job had its own bound: {changes_after: moment, fingerprints}."""
    moment = db_now(db) - timedelta(minutes=1)
    old = json.dumps({"changes_after": moment.isoformat(), "fingerprints": {"front": "0:0", "project": "0:0"}})
    assert sensors.read_cursor(old).changes_after == {"front": moment, "project": moment}
    data = evaluate(definitions, postgres, old, instance)
    assert set(sensors.read_cursor(data.cursor).changes_after) == {"front", "project"}


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


def test_a_run_the_queue_launched_holds_no_later_change(definitions, postgres, db, source, instance):
    """Only a run still in the run queue holds its job: once launched (STARTING, its process loading), the next
    tick's changes get a run of their own at once, not after that process's start and another tick."""
    first = evaluate(definitions, postgres, None, instance)
    stamp_conversation(db, source.first_instant_of_jan_10, db_now(db))
    requested = evaluate(definitions, postgres, first.cursor, instance)
    launched = not_started_run(instance, "front_links_job", 0)
    instance.handle_run_event(
        launched.run_id, dg.DagsterEvent(dg.DagsterEventType.RUN_STARTING.value, job_name=launched.job_name)
    )
    assert instance.get_run_by_id(launched.run_id).status == dg.DagsterRunStatus.STARTING
    stamp_conversation(db, conversation_created_on(source, date(2024, 1, 12)), db_now(db))

    data = evaluate(definitions, postgres, requested.cursor, instance)
    assert ("2024-01-12", "2024-01-12") in requested_ranges(data)


def test_default_status_and_interval(definitions):
    sensor = definitions.get_repository_def().get_sensor_def("link_tables_late_changes_sensor")
    # LATE_CHANGES_SENSOR_SECONDS (5 s) less SENSOR_LOOP_JITTER_SECONDS: a tick at every visit of the daemon's loop.
    assert sensor.minimum_interval_seconds == 4
    assert {job.name for job in sensor.jobs} == {"front_links_job", "project_links_job"}
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_a_late_change_names_exactly_its_conversations_so_the_run_recomputes_only_them(
    definitions, postgres, db, source, instance
):
    contact_method, now = resolve_an_unresolved_contact_method(db, source)
    expected = conversations_of_contact_methods(db, {contact_method})
    assert expected

    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    assert named_conversations(data) == {
        "people_front_conversations": expected,
        "clients_front_conversations": expected,
    }
    execute_requests(definitions, data, instance)
    assert_links_exact(db)


def test_a_change_too_large_to_name_recomputes_its_whole_days(definitions, postgres, db, source, instance, monkeypatch):
    monkeypatch.setattr(sensors, "MAX_NAMED_CONVERSATIONS", 0)
    _contact_method, now = resolve_an_unresolved_contact_method(db, source)
    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    assert data.run_requests and named_conversations(data) == {}
    execute_requests(definitions, data, instance)
    assert_links_exact(db)


def test_a_late_change_on_a_day_never_materialized_recomputes_the_whole_day(definitions, postgres, db, source):
    # An instance that never materialized 2024-01-10 (the tables were filled outside it): naming only
    # the changed conversations would leave the day's other links to chance while Dagster showed the
    # day as done, so the sensor asks for the whole day; once the day is whole, it names conversations.
    fresh = dg.DagsterInstance.ephemeral()
    contact_method, now = resolve_an_unresolved_contact_method(db, source)
    days = collapse(conversation_days_of_contact_methods(db, {contact_method}))

    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), fresh)
    assert requested_ranges(data) == days
    assert named_conversations(data) == {}
    execute_requests(definitions, data, fresh)
    assert_links_exact(db)

    db.execute(
        "update public.contact_methods set updated_at = now() - interval '5 minutes' where id = %s", (contact_method,)
    )
    again = evaluate(definitions, postgres, cursor_at(now - timedelta(minutes=8)), fresh)
    assert requested_ranges(again) == days
    assert named_conversations(again)["people_front_conversations"] == conversations_of_contact_methods(
        db, {contact_method}
    )
