"""The late-change sensor's ticks as its tests evaluate them: a tick on a real Dagster instance and database,
what it requested, the requested runs executed, and the late changes the tests make."""

import json
from datetime import date, datetime, timedelta
from uuid import UUID

import dagster as dg
import psycopg

from convo_pipelines.defs.links import change_fingerprints, sensor_cursor
from convo_pipelines.defs.links.sensors import link_tables_late_changes_sensor
from convo_pipelines.defs.partitions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines_tests.source_data import SourceData

SCHEMA = "public"


def db_now(db: psycopg.Connection) -> datetime:
    return db.execute("select now()").fetchone()[0]


def cursor_at(moment: datetime) -> str:
    return json.dumps({"changes_through": moment.isoformat()})


def next_window_start(data, job: str = change_fingerprints.FRONT_SOURCE) -> datetime:
    """The lower bound the tick left in its cursor for the next one of `job`'s windows."""
    return sensor_cursor.read_cursor(data.cursor).changes_after[job]


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


def named_project_conversations(request: dg.RunRequest) -> set[str] | None:
    """The conversations a project_links_job request names, or None for a whole-table run."""
    ops = (request.run_config or {}).get("ops")
    if not ops:
        return None
    assert set(ops) == {"project_conversations"}
    return set(ops["project_conversations"]["config"]["only_conversation_ids"])


def stamp_conversation(db: psycopg.Connection, conversation, stamp) -> None:
    db.execute("update public.front_conversations set updated_at = %s where id = %s", (stamp, conversation))


def conversation_created_on(source: SourceData, day: date):
    return next(cid for cid, created in source.front_conversations.items() if created.date() == day)
