"""The late-change sensor's runs against the Dagster instance, evaluated for real: whole runs where nothing was
materialized whole before, and a job held while its previous run is still in the run queue."""

from datetime import date, timedelta

import dagster as dg

from convo_pipelines.defs.automation import SENSOR_NAME_TAG
from convo_pipelines.defs.links import sensor_cursor
from convo_pipelines.defs.links.sensors import link_tables_late_changes_sensor
from convo_pipelines_tests.late_change_ticks import (
    collapse,
    conversation_created_on,
    conversation_days_of_contact_methods,
    conversations_of_contact_methods,
    cursor_at,
    db_now,
    evaluate,
    execute_requests,
    named_conversations,
    named_project_conversations,
    project_requests,
    requested_ranges,
    resolve_an_unresolved_contact_method,
    stamp_conversation,
)
from convo_pipelines_tests.source_data import assert_links_exact


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
    held, was = sensor_cursor.read_cursor(waiting.cursor), sensor_cursor.read_cursor(requested.cursor)
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
