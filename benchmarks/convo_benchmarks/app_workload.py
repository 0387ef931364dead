"""A real application workload beside the pipeline's runs, and a lock monitor: what the app waits for while runs go.

The pipelines run inside the application's own PostgreSQL while it serves users. `AppWorkload`
plays the application on its own connections (application_name `convo_app_workload`):
- a reader issues, every `interval` seconds, the reads an app issues: a person's and a client's
  newest conversations and a conversation's people through the Front link tables, a project's
  conversations through project_conversations, one conversation and one person by id;
- a person writer, every `interval` seconds, re-creates one person in a short transaction (a new
  person of the same client takes over the old one's contact methods, then the old one is deleted,
  which cascades to its links where the foreign keys exist), so there are always people to delete;
- a recipient writer, every `interval` seconds, adds one recipient (a contact method with a person)
  to one message.
Every statement is timed on the client (wall time, round trip included); a failure is counted by
SQLSTATE and never raised. A lock monitor on its own connection polls pg_locks and
pg_stat_activity every few milliseconds and records the lock modes the pipeline's backends
(application_name `convo_pipelines`) hold or await on the source tables (and, apart, on the link tables), and how long app
statements waited for a lock that a pipeline backend held or queued for (directly, or through
another waiter).

Tooling for the tests and `convo-pipelines bench`: the assets never import it.
"""

from __future__ import annotations

import multiprocessing
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection

import psycopg

from convo_benchmarks.sqlfiles import render_sql
from convo_pipelines.defs.links.tables import LINK_TABLES
from convo_pipelines.lib.db import APPLICATION_NAME as PIPELINE_APPLICATION_NAME
from convo_pipelines.lib.db import connect
from convo_pipelines.lib.source_tables import SOURCE_TABLES as LINKED_SOURCE_TABLES

APP_APPLICATION_NAME = "convo_app_workload"
MONITOR_APPLICATION_NAME = "convo_lock_monitor"
# The application's tables: the pipeline reads them and must never lock them against the app.
SOURCE_TABLES = (*LINKED_SOURCE_TABLES, "crews")
# The pipeline's own tables: its locks on them are recorded too (the app reads them), apart from the source tables'.
# Lock modes (as pg_locks names them) that block the app's reads or writes of a whole table.
EXCLUSIVE_LOCK_MODES = frozenset({"AccessExclusiveLock", "ExclusiveLock"})
# Lock modes that block the app's writes (not its reads): acceptable only for a moment.
WRITE_BLOCKING_LOCK_MODES = frozenset({"ShareLock", "ShareRowExclusiveLock"})
SAMPLE_SIZE = 200
SAMPLE_REFRESH_SECONDS = 30.0
MONITOR_INTERVAL = 0.005
# An app statement stuck behind a lock longer than this fails (57014) and is counted, instead of hanging the workload.
STATEMENT_TIMEOUT = "60s"
# How long the workload's process may take to connect and draw its samples.
STARTUP_SECONDS = 60.0
# How long stop() lets a worker finish the statement it is in before cancelling it.
STOP_GRACE_SECONDS = 120.0
# The SQLSTATE-less failure of a broken connection, as counted.
CONNECTION_LOST = "connection"


@dataclass(frozen=True)
class ReadKind:
    """One read the app issues: the statement kind's name, its SQL file, the table its random ids come from."""

    kind: str
    sql_file: str
    id_table: str


READS = (
    ReadKind("read_person_newest_conversations", "app_workload/select_person_newest_conversations.sql", "people"),
    ReadKind("read_conversation_people", "app_workload/select_conversation_people.sql", "front_conversations"),
    ReadKind("read_client_newest_conversations", "app_workload/select_client_newest_conversations.sql", "clients"),
    ReadKind("read_project_conversations", "app_workload/select_project_conversations.sql", "projects"),
    ReadKind("read_front_conversation", "app_workload/select_front_conversation.sql", "front_conversations"),
    ReadKind("read_person", "app_workload/select_person.sql", "people"),
)
WRITE_KINDS = ("insert_person", "delete_person", "commit_person", "insert_recipient")
SAMPLED_TABLES = ("people", "front_conversations", "clients", "projects", "front_messages")


# ---------------------------------------------------------------------------------------------
# What a workload reports


@dataclass(frozen=True)
class StatementFigures:
    """One statement kind: executions (failed ones included), client-side wall time, failures by SQLSTATE."""

    kind: str
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]


@dataclass(frozen=True)
class PipelineLock:
    """A lock mode the pipeline held and/or awaited on one table, and its longest stretch seen in each state.

    A stretch is measured between the first and the last poll that saw it, so it is a lower bound
    (a lock seen by one poll only reads 0 ms) off by at most one poll interval.
    """

    mode: str
    held: bool
    awaited: bool
    longest_held_ms: float
    longest_awaited_ms: float


@dataclass(frozen=True)
class AppLockWait:
    """An app statement seen waiting for a lock; `waited_ms` is the statement's age at the last sighting."""

    waited_ms: float
    awaited_relation: str | None
    awaited_mode: str | None
    caused_by_pipeline: bool
    query: str


@dataclass
class WorkloadReport:
    seconds: float
    interval: float
    statements: dict[str, StatementFigures]
    # {table: {mode: PipelineLock}}: the source tables watched, and the link tables
    pipeline_locks: dict[str, dict[str, PipelineLock]]
    longest_pipeline_wait: AppLockWait | None
    longest_app_wait: AppLockWait | None
    monitor_polls: int
    monitor_longest_gap_ms: float
    # {wait event or 'CPU': app backends seen running on it, summed over the monitor's polls}
    app_wait_samples: dict[str, int]
    # A worker (or the monitor) that stopped on an unexpected error: the figures are incomplete.
    worker_failures: list[str]

    @property
    def errors(self) -> dict[str, dict[str, int]]:
        """{statement kind: {SQLSTATE: failures}} for the kinds that failed at least once."""
        return {kind: dict(figures.errors) for kind, figures in self.statements.items() if figures.errors}

    @property
    def longest_statement_ms(self) -> float:
        return max((figures.max_ms for figures in self.statements.values()), default=0.0)

    @property
    def longest_pipeline_wait_ms(self) -> float:
        return self.longest_pipeline_wait.waited_ms if self.longest_pipeline_wait else 0.0

    def statement_count(self) -> int:
        return sum(figures.count for figures in self.statements.values())

    def pipeline_lock_modes(self) -> dict[str, set[str]]:
        """{table: every mode the pipeline held or awaited on it}, the link tables included."""
        return {table: set(modes) for table, modes in self.pipeline_locks.items()}

    def pipeline_locks_in(
        self, modes: Iterable[str], *, link_tables: bool = False
    ) -> dict[str, dict[str, PipelineLock]]:
        """The pipeline's locks of the given modes on the source tables (and the link tables if asked), by table."""
        wanted = set(modes)
        found = {
            table: {mode: lock for mode, lock in locks.items() if mode in wanted}
            for table, locks in self.pipeline_locks.items()
            if link_tables or table not in LINK_TABLES
        }
        return {table: locks for table, locks in found.items() if locks}

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["errors"] = self.errors
        data["longest_statement_ms"] = round(self.longest_statement_ms, 3)
        data["longest_pipeline_wait_ms"] = round(self.longest_pipeline_wait_ms, 3)
        data["pipeline_lock_modes"] = {table: sorted(modes) for table, modes in self.pipeline_lock_modes().items()}
        return data

    def summary(self) -> str:
        """A few lines for logs and test failures: the slowest statements, errors, locks, the longest wait."""
        slowest = sorted(self.statements.values(), key=lambda figures: figures.max_ms, reverse=True)[:4]
        lines = [
            f"app workload: {self.statement_count():,} statements in {self.seconds:.1f} s, "
            f"{self.monitor_polls:,} lock polls (longest gap {self.monitor_longest_gap_ms:.1f} ms)",
            "  slowest: " + ", ".join(f"{f.kind} max {f.max_ms:.1f} ms (p99 {f.p99_ms:.1f})" for f in slowest),
            f"  errors: {self.errors or 'none'}"
            + (f"; workers stopped: {self.worker_failures}" if self.worker_failures else ""),
            "  pipeline locks (source and link tables): "
            + (
                "; ".join(
                    f"{table} "
                    + ", ".join(
                        f"{mode}{'' if lock.held else ' (awaited only)'} {max(lock.longest_held_ms, lock.longest_awaited_ms):.0f} ms"
                        for mode, lock in sorted(locks.items())
                    )
                    for table, locks in sorted(self.pipeline_locks.items())
                )
                or "none seen"
            ),
            f"  longest app lock wait caused by the pipeline: {_describe_wait(self.longest_pipeline_wait)}",
            f"  longest app lock wait, any cause: {_describe_wait(self.longest_app_wait)}",
            f"  app statements running, sampled by the polls: {wait_shares(self.app_wait_samples) or 'none seen'}",
        ]
        return "\n".join(lines)


def wait_shares(samples: dict[str, int], top: int = 3) -> str:
    """The app's statements caught running, by what they waited on: the `top` shares ('' when none was caught)."""
    total = sum(samples.values())
    if not total:
        return ""
    return ", ".join(
        f"{event} {count / total:.0%}" for event, count in sorted(samples.items(), key=lambda item: -item[1])[:top]
    )


def _describe_wait(wait: AppLockWait | None) -> str:
    if wait is None:
        return "none seen"
    return f"{wait.waited_ms:.1f} ms for {wait.awaited_mode} on {wait.awaited_relation} ({wait.query[:100]!r})"


# ---------------------------------------------------------------------------------------------
# Recording


class StatementLog:
    """Thread-safe timings and failures per statement kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._milliseconds: dict[str, list[float]] = defaultdict(list)
        self._errors: dict[str, Counter] = defaultdict(Counter)

    def add(self, kind: str, milliseconds: float, sqlstate: str | None = None) -> None:
        with self._lock:
            self._milliseconds[kind].append(milliseconds)
            if sqlstate is not None:
                self._errors[kind][sqlstate] += 1

    def figures(self) -> dict[str, StatementFigures]:
        with self._lock:
            return {
                kind: StatementFigures(
                    kind=kind,
                    count=len(timings),
                    p50_ms=round(_percentile(timings, 50), 3),
                    p99_ms=round(_percentile(timings, 99), 3),
                    max_ms=round(max(timings), 3),
                    errors=dict(self._errors.get(kind, {})),
                )
                for kind, timings in self._milliseconds.items()
            }


def _percentile(values: list[float], rank: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[rank - 1]


class LockObservations:
    """What the monitor saw: stretches of pipeline locks per (table, mode, state), and app lock waits."""

    def __init__(self, relations: dict[int, str]) -> None:
        self._lock = threading.Lock()
        self._relations = relations
        # (pid, relation, mode, granted) -> [first seen, last seen] of the stretch going on
        self._open: dict[tuple, list[float]] = {}
        # (table, mode, granted) -> longest stretch in ms
        self._longest: dict[tuple[str, str, bool], float] = {}
        self.longest_pipeline_wait: AppLockWait | None = None
        self.longest_app_wait: AppLockWait | None = None
        self.polls = 0
        self.longest_gap_ms = 0.0
        self._last_poll: float | None = None
        self.app_wait_samples: Counter[str] = Counter()

    def observe(self, now: float, locks: list[tuple], waiters: list[tuple], app_waits: list[tuple]) -> None:
        with self._lock:
            self._observe_locks(now, locks)
            self._observe_waiters(waiters)
            for waiting_on, backends in app_waits:
                self.app_wait_samples[waiting_on] += backends
            if self._last_poll is not None:
                self.longest_gap_ms = max(self.longest_gap_ms, (now - self._last_poll) * 1000)
            self._last_poll = now
            self.polls += 1

    def _observe_locks(self, now: float, locks: list[tuple]) -> None:
        seen = {(pid, relation, mode, granted) for relation, mode, granted, pid in locks}
        for key in seen:
            self._open.setdefault(key, [now, now])[1] = now
        for key in [key for key in self._open if key not in seen]:
            self._close(key, self._open.pop(key))

    def _close(self, key: tuple, stretch: list[float]) -> None:
        _pid, relation, mode, granted = key
        grain = (self._relations[relation], mode, granted)
        self._longest[grain] = max(self._longest.get(grain, 0.0), (stretch[1] - stretch[0]) * 1000)

    def _observe_waiters(self, waiters: list[tuple]) -> None:
        blocked_by = {row[0]: (set(row[4] or ()), set(row[5] or ())) for row in waiters}
        for pid, application_name, _query_start, waited_ms, _blocking, _pipeline, relation, mode, query in waiters:
            if application_name != APP_APPLICATION_NAME or waited_ms is None:
                continue
            wait = AppLockWait(
                waited_ms=round(float(waited_ms), 3),
                awaited_relation=relation,
                awaited_mode=mode,
                caused_by_pipeline=_blocked_by_pipeline(pid, blocked_by),
                query=_without_comments(query or ""),
            )
            if self.longest_app_wait is None or wait.waited_ms > self.longest_app_wait.waited_ms:
                self.longest_app_wait = wait
            if wait.caused_by_pipeline and (
                self.longest_pipeline_wait is None or wait.waited_ms > self.longest_pipeline_wait.waited_ms
            ):
                self.longest_pipeline_wait = wait

    def pipeline_locks(self) -> dict[str, dict[str, PipelineLock]]:
        with self._lock:
            longest = dict(self._longest)
            for key, stretch in self._open.items():
                _pid, relation, mode, granted = key
                grain = (self._relations[relation], mode, granted)
                longest[grain] = max(longest.get(grain, 0.0), (stretch[1] - stretch[0]) * 1000)
        tables: dict[str, dict[str, PipelineLock]] = defaultdict(dict)
        for table, mode in sorted({(table, mode) for table, mode, _granted in longest}):
            held, awaited = (table, mode, True) in longest, (table, mode, False) in longest
            tables[table][mode] = PipelineLock(
                mode=mode,
                held=held,
                awaited=awaited,
                longest_held_ms=round(longest.get((table, mode, True), 0.0), 1),
                longest_awaited_ms=round(longest.get((table, mode, False), 0.0), 1),
            )
        return dict(tables)


def _without_comments(query: str) -> str:
    """The statement without its SQL file's header comment: what it does, in one line."""
    return " ".join(line.strip() for line in query.splitlines() if line.strip() and not line.lstrip().startswith("--"))


def _blocked_by_pipeline(pid: int, blocked_by: dict[int, tuple[set[int], set[int]]]) -> bool:
    """Whether a pipeline backend blocks `pid`, directly or through other waiters (a lock queue is a chain)."""
    pending, visited = [pid], set()
    while pending:
        current = pending.pop()
        if current in visited or current not in blocked_by:
            continue
        visited.add(current)
        blockers, pipeline_blockers = blocked_by[current]
        if pipeline_blockers:
            return True
        pending.extend(blockers)
    return False


# ---------------------------------------------------------------------------------------------
# The workload


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


class AppWorkload:
    """Context manager: `WorkloadThreads` in a child process, so the caller's work (a Dagster run in
    process, say) never delays the app's statements or the lock monitor's polls for the interpreter.

    with AppWorkload(url, "public", interval=0.05) as app:
        ... launch pipeline runs ...
    report = app.report()
    """

    def __init__(self, url: str, source_schema: str, **options: object) -> None:
        self.options = {"url": url, "source_schema": source_schema, **options}
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pipe: Connection | None = None
        self._report: WorkloadReport | None = None

    def __enter__(self) -> AppWorkload:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the child process; return once its workers and monitor are connected and running."""
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(
            target=_serve_workload, args=(child_end, self.options), name="app_workload", daemon=True
        )
        self._process.start()
        child_end.close()
        message, detail = self._receive(STARTUP_SECONDS, "start")
        if message != "started":
            self._process.join(timeout=10)
            raise RuntimeError(f"the app workload could not start: {detail}")

    def stop(self) -> None:
        """Stop the workers after their current statements and collect the report."""
        if self._process is None or self._report is not None:
            return
        self._pipe.send("stop")
        message, detail = self._receive(STOP_GRACE_SECONDS + 30, "stop")
        self._process.join(timeout=30)
        if message != "report":
            raise RuntimeError(f"the app workload ended without its report: {detail}")
        self._report = detail

    def report(self) -> WorkloadReport:
        """What the workload measured (after stop(), or the end of the with block)."""
        if self._report is None:
            raise RuntimeError("the app workload reports once it is stopped")
        return self._report

    def _receive(self, seconds: float, step: str) -> tuple[str, object]:
        if not self._pipe.poll(seconds):
            self._process.kill()
            raise RuntimeError(f"the app workload did not {step} within {seconds:.0f} s")
        try:
            return self._pipe.recv()
        except EOFError:
            return "ended", f"the workload process exited with code {self._process.exitcode}"


def _serve_workload(pipe: Connection, options: dict[str, object]) -> None:
    """The child process: start the threads, say so, run until told to stop (or the parent goes), send the report."""
    workload = WorkloadThreads(**options)
    try:
        workload.start()
    except Exception as exc:
        pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    pipe.send(("started", None))
    try:
        pipe.recv()
    except EOFError:
        pass  # the parent is gone: stop anyway
    workload.stop()
    try:
        pipe.send(("report", workload.report()))
    except (BrokenPipeError, OSError):
        pass


def measure_baseline(
    url: str, source_schema: str, seconds: float, *, interval: float = 0.05, **options: object
) -> WorkloadReport:
    """The same workload for `seconds` with no run going: what the app's statements cost on their own."""
    with AppWorkload(url, source_schema, interval=interval, **options) as workload:
        time.sleep(seconds)
    return workload.report()
