"""The application's reads and writes, and the lock monitor, as threads of one process, each on its own connection."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg

from convo_pipelines.defs.links.tables import LINK_TABLES
from convo_pipelines.lib.postgres.db import APPLICATION_NAME as PIPELINE_APPLICATION_NAME
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.source_tables import SOURCE_TABLES as LINKED_SOURCE_TABLES
from convo_pipelines_tests.app_sql import render_sql
from convo_pipelines_tests.app_workload_recording import (
    APP_APPLICATION_NAME,
    MONITOR_APPLICATION_NAME,
    LockObservations,
    StatementLog,
)
from convo_pipelines_tests.app_workload_report import WorkloadReport

# The application's tables: the pipeline reads them and must never lock them against the app.
SOURCE_TABLES = (*LINKED_SOURCE_TABLES, "crews")
SAMPLE_SIZE = 200
SAMPLE_REFRESH_SECONDS = 30.0
MONITOR_INTERVAL = 0.005
# An app statement stuck behind a lock longer than this fails (57014) and is counted, instead of hanging the workload.
STATEMENT_TIMEOUT = "60s"
# How long stop() lets a worker finish the statement it is in before cancelling it.
STOP_GRACE_SECONDS = 120.0
# The SQLSTATE-less failure of a broken connection, as counted.
CONNECTION_LOST = "connection"


@dataclass(frozen=True)
class ReadKind:
    """One read the app issues: the statement kind's name, its SQL file, the table its random ids come from, and
    whether it reads a link table (the reads the link tables exist for)."""

    kind: str
    sql_file: str
    id_table: str
    reads_link_table: bool


READS = (
    ReadKind("read_person_newest_conversations", "app_workload/select_person_newest_conversations.sql", "people", True),
    ReadKind("read_conversation_people", "app_workload/select_conversation_people.sql", "front_conversations", True),
    ReadKind(
        "read_client_newest_conversations", "app_workload/select_client_newest_conversations.sql", "clients", True
    ),
    ReadKind("read_project_conversations", "app_workload/select_project_conversations.sql", "projects", True),
    ReadKind("read_front_conversation", "app_workload/select_front_conversation.sql", "front_conversations", False),
    ReadKind("read_person", "app_workload/select_person.sql", "people", False),
)
LINK_TABLE_READS = tuple(read.kind for read in READS if read.reads_link_table)
WRITE_KINDS = ("insert_person", "delete_person", "commit_person", "insert_recipient")
SAMPLED_TABLES = ("people", "front_conversations", "clients", "projects", "front_messages")


class Samples:
    """Random existing ids per table, drawn once and refreshed now and then; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, list[object]] = {}
        self.drawn_at = 0.0

    def replace(self, ids: dict[str, list[object]]) -> None:
        with self._lock:
            self._ids.update(ids)
            self.drawn_at = time.monotonic()

    def pick(self, table: str) -> object | None:
        with self._lock:
            ids = self._ids.get(table)
            return random.choice(ids) if ids else None


class WorkloadThreads:
    """The app's reads and writes, and the lock monitor: threads of the current process, each on its own connection.

    `AppWorkload` runs them in a process of their own; use this class directly only where the
    caller's own threads never compete with them for the interpreter.
    """

    def __init__(
        self,
        url: str,
        source_schema: str,
        *,
        interval: float = 0.05,
        extra_tables: Iterable[str] = (),
        sample_size: int = SAMPLE_SIZE,
        statement_timeout: str = STATEMENT_TIMEOUT,
        monitor_interval: float = MONITOR_INTERVAL,
    ) -> None:
        self.url = url
        self.source_schema = source_schema
        self.interval = interval
        self.watched_tables = tuple(dict.fromkeys((*SOURCE_TABLES, *extra_tables, *LINK_TABLES)))
        self.sample_size = sample_size
        self.statement_timeout = statement_timeout
        self.monitor_interval = monitor_interval
        self.statements = StatementLog()
        self.samples = Samples()
        self.observations = LockObservations({})
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: dict[str, psycopg.Connection] = {}
        self._ready = threading.Semaphore(0)
        self._startup_failures: list[str] = []
        self._worker_failures: list[str] = []
        self._started_at = 0.0
        self._stopped_at: float | None = None

    # -- lifecycle

    def start(self) -> None:
        """Draw the samples, start the workers and the monitor, and return once each has its connection."""
        with self._connect(APP_APPLICATION_NAME) as conn:
            self._draw_samples(conn)
            rows = conn.execute(
                self._sql("app_workload/select_relations.sql"),
                {"schema": self.source_schema, "tables": list(self.watched_tables)},
            ).fetchall()
        relations = dict(rows)
        self.observations = LockObservations(relations)
        workers: list[tuple[str, str, Callable[[psycopg.Connection], None], bool]] = [
            ("reader", APP_APPLICATION_NAME, self._read_once, True),
            ("person_writer", APP_APPLICATION_NAME, self._person_writer(), False),
            ("recipient_writer", APP_APPLICATION_NAME, self._add_recipient, True),
            ("lock_monitor", MONITOR_APPLICATION_NAME, self._monitor(list(relations)), True),
        ]
        for name, application_name, tick, autocommit in workers:
            every = self.monitor_interval if name == "lock_monitor" else self.interval
            thread = threading.Thread(
                target=self._run,
                args=(name, application_name, tick, autocommit, every),
                name=f"app_workload_{name}",
                daemon=True,
            )
            self._threads.append(thread)
        self._started_at = time.monotonic()
        for thread in self._threads:
            thread.start()
        for _ in self._threads:
            if not self._ready.acquire(timeout=60):
                self.stop()
                raise RuntimeError("the app workload's connections did not open within 60 s")
        if self._startup_failures:
            self.stop()
            raise RuntimeError("the app workload could not start: " + "; ".join(self._startup_failures))

    def stop(self) -> None:
        """Stop every worker after its current statement (cancelled after STOP_GRACE_SECONDS)."""
        if self._stopped_at is not None:
            return
        self._stopping.set()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for thread in self._threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        for _name, conn in list(self._connections.items()):
            if not conn.closed:
                conn.cancel_safe()
        for thread in self._threads:
            thread.join(timeout=10)
        self._stopped_at = time.monotonic()

    def report(self) -> WorkloadReport:
        """Everything measured so far (the workload may still be running)."""
        end = self._stopped_at if self._stopped_at is not None else time.monotonic()
        return WorkloadReport(
            seconds=round(end - self._started_at, 3),
            interval=self.interval,
            statements=self.statements.figures(),
            pipeline_locks=self.observations.pipeline_locks(),
            longest_pipeline_wait=self.observations.longest_pipeline_wait,
            longest_app_wait=self.observations.longest_app_wait,
            monitor_polls=self.observations.polls,
            monitor_longest_gap_ms=round(self.observations.longest_gap_ms, 3),
            app_wait_samples=dict(self.observations.app_wait_samples),
            worker_failures=list(self._worker_failures),
        )

    # -- plumbing

    def _sql(self, name: str, **identifiers: str) -> psycopg.sql.Composed:
        return render_sql(name, source=self.source_schema, analytics=self.source_schema, **identifiers)

    def _connect(self, application_name: str, autocommit: bool = True) -> psycopg.Connection:
        conn = connect(self.url, autocommit=True, application_name=application_name)
        conn.execute(self._sql("app_workload/set_statement_timeout.sql"), {"timeout": self.statement_timeout})
        conn.autocommit = autocommit
        if application_name == MONITOR_APPLICATION_NAME:
            # Polled every few ms: planning the catalog joins each time would cost the server four times the work.
            conn.prepare_threshold = 0
        return conn

    def _run(
        self,
        name: str,
        application_name: str,
        tick: Callable[[psycopg.Connection], None],
        autocommit: bool,
        every: float,
    ) -> None:
        """One worker: its own connection, `tick` every `every` seconds until stopped; reconnects when the connection breaks."""
        try:
            conn = self._connect(application_name, autocommit)
        except psycopg.Error as exc:
            self._startup_failures.append(f"{name}: {exc}")
            self._ready.release()
            return
        self._connections[name] = conn
        self._ready.release()
        try:
            while not self._stopping.is_set():
                started = time.monotonic()
                try:
                    tick(conn)
                except psycopg.Error:
                    if conn.closed or conn.broken:
                        conn = self._reconnect(name, application_name, autocommit)
                        if conn is None:
                            return
                except Exception as exc:
                    self._worker_failures.append(f"{name}: {type(exc).__name__}: {exc}")
                    return
                self._stopping.wait(max(every - (time.monotonic() - started), 0.0))
        finally:
            conn.close()

    def _reconnect(self, name: str, application_name: str, autocommit: bool) -> psycopg.Connection | None:
        while not self._stopping.wait(0.5):
            try:
                conn = self._connect(application_name, autocommit)
            except psycopg.OperationalError:
                continue
            self._connections[name] = conn
            return conn
        return None

    def _execute(
        self, conn: psycopg.Connection, kind: str, statement: psycopg.sql.Composed, params: dict
    ) -> list[tuple]:
        """Run one statement and fetch its rows, timing it; a failure is counted (by SQLSTATE) and re-raised."""
        started = time.perf_counter()
        try:
            cursor = conn.execute(statement, params)
            rows = cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            self.statements.add(kind, (time.perf_counter() - started) * 1000, exc.sqlstate or CONNECTION_LOST)
            raise
        self.statements.add(kind, (time.perf_counter() - started) * 1000)
        return rows

    def _draw_samples(self, conn: psycopg.Connection) -> None:
        drawn = {table: self._sample_ids(conn, table) for table in SAMPLED_TABLES}
        statement = self._sql("app_workload/select_sample_resolved_contact_methods.sql")
        drawn["contact_methods"] = [
            row[0] for row in conn.execute(statement, {"samples": self.sample_size, "schema": self.source_schema})
        ]
        self.samples.replace(drawn)

    def _sample_ids(self, conn: psycopg.Connection, table: str) -> list[object]:
        statement = self._sql("app_workload/select_sample_ids.sql", table=table)
        params = {"samples": self.sample_size, "schema": self.source_schema, "table_name": table}
        return [row[0] for row in conn.execute(statement, params)]

    # -- the workers' ticks

    def _read_once(self, conn: psycopg.Connection) -> None:
        """Every read the app issues, once each, on random ids; samples refreshed every SAMPLE_REFRESH_SECONDS."""
        if time.monotonic() - self.samples.drawn_at > SAMPLE_REFRESH_SECONDS:
            try:
                self._draw_samples(conn)
            except psycopg.Error:
                self.samples.drawn_at = time.monotonic()  # keep the old samples; try again later
                if conn.broken:
                    raise
        for read in READS:
            entity_id = self.samples.pick(read.id_table)
            if entity_id is None:
                continue
            try:
                self._execute(conn, read.kind, self._sql(read.sql_file), {"id": entity_id})
            except psycopg.Error:
                # A link table missing before the first run, a timeout: counted by _execute; the next read goes on.
                if conn.broken:
                    raise

    def _person_writer(self) -> Callable[[psycopg.Connection], None]:
        """Re-create one person per tick, in one short transaction, drawn from a random sample of all people.

        Each sampled person is used once and the sample is drawn again when spent, so the deletes
        spread over every person (the re-created ones at their natural share), as an app's would.
        """
        pool: list[object] = []

        def replace_one_person(conn: psycopg.Connection) -> None:
            if not pool:
                pool.extend(self._sample_ids(conn, "people"))
                conn.commit()
                if not pool:
                    return
            person = pool.pop(random.randrange(len(pool)))
            try:
                self._execute(
                    conn,
                    "insert_person",
                    self._sql("app_workload/insert_person_taking_contact_methods.sql"),
                    {"id": person},
                )
                self._execute(conn, "delete_person", self._sql("app_workload/delete_person.sql"), {"id": person})
                self._commit(conn, "commit_person")
            except psycopg.Error:
                if not conn.broken:
                    conn.rollback()
                raise

        return replace_one_person

    def _commit(self, conn: psycopg.Connection, kind: str) -> None:
        started = time.perf_counter()
        try:
            conn.commit()
        except psycopg.Error as exc:
            self.statements.add(kind, (time.perf_counter() - started) * 1000, exc.sqlstate or CONNECTION_LOST)
            raise
        self.statements.add(kind, (time.perf_counter() - started) * 1000)

    def _add_recipient(self, conn: psycopg.Connection) -> None:
        message, contact_method = self.samples.pick("front_messages"), self.samples.pick("contact_methods")
        if message is None or contact_method is None:
            return
        self._execute(
            conn,
            "insert_recipient",
            self._sql("app_workload/insert_front_message_recipient.sql"),
            {"front_message_id": message, "contact_method_id": contact_method},
        )

    def _monitor(self, relations: list[int]) -> Callable[[psycopg.Connection], None]:
        locks_statement = self._sql("app_workload/select_relation_locks_of_application.sql")
        waiters_statement = self._sql("app_workload/select_lock_waiters.sql")
        app_waits_statement = self._sql("app_workload/select_app_wait_events.sql")
        app_waits_params = {"application_name": APP_APPLICATION_NAME}
        locks_params = {"relations": relations, "application_name": PIPELINE_APPLICATION_NAME}
        waiters_params = {"pipeline_application_name": PIPELINE_APPLICATION_NAME}

        def poll(conn: psycopg.Connection) -> None:
            now = time.monotonic()
            locks = conn.execute(locks_statement, locks_params).fetchall()
            waiters = conn.execute(waiters_statement, waiters_params).fetchall()
            app_waits = conn.execute(app_waits_statement, app_waits_params).fetchall()
            self.observations.observe(now, locks, waiters, app_waits)

        return poll
