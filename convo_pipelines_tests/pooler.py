"""A real pgbouncer in front of the test's database, and what a pooled server connection holds once its clients are gone.

Hosted PostgreSQL hands out pooled URLs: a pgbouncer that gives each transaction (pool_mode = transaction)
or each client (pool_mode = session) whichever server connection is free. What a client's session keeps
beyond its transaction (a session advisory lock, a SET, a temporary table) stays on the server connection:
in transaction mode for whichever client's transaction runs there next, even once the client is gone; in
session mode until the client disconnects (pgbouncer then runs DISCARD ALL). So the harness offers:

- `pooled_login`: a LOGIN role with a password, granted convo_pipelines_writer (what runs need) plus the
  writes the app makes, because the app and the pipeline then share one pool of server connections;
- `running_pgbouncer`: Debian's pgbouncer (the `pgbouncer` package), started in a folder of its own on
  a free localhost port, stopped on exit;
- `server_connection_pids` (pgbouncer's SHOW SERVERS) and `state_of_every_server_connection`: one open
  transaction per server connection of the pool, each reading its settings, temporary tables and prepared
  statements; `advisory_locks` on a direct connection;
- `ports_linked_to_a_server` (SHOW CLIENTS) and `ports_connected_to`: whether a server connection serves
  a given process now;
- `AppTraffic`: app-like transactions through the pooler that note every pipeline setting they met.
"""

from __future__ import annotations

import os
import pwd
import random
import secrets
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines_tests.ports import free_port, tcp_connections

PGBOUNCER_PACKAGE = "pgbouncer"
DEBIAN_PGBOUNCER = Path("/usr/sbin/pgbouncer")
WRITER_ROLE = "convo_pipelines_writer"
# What the app writes through the pooler besides what convo_pipelines_writer may read.
APP_WRITES = {"people": ("update",), "front_message_recipients": ("insert",)}
# The settings the pipeline changes (or once changed) for its statements, plus those an app relies on:
# on a pooled server connection each must be the server's own value once a transaction ends.
WATCHED_SETTINGS = (
    "jit",
    "backend_flush_after",
    "work_mem",
    "maintenance_work_mem",
    "lock_timeout",
    "statement_timeout",
    "enable_sort",
    "random_page_cost",
    "parallel_tuple_cost",
    "max_parallel_workers_per_gather",
    "max_parallel_maintenance_workers",
    "TimeZone",
    "search_path",
)
STARTUP_SECONDS = 15.0
STOP_SECONDS = 10.0


class PgbouncerMissing(RuntimeError):
    """pgbouncer is not installed: the pooled tests fail rather than skip."""


def pgbouncer_executable() -> str:
    """The pgbouncer binary (Debian's package puts it in /usr/sbin, often not on PATH)."""
    found = shutil.which("pgbouncer") or (str(DEBIAN_PGBOUNCER) if DEBIAN_PGBOUNCER.is_file() else None)
    if found is None:
        raise PgbouncerMissing(
            f"pgbouncer is not installed: install Debian's {PGBOUNCER_PACKAGE!r} package "
            f"(apt-get install -y {PGBOUNCER_PACKAGE}; .ci/run does it)"
        )
    return found


# ---------------------------------------------------------------------------------------------
# The login role the pooled clients use


@dataclass(frozen=True)
class PooledLogin:
    role: str
    password: str
    direct_url: str  # the test's database as this role, straight to the server


@contextmanager
def pooled_login(database_url: str) -> Iterator[PooledLogin]:
    """A LOGIN role with a password, granted convo_pipelines_writer and the app's writes (APP_WRITES) in
    this database; its grants and the role are dropped on exit (roles are cluster-wide)."""
    role, password = f"convo_pooled_{uuid.uuid4().hex[:12]}", secrets.token_hex(16)
    with psycopg.connect(psycopg_url(database_url), autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(role), sql.Literal(password)))
        try:
            admin.execute(sql.SQL("grant {} to {}").format(sql.Identifier(WRITER_ROLE), sql.Identifier(role)))
            for table, privileges in APP_WRITES.items():
                admin.execute(
                    sql.SQL("grant {} on {} to {}").format(
                        sql.SQL(", ").join(map(sql.SQL, privileges)),
                        sql.Identifier("public", table),
                        sql.Identifier(role),
                    )
                )
            yield PooledLogin(role, password, url_with_login(database_url, role, password))
        finally:
            # The grants first: a role that still holds privileges cannot be dropped.
            admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def url_with_login(url: str, role: str, password: str) -> str:
    """The same server and database as `url`, logged in as `role`."""
    params = conninfo_to_dict(psycopg_url(url))
    params.update(user=role, password=password)
    return make_conninfo(**params)


# ---------------------------------------------------------------------------------------------
# pgbouncer


@dataclass
class Pgbouncer:
    """A running pgbouncer; `url` is the pooled URL of the test's database for the login role."""

    process: subprocess.Popen
    folder: Path
    port: int
    database: str
    login: PooledLogin

    @property
    def url(self) -> str:
        return self._url_of(self.database)

    @property
    def admin_url(self) -> str:
        """pgbouncer's own admin console (SHOW CLIENTS, SHOW SERVERS), which the login role may use."""
        return self._url_of("pgbouncer")

    def _url_of(self, database: str) -> str:
        return f"postgresql://{self.login.role}:{quote(self.login.password, safe='')}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        log = self.folder / "pgbouncer.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def stop(self) -> None:
        """SIGINT would wait for every client; SIGTERM closes them and the server connections at once."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def running_pgbouncer(
    database_url: str,
    login: PooledLogin,
    folder: Path,
    *,
    pool_mode: str,
    pool_size: int,
    extra_settings: dict[str, str] | None = None,
) -> Iterator[Pgbouncer]:
    """pgbouncer in front of `database_url`'s database on a free localhost port, `pool_size` server
    connections for the login role, SCRAM for clients; stopped on exit."""
    executable = pgbouncer_executable()
    folder.mkdir(parents=True, exist_ok=True)
    upstream = conninfo_to_dict(psycopg_url(database_url))
    database = upstream["dbname"]
    port = free_port()
    (folder / "userlist.txt").write_text(f'"{login.role}" "{login.password}"\n')
    settings = {"admin_users": login.role, **(extra_settings or {})}
    (folder / "pgbouncer.ini").write_text(pgbouncer_ini(upstream, port, pool_mode, pool_size, settings))
    command = [executable, str(folder / "pgbouncer.ini")]
    run_as = user_to_run_pgbouncer_as(upstream.get("host", ""))
    if run_as is not None:
        # Its log and pidfile are written as that user.
        shutil.chown(folder, run_as)
        for path in folder.iterdir():
            shutil.chown(path, run_as)
        command[1:1] = ["-u", run_as]
    with (folder / "stdout.log").open("w") as output:
        process = subprocess.Popen(command, cwd=folder, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    bouncer = Pgbouncer(process, folder, port, database, login)
    try:
        wait_until_it_serves(bouncer)
        yield bouncer
    finally:
        bouncer.stop()


def pgbouncer_ini(
    upstream: dict[str, str], port: int, pool_mode: str, pool_size: int, overrides: dict[str, str]
) -> str:
    """The whole configuration: one database, localhost only, no unix socket of its own."""
    server = " ".join(f"{key}={upstream[key]}" for key in ("host", "port") if upstream.get(key))
    settings = {
        "listen_addr": "127.0.0.1",
        "listen_port": str(port),
        "unix_socket_dir": "",
        "auth_type": "scram-sha-256",
        "auth_file": "userlist.txt",
        "pool_mode": pool_mode,
        "default_pool_size": str(pool_size),
        # No spare connections beyond the pool: the test counts the server connections it inspects.
        "min_pool_size": "0",
        "reserve_pool_size": "0",
        # Hand out the idle server connections in turn rather than the last one used first, so a client's
        # consecutive transactions land on different server connections, as they do under load.
        "server_round_robin": "1",
        "max_client_conn": "200",
        "logfile": "pgbouncer.log",
        "pidfile": "pgbouncer.pid",
        **overrides,
    }
    lines = ["[databases]", f"{upstream['dbname']} = {server} dbname={upstream['dbname']}", "", "[pgbouncer]"]
    lines += [f"{key} = {value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def user_to_run_pgbouncer_as(server_host: str) -> str | None:
    """pgbouncer refuses to run as root. Through a unix socket it runs as the owner of the socket's
    folder (the embedded server's folder is private to the user it runs as), otherwise as nobody."""
    if os.geteuid() != 0:
        return None
    if server_host.startswith("/"):
        return pwd.getpwuid(os.stat(server_host).st_uid).pw_name
    return "nobody"


def wait_until_it_serves(bouncer: Pgbouncer) -> None:
    """Return once a client gets an answer through it; raise with its log if it exited or never did."""
    deadline = time.monotonic() + STARTUP_SECONDS
    failure = "no attempt"
    while time.monotonic() < deadline:
        if bouncer.process.poll() is not None:
            break
        try:
            with psycopg.connect(bouncer.url, connect_timeout=2, prepare_threshold=None, autocommit=True) as conn:
                conn.execute("select 1")
            return
        except psycopg.OperationalError as exc:
            failure = str(exc)
            time.sleep(0.1)
    output = (bouncer.folder / "stdout.log").read_text(errors="replace")
    raise RuntimeError(
        f"pgbouncer did not serve within {STARTUP_SECONDS:.0f} s ({failure}):\n{output[-2000:]}\n{bouncer.log()[-3000:]}"
    )


# ---------------------------------------------------------------------------------------------
# pgbouncer's admin console


def admin_rows(cursor: psycopg.Cursor) -> list[dict[str, object]]:
    """The rows of an admin console SHOW as {column: value}."""
    columns = [column.name for column in cursor.description]
    return [dict(zip(columns, row, strict=False)) for row in cursor.fetchall()]


def ports_linked_to_a_server(admin: psycopg.Connection, database: str) -> set[int]:
    """The client ports (as pgbouncer sees them) of the clients of `database` a server connection serves now:
    in transaction mode, those inside a transaction; in session mode, every connected one."""
    # The admin console takes only the simple query protocol: psycopg uses it for a statement without parameters.
    clients = admin_rows(admin.execute("show clients"))
    return {int(client["port"]) for client in clients if client["database"] == database and client["link"]}


def server_connection_pids(bouncer: Pgbouncer) -> set[int]:
    """The backends of the pool's server connections, as pgbouncer lists them (a backend whose server
    connection pgbouncer closed may still be finishing its statement: it is no longer the pool's)."""
    with psycopg.connect(bouncer.admin_url, autocommit=True, prepare_threshold=None) as admin:
        servers = admin_rows(admin.execute("show servers"))
    return {int(server["remote_pid"]) for server in servers if server["database"] == bouncer.database}


def ports_connected_to(pid: int, port: int) -> set[int]:
    """The local ports of process `pid`'s TCP connections to localhost:`port`."""
    try:
        connections = tcp_connections(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return set()
    return {connection.laddr.port for connection in connections if connection.raddr and connection.raddr.port == port}


# ---------------------------------------------------------------------------------------------
# What the server connections hold


@dataclass(frozen=True)
class ServerState:
    """What one server connection holds, read inside a transaction a pooled client runs on it."""

    pid: int
    settings: dict[str, str]
    temporary_tables: int
    prepared_statements: int


def server_state_query() -> sql.Composed:
    settings = sql.SQL(", ").join(sql.SQL("current_setting({})").format(sql.Literal(name)) for name in WATCHED_SETTINGS)
    return sql.SQL(
        "select pg_backend_pid(), {}, "
        "(select count(*) from pg_catalog.pg_class where relnamespace = pg_my_temp_schema()), "
        "(select count(*) from pg_catalog.pg_prepared_statements)"
    ).format(settings)


def read_server_state(conn: psycopg.Connection) -> ServerState:
    row = conn.execute(server_state_query()).fetchone()
    return ServerState(row[0], dict(zip(WATCHED_SETTINGS, row[1:-2], strict=False)), row[-2], row[-1])


def server_defaults(direct_url: str) -> dict[str, str]:
    """The watched settings of a new session of the login role, straight to the server: what every
    pooled server connection must show between its clients' transactions."""
    with psycopg.connect(direct_url, autocommit=True) as conn:
        return read_server_state(conn).settings


def state_of_every_server_connection(pooled_url: str, server_connections: int) -> list[ServerState]:
    """Read the state of `server_connections` server connections through the pooler: each client keeps its
    transaction open while the next one starts, so each lands on a server connection no other client holds."""
    clients: list[psycopg.Connection] = []
    states: list[ServerState] = []
    try:
        for _ in range(server_connections):
            client = psycopg.connect(pooled_url, prepare_threshold=None, connect_timeout=10)
            clients.append(client)
            states.append(read_server_state(client))
    finally:
        for client in clients:
            client.close()
    return states


@dataclass(frozen=True)
class AdvisoryLock:
    pid: int
    classid: int
    objid: int
    mode: str
    granted: bool
    application_name: str


def advisory_locks(direct: psycopg.Connection) -> list[AdvisoryLock]:
    """Every advisory lock held or awaited in this database, whoever holds it."""
    rows = direct.execute(
        """
        select l.pid, l.classid::bigint, l.objid::bigint, l.mode, l.granted, coalesce(a.application_name, '')
        from pg_catalog.pg_locks as l
        left join pg_catalog.pg_stat_activity as a on a.pid = l.pid
        where l.locktype = 'advisory' and l.database = (select oid from pg_catalog.pg_database where datname = current_database())
        """
    ).fetchall()
    return [AdvisoryLock(*row) for row in rows]


# ---------------------------------------------------------------------------------------------
# The app beside the runs


@dataclass
class AppReport:
    transactions: int = 0
    errors: Counter = field(default_factory=Counter)  # first line of each error
    # (setting, value) pairs other than the server's that the app's transactions ran with, and how often.
    foreign_settings: Counter = field(default_factory=Counter)
    temporary_tables_seen: int = 0


class AppTraffic:
    """The app through the same pooler as the pipeline (one client connection, a transaction every
    `interval` seconds): reads a person's links, adds a recipient, updates a person, and notes the
    watched settings and temporary tables its transaction found on the server connection it was given.

    with AppTraffic(pooled_url, defaults, people, messages, contact_methods) as app:
        ... runs ...
    app.report
    """

    def __init__(
        self,
        pooled_url: str,
        defaults: dict[str, str],
        people: list,
        messages: list,
        contact_methods: list,
        interval: float = 0.05,
    ) -> None:
        self.pooled_url, self.defaults, self.interval = pooled_url, defaults, interval
        self.people, self.messages, self.contact_methods = people, messages, contact_methods
        self.report = AppReport()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="app_traffic", daemon=True)

    def __enter__(self) -> AppTraffic:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=60)

    def run_on_until(self, transactions: int, timeout: float) -> None:
        """Go on until the app has run `transactions` transactions in all (at most `timeout` seconds): runs that
        end sooner than that leave the app meeting the server connections they used."""
        deadline = time.monotonic() + timeout
        while self.report.transactions < transactions and time.monotonic() < deadline:
            time.sleep(self.interval)

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        while not self._stopping.wait(self.interval):
            try:
                # An app behind a transaction pooler prepares nothing: the next transaction may run elsewhere.
                conn = (
                    conn
                    if conn is not None and not conn.closed
                    else psycopg.connect(self.pooled_url, prepare_threshold=None)
                )
                self._one_transaction(conn)
                self.report.transactions += 1
            except psycopg.Error as exc:
                self.report.errors[
                    f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                ] += 1
                if conn is not None and not conn.closed:
                    with suppress(psycopg.Error):
                        conn.rollback()
                    if conn.broken:
                        conn.close()
        if conn is not None:
            conn.close()

    def _one_transaction(self, conn: psycopg.Connection) -> None:
        with conn.transaction():
            state = read_server_state(conn)
            for name, value in state.settings.items():
                if value != self.defaults[name]:
                    self.report.foreign_settings[(name, value)] += 1
            self.report.temporary_tables_seen += state.temporary_tables
            person = random.choice(self.people)
            conn.execute(
                "select front_conversation_id from public.people_front_conversations where person_id = %s "
                "order by front_conversation_id desc limit 50",
                (person,),
            ).fetchall()
            conn.execute(
                "insert into public.front_message_recipients (front_message_id, contact_method_id, role) values (%s, %s, 'cc')",
                (random.choice(self.messages), random.choice(self.contact_methods)),
            )
            conn.execute("update public.people set updated_at = now() where id = %s", (person,))


def kill_process_group(process: subprocess.Popen) -> None:
    """SIGKILL a process started with start_new_session=True and everything it started."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
