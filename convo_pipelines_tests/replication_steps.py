"""The application a logical-replication consumer follows, and the pipeline's runs it must follow.

`Application` and STEPS: a seeded application database and the pipeline's runs a consumer must follow (first fill,
re-run, late change, nightly reconcile, a migration rolled back and applied again); `follow_every_step` runs them
and asks the consumer after each one whether it kept up.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from uuid import UUID

import dagster as dg
import psycopg
from psycopg import sql

from convo_pipelines.defs.links.sensors import link_tables_late_changes_sensor
from convo_pipelines.defs.partitions import partition_range_tags
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.migrations.runner import migrate, rollback_last
from convo_pipelines.lib.migrations.shipped import Migration
from convo_pipelines.lib.postgres.db import connect, count_rows
from convo_pipelines_tests.helpers import definitions_bound_to
from convo_pipelines_tests.histories_data import (
    HistoriesTableSpec,
    create_client,
    create_crew,
    create_histories_table,
    generated_rows,
    insert_messages,
    langchain,
)
from convo_pipelines_tests.postgres_clusters import ANALYTICS_SCHEMA, SOURCE_SCHEMA
from convo_pipelines_tests.source_data import (
    SOURCE_TABLES,
    SourceData,
    assert_links_exact,
    build_source_data,
    date_source_rows_at_baseline,
    link_pairs,
)

# The tables every consumer is asked about after each step.
LINK_TABLES = ("people_front_conversations", "clients_front_conversations", "project_conversations")
FRONT_RANGE = ("2024-01-01", "2024-01-20")
HISTORIES_START = date(2024, 1, 8)
# Past the last day of the generated chat sessions, some of which last up to 16 days.
HISTORIES_RANGE = ("2024-01-01", "2024-01-31")
# Two crews of the shapes the histories assets read (histories_data.py), none of the bad ones: a bad crew
# fails the histories checks, which every step here asserts pass.
CREWS = (
    ("acme_support", "acme", HistoriesTableSpec("acme_support_histories", "langchain", "uuid", "jsonb")),
    ("acme_sales", "acme", HistoriesTableSpec("n8n_chat_histories_sales", "n8n", "varchar(255)", "jsonb")),
)
# The nightly sync's tick after the source data's last day: its range (2024-01-01 to that day) holds every
# conversation, and the run does not grow with today's date.
NIGHTLY_TICK = datetime(2024, 1, 21, 2, 0, tzinfo=UTC)


@dataclass
class Application:
    """A seeded application database on the publisher, the project's definitions bound to it, and one
    Dagster instance for all its runs (the late-change sensor reads which partitions were materialized)."""

    url: str
    conn: psycopg.Connection
    definitions: dg.Definitions
    postgres: PostgresResource
    instance: dg.DagsterInstance
    source: SourceData
    histories_tables: list[str]

    @classmethod
    @contextmanager
    def seeded(cls, url: str) -> Iterator[Application]:
        """The link tables' source data and the crews' chat histories, every source row stamped in the past."""
        postgres = PostgresResource(database_url=url, source_schema=SOURCE_SCHEMA, analytics_schema=ANALYTICS_SCHEMA)
        with connect(url, autocommit=True) as conn, dg.DagsterInstance.ephemeral() as instance:
            source = build_source_data(conn, SOURCE_SCHEMA)
            histories_tables = seed_chat_histories(conn)
            date_source_rows_at_baseline(conn, SOURCE_SCHEMA)
            yield cls(url, conn, definitions_bound_to(postgres), postgres, instance, source, histories_tables)

    def app_tables(self) -> list[str]:
        """The application's own tables: the source tables and the crews' histories tables."""
        return [*SOURCE_TABLES, *self.histories_tables]

    def run_job(
        self,
        job_name: str,
        *,
        tags: dict[str, str] | None = None,
        partition_key: str | None = None,
        run_config: dict | None = None,
    ) -> None:
        """Execute a job in process as the daemon would launch it; fails on a failed step or a failed ERROR check."""
        job = self.definitions.resolve_job_def(job_name)
        result = job.execute_in_process(
            tags=tags, partition_key=partition_key, run_config=run_config, instance=self.instance
        )
        assert result.success
        failed = [
            e
            for e in result.get_asset_check_evaluations()
            if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
        ]
        assert not failed, [(e.asset_key, e.check_name, e.metadata) for e in failed]

    def now(self) -> datetime:
        return self.conn.execute("select now()").fetchone()[0]


def seed_chat_histories(conn: psycopg.Connection) -> list[str]:
    """The crews of CREWS with their histories tables and generated sessions; returns the tables' names."""
    tables = []
    for seed, (code, client, spec) in enumerate(CREWS, start=1):
        create_client(conn, client)
        create_histories_table(conn, spec)
        create_crew(conn, code, client, spec.name)
        insert_messages(conn, spec.name, generated_rows(spec.shape, HISTORIES_START, days=4, sessions=30, seed=seed))
        tables.append(spec.name)
    return tables


class Consumer(Protocol):
    """What follows the database by logical replication: told about migrations, asked whether it kept up."""

    def before_migration(self, migration: Migration, direction: str) -> None: ...

    def after_migration(self, migration: Migration, direction: str) -> None: ...

    def assert_follows(self, step: str) -> None: ...


class NoConsumer:
    """No publication, no subscriber: the runs alone."""

    def before_migration(self, migration: Migration, direction: str) -> None:
        pass

    def after_migration(self, migration: Migration, direction: str) -> None:
        pass

    def assert_follows(self, step: str) -> None:
        pass


def first_fill(app: Application, consumer: Consumer) -> None:
    """The first fill of the three link tables and the histories backfill over a range of partitions."""
    app.run_job("front_links_job", tags=partition_range_tags(*FRONT_RANGE))
    app.run_job("project_links_job")
    app.run_job("conversation_discovery_job", tags=partition_range_tags(*HISTORIES_RANGE))
    assert_links_exact(app.conn, SOURCE_SCHEMA)
    assert count_rows(app.conn, ANALYTICS_SCHEMA, "histories_sessions") > 0


def rerun(app: Application, consumer: Consumer) -> None:
    """The same runs again, on tables that are already exact."""
    first_fill(app, consumer)


def late_change(app: Application, consumer: Consumer) -> None:
    """A recipient the app adds to a conversation, linked by the late-change sensor's scoped run; a chat
    message the app adds to a past day, summarized by a run of that day's partition."""
    person, conversation = add_recipient_of_a_new_person(app)
    requests = run_the_late_change_sensor(app, since=app.now() - timedelta(hours=1))
    assert any(str(conversation) in json.dumps(request.run_config) for request in requests), (
        "no run scoped to the changed conversation"
    )
    assert (person, conversation) in link_pairs(app.conn, SOURCE_SCHEMA, "people_front_conversations")

    day = add_a_late_chat_message(app)
    app.run_job("conversation_discovery_job", partition_key=day.isoformat())
    assert_links_exact(app.conn, SOURCE_SCHEMA)


def run_the_late_change_sensor(app: Application, since: datetime) -> list[dg.RunRequest]:
    """One tick of the late-change sensor with its cursor at `since`, then the runs it requested, executed as the
    daemon would launch them; returns the requests (at least one)."""
    with dg.build_sensor_context(
        instance=app.instance,
        cursor=sensor_cursor_at(since),
        resources={"postgres": app.postgres},
        definitions=app.definitions,
    ) as context:
        tick = link_tables_late_changes_sensor.evaluate_tick(context)
    assert tick.run_requests, "the late-change sensor asked for no run"
    for request in tick.run_requests:
        app.run_job(
            request.job_name,
            tags=request.tags or None,
            partition_key=request.partition_key,
            run_config=request.run_config,
        )
    return list(tick.run_requests)


def add_recipient_of_a_new_person(app: Application) -> tuple[UUID, UUID]:
    """A recipient inserted 30 minutes ago that links a person not linked to the conversation yet."""
    conversation = app.source.first_instant_of_jan_10
    linked = link_pairs(app.conn, SOURCE_SCHEMA, "people_front_conversations")
    person = next(p for p in app.source.people if p != app.source.deleted_person and (p, conversation) not in linked)
    contact_method = next(cm for cm, owner in app.source.contact_methods.items() if owner == person)
    stamp = app.now() - timedelta(minutes=30)
    app.conn.execute(
        sql.SQL(
            "insert into {} (front_message_id, contact_method_id, created_at, updated_at) "
            "select min(id::text)::uuid, %s, %s, %s from {} where front_conversation_id = %s"
        ).format(
            sql.Identifier(SOURCE_SCHEMA, "front_message_recipients"), sql.Identifier(SOURCE_SCHEMA, "front_messages")
        ),
        (contact_method, stamp, stamp, conversation),
    )
    return person, conversation


def sensor_cursor_at(moment: datetime) -> str:
    return json.dumps({"changes_through": moment.isoformat()})


def add_a_late_chat_message(app: Application) -> date:
    """A human message of a new session on the second day of the chat histories; returns that day."""
    day = HISTORIES_START + timedelta(days=1)
    table = app.histories_tables[0]
    moment = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
    insert_messages(app.conn, table, [(str(uuid.uuid4()), moment, langchain("human", "a late question"))])
    return day


def nightly_reconcile(app: Application, consumer: Consumer) -> None:
    """Hard deletes and a moved conversation, which no sensor sees, made right by the runs the nightly sync
    schedules request."""
    unlink_a_conversation_by_hard_deletes(app)
    move_a_conversation_to_another_project(app)
    run_the_nightly_sync(app)
    assert_links_exact(app.conn, SOURCE_SCHEMA)


def run_the_nightly_sync(app: Application) -> None:
    """The runs the link tables' nightly sync schedules request at NIGHTLY_TICK, executed as the daemon would."""
    repository = app.definitions.get_repository_def()
    for schedule_name in ("front_link_tables_sync_schedule", "project_link_tables_sync_schedule"):
        schedule = repository.get_schedule_def(schedule_name)
        context = dg.build_schedule_context(scheduled_execution_time=NIGHTLY_TICK, repository_def=repository)
        requests = list(schedule.evaluate_tick(context).run_requests or [])
        assert len(requests) == 1, f"{schedule_name} asked for {len(requests)} runs"
        app.run_job(schedule.job_name, tags=requests[0].tags)


def unlink_a_conversation_by_hard_deletes(app: Application) -> None:
    """Delete every recipient of a linked conversation: its links must go, and only a full reconcile sees that."""
    conversation = app.source.last_instant_of_jan_9
    assert conversation in {c for _, c in link_pairs(app.conn, SOURCE_SCHEMA, "people_front_conversations")}
    app.conn.execute(
        sql.SQL("delete from {} where front_message_id in (select id from {} where front_conversation_id = %s)").format(
            sql.Identifier(SOURCE_SCHEMA, "front_message_recipients"), sql.Identifier(SOURCE_SCHEMA, "front_messages")
        ),
        (conversation,),
    )


def move_a_conversation_to_another_project(app: Application) -> None:
    conversation, project = next((c, p) for c, p in app.source.conversations.items() if p is not None)
    other = next(p for p in app.source.projects if p != project)
    app.conn.execute(
        sql.SQL("update {} set project_id = %s where id = %s").format(sql.Identifier(SOURCE_SCHEMA, "conversations")),
        (other, conversation),
    )


def migration_round_trip(app: Application, consumer: Consumer) -> None:
    """The newest migration rolled back and applied again, as `convo-pipelines migrate --rollback` then
    `convo-pipelines migrate` do; the consumer takes the same DDL in the order its replication needs."""
    with connect(app.url) as conn:
        undone = rollback_last(conn, SOURCE_SCHEMA, ANALYTICS_SCHEMA)
        assert undone is not None
        consumer.after_migration(undone, "down")
        consumer.assert_follows(f"rollback of migration {undone.label}")
        consumer.before_migration(undone, "up")
        assert migrate(conn, SOURCE_SCHEMA, ANALYTICS_SCHEMA) == [undone]
        consumer.after_migration(undone, "up")


STEPS: tuple[tuple[str, Callable[[Application, Consumer], None]], ...] = (
    ("first fill", first_fill),
    ("re-run", rerun),
    ("late change", late_change),
    ("nightly reconcile", nightly_reconcile),
    ("migration rolled back and applied again", migration_round_trip),
)


def follow_every_step(app: Application, consumer: Consumer) -> None:
    """Each step's runs, then the consumer asked whether it kept up."""
    consumer.assert_follows("the initial copy")
    for name, step in STEPS:
        step(app, consumer)
        consumer.assert_follows(name)
