"""What each kind of late change reaches, evaluated for real: the partition days and project conversations a tick
requests, the conversations it names or leaves to a whole run, and that running the requested runs makes the
link tables exact again."""

from datetime import UTC, date, timedelta

from convo_pipelines.defs.links import late_change_runs, tick_changes
from convo_pipelines.defs.partitions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE
from convo_pipelines_tests.helpers import utc_day_ahead
from convo_pipelines_tests.late_change_ticks import (
    SCHEMA,
    collapse,
    conversation_days_of_contact_methods,
    conversations_of_contact_methods,
    cursor_at,
    db_now,
    evaluate,
    execute_requests,
    named_conversations,
    named_project_conversations,
    next_window_start,
    project_requests,
    requested_ranges,
    resolve_an_unresolved_contact_method,
)
from convo_pipelines_tests.source_data import assert_links_exact, link_pairs, project_link_rows


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
    today = utc_day_ahead(db).isoformat()  # the last partition for the whole test
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
    assert request.tags[late_change_runs.PRIORITY_TAG] == late_change_runs.PROJECT_RUN_PRIORITY
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


def test_a_project_change_that_reaches_no_conversation_requests_no_run(definitions, postgres, db, source, instance):
    now = db_now(db)
    db.execute(
        "insert into public.projects (user_id, name, created_at, updated_at) values (%s, 'Empty', %s, %s)",
        (source.users[0], now - timedelta(minutes=3), now - timedelta(minutes=3)),
    )
    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    assert not data.run_requests and data.skip_message == "No source change since the last tick."


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


def test_a_change_reaching_too_much_of_its_days_recomputes_the_whole_days(
    definitions, postgres, db, source, instance, monkeypatch
):
    monkeypatch.setattr(tick_changes, "MAX_NAMED_CONVERSATIONS", 0)
    # Named conversations cost more than their days' whole run: a range of this test's size never holds enough.
    monkeypatch.setattr(tick_changes, "WHOLE_RANGE_PER_NAMED_CONVERSATION", 1_000)
    _contact_method, now = resolve_an_unresolved_contact_method(db, source)
    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    assert data.run_requests and named_conversations(data) == {}
    execute_requests(definitions, data, instance)
    assert_links_exact(db)


def test_a_change_cheaper_to_name_than_its_days_goes_to_several_scoped_runs_of_a_bounded_size(
    definitions, postgres, db, source, instance, monkeypatch
):
    monkeypatch.setattr(tick_changes, "MAX_NAMED_CONVERSATIONS", 1)
    # Naming always costs less than the whole days here: each run names one conversation.
    monkeypatch.setattr(tick_changes, "WHOLE_RANGE_PER_NAMED_CONVERSATION", 0)
    person = source.people[0]
    now = db_now(db)
    db.execute(
        "update public.people set client_id = %s, updated_at = %s where id = %s",
        (source.clients[1], now - timedelta(minutes=5), person),
    )
    expected = conversations_of_contact_methods(
        db, {cm for cm, owner in source.contact_methods.items() if owner == person}
    )
    assert len(expected) >= 2

    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    scopes = [
        request.run_config["ops"]["people_front_conversations"]["config"]["only_conversation_ids"]
        for request in data.run_requests
    ]
    assert sorted(len(scope) for scope in scopes) == [1] * len(expected)
    assert named_conversations(data)["clients_front_conversations"] == expected
    assert len({request.run_key for request in data.run_requests}) == len(data.run_requests)
    execute_requests(definitions, data, instance)
    assert_links_exact(db)


def test_a_project_change_too_large_to_name_reconciles_the_whole_table(
    definitions, postgres, db, source, instance, monkeypatch
):
    monkeypatch.setattr(tick_changes, "MAX_NAMED_CONVERSATIONS", 1)
    monkeypatch.setattr(tick_changes, "WHOLE_TABLE_PER_NAMED_CONVERSATION", 1_000)
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


def test_a_project_change_cheaper_to_name_than_the_table_goes_to_several_scoped_runs(
    definitions, postgres, db, source, instance, monkeypatch
):
    monkeypatch.setattr(tick_changes, "MAX_NAMED_CONVERSATIONS", 1)
    monkeypatch.setattr(tick_changes, "WHOLE_TABLE_PER_NAMED_CONVERSATION", 0)
    db.execute("analyze public.conversations")
    now = db_now(db)
    moved = source.conversations_without_project[:2]
    db.execute(
        "update public.conversations set project_id = %s, updated_at = %s where id = any(%s)",
        (source.projects[1], now - timedelta(minutes=3), moved),
    )

    data = evaluate(definitions, postgres, cursor_at(now - timedelta(hours=1)), instance)
    requests = project_requests(data)
    assert sorted(named_project_conversations(request) for request in requests) == sorted(
        {str(conversation)} for conversation in moved
    )
    assert len({request.run_key for request in requests}) == 2
    execute_requests(definitions, data, instance)
    assert_links_exact(db)
