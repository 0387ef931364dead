"""`convo-pipelines dev`: the database, Dagster's storage and `dagster dev`, started together and stopped together.

Without DATABASE_URL it runs on the embedded PostgreSQL under CONVO_HOME (app data in database
"convo", Dagster's storage in "dagster") and seeds a demo on first start. With DATABASE_URL it uses
that server, migrates the tables the project owns, and seeds nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from convo_pipelines.db import (
    ConfigError,
    connect,
    count_rows,
    dagster_storage_url,
    ensure_database,
    redact_url,
    start_embedded_postgres,
    validate_database_url,
    with_database,
)
from convo_pipelines.migrations import migrate
from convo_pipelines.seed import SOURCE_TABLES, prepare_source, seed_demo, tables_with_rows
from convo_pipelines.settings import Settings

APP_DATABASE = "convo"
EMBEDDED_STORAGE_DATABASE = "dagster"
EXTERNAL_STORAGE_DATABASE = "convo_dagster"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
# dagster dev itself waits up to 60 s for its webserver and daemon; give it that, then kill.
SHUTDOWN_GRACE_SECONDS = 75
LEFTOVER_GRACE_SECONDS = 10
PROJECT_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"

Say = Callable[[str], None]


@dataclass(frozen=True)
class DevOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    demo_conversations: int = 5_000
    demo_messages: int = 20_000
    demo_days: int = 30
    demo_seed: int = 1


def webserver_address(environ: Mapping[str, str], host: str | None, port: int | None) -> tuple[str, int]:
    """Host and port from the flags, else DAGSTER_WEBSERVER_HOST / DAGSTER_WEBSERVER_PORT, else 127.0.0.1:3000."""
    host = host or environ.get("DAGSTER_WEBSERVER_HOST", "").strip() or DEFAULT_HOST
    if port is None:
        raw = environ.get("DAGSTER_WEBSERVER_PORT", "").strip() or str(DEFAULT_PORT)
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise ConfigError(f"DAGSTER_WEBSERVER_PORT={raw!r} is not a port: expected a number from 1 to 65535")
        port = int(raw)
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port} is not a port: expected a number from 1 to 65535")
    return host, port


# ---------------------------------------------------------------- embedded PostgreSQL


def embedded_pgdata(convo_home: Path) -> Path:
    return convo_home / "pgdata"


def embedded_is_running(convo_home: Path) -> bool:
    """Whether the embedded server under CONVO_HOME is up (its postmaster.pid names a live process)."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(embedded_pgdata(convo_home))
    return info is not None and info.is_running()


def stop_embedded_postgres(convo_home: Path) -> None:
    """Stop the embedded server with pg_ctl (fast mode: open sessions are ended, data is safe)."""
    # pgserver stops its server only when the last handle of a cleanup-mode server closes; the
    # server here outlives processes on purpose, so it is stopped with pgserver's pg_ctl directly.
    from pgserver._commands import pg_ctl

    if not embedded_is_running(convo_home):
        return
    system_user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs the server as this user under root
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=embedded_pgdata(convo_home), user=system_user)


@contextmanager
def app_database(settings: Settings, say: Say = print) -> Iterator[str]:
    """The URL of the application database: DATABASE_URL, or the embedded server (stopped after if this started it)."""
    if settings.database_url:
        yield settings.database_url
        return
    started_here = not embedded_is_running(settings.convo_home)
    url = start_embedded_postgres(settings.convo_home, database=APP_DATABASE)
    if started_here:
        say(f"started the embedded PostgreSQL in {embedded_pgdata(settings.convo_home)}")
    else:
        say(f"using the embedded PostgreSQL already running in {embedded_pgdata(settings.convo_home)} (left running)")
    try:
        yield url
    finally:
        if started_here:
            stop_embedded_postgres(settings.convo_home)
            say("stopped the embedded PostgreSQL")


# ---------------------------------------------------------------- databases


def missing_source_tables(conn: psycopg.Connection, source_schema: str) -> list[str]:
    query = "select to_regclass(%s) is null"
    return [
        f"{source_schema}.{table}"
        for table in SOURCE_TABLES
        if conn.execute(query, (sql.Identifier(source_schema, table).as_string(conn),)).fetchone()[0]
    ]


def require_source_tables(conn: psycopg.Connection, settings: Settings, url: str) -> None:
    """Fail with one line when the application's tables are not there: the project never creates them on a real database."""
    missing = missing_source_tables(conn, settings.source_schema)
    if missing:
        raise ConfigError(
            f"DATABASE_URL={redact_url(url)!r} lacks the source tables {', '.join(missing)}: they belong to the "
            "application (SOURCE_SCHEMA names their schema); for a demo database run `convo-pipelines seed-demo` first"
        )


def external_storage_url(app_url: str, environ: Mapping[str, str]) -> str:
    """Dagster's storage next to DATABASE_URL: DAGSTER_STORAGE_URL, else database convo_dagster on the same server."""
    explicit = environ.get("DAGSTER_STORAGE_URL", "").strip()
    if explicit:
        validate_database_url(explicit, variable="DAGSTER_STORAGE_URL")
        return dagster_storage_url(explicit)
    try:
        ensure_database(app_url, EXTERNAL_STORAGE_DATABASE)
    except psycopg.errors.InsufficientPrivilege:
        raise ConfigError(
            f"cannot create database {EXTERNAL_STORAGE_DATABASE} for Dagster's storage on the DATABASE_URL server "
            "(permission denied): create it, or set DAGSTER_STORAGE_URL to a PostgreSQL database Dagster may use"
        ) from None
    return dagster_storage_url(with_database(app_url, EXTERNAL_STORAGE_DATABASE))


def prepare_external(settings: Settings, url: str, say: Say) -> None:
    with connect(url) as conn:
        require_source_tables(conn, settings, url)
        for migration in migrate(conn, settings.source_schema, settings.analytics_schema):
            say(f"applied migration {migration.version:04d}_{migration.name}")


def prepare_embedded(settings: Settings, url: str, options: DevOptions, say: Say) -> None:
    """Create the demo tables and migrate; seed the demo only when the tables are empty (the first start)."""
    with connect(url) as conn:
        for name in prepare_source(conn, settings.source_schema, settings.analytics_schema):
            say(f"applied migration {name}")
        if tables_with_rows(conn, settings.source_schema):
            count = count_rows(conn, settings.source_schema, "front_conversations")
            say(f"reusing the existing demo data: {count:,} front conversations")
            return
        say(f"first start: seeding a demo of {options.demo_conversations:,} conversations")
        seed_demo(
            conn,
            source_schema=settings.source_schema,
            analytics_schema=settings.analytics_schema,
            conversations=options.demo_conversations,
            days=options.demo_days,
            seed=options.demo_seed,
            messages=options.demo_messages,
            report=say,
        )


def prepare_dagster_home(convo_home: Path) -> Path:
    """CONVO_HOME/dagster_home holding the project's dagster.yaml (refreshed on every start)."""
    if not PROJECT_DAGSTER_YAML.is_file():
        raise ConfigError(f"{PROJECT_DAGSTER_YAML} is missing: run `convo-pipelines dev` from an editable install of the project")
    home = convo_home / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_DAGSTER_YAML, home / "dagster.yaml")
    return home


def dev_environment(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """DATABASE_URL, DAGSTER_HOME and DAGSTER_STORAGE_URL of the instance `dev` runs (which must be up in embedded mode)."""
    if settings.database_url:
        explicit = environ.get("DAGSTER_STORAGE_URL", "").strip()
        if explicit:
            validate_database_url(explicit, variable="DAGSTER_STORAGE_URL")
        storage = dagster_storage_url(explicit or with_database(settings.database_url, EXTERNAL_STORAGE_DATABASE))
        app_url = settings.database_url
    else:
        if not embedded_is_running(settings.convo_home):
            raise ConfigError(f"the embedded PostgreSQL under CONVO_HOME={settings.convo_home} is not running: start `make dev` first")
        app_url = start_embedded_postgres(settings.convo_home, database=APP_DATABASE)
        storage = dagster_storage_url(with_database(app_url, EMBEDDED_STORAGE_DATABASE))
    return {
        "DATABASE_URL": app_url,
        "DAGSTER_HOME": str(prepare_dagster_home(settings.convo_home)),
        "DAGSTER_STORAGE_URL": storage,
        "CONVO_HOME": str(settings.convo_home),
    }


# ---------------------------------------------------------------- dagster dev


def dagster_dev_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "dagster", "dev", "-m", "convo_pipelines.definitions", "-h", host, "-p", str(port)]


def run_dev(settings: Settings, options: DevOptions, environ: Mapping[str, str], say: Say = print) -> int:
    """Prepare the databases, then run `dagster dev` until it exits or a signal stops it; returns the exit code."""
    with ExitStack() as stack:
        app_url = stack.enter_context(app_database(settings, say))
        if settings.database_url:
            prepare_external(settings, app_url, say)
            storage_url = external_storage_url(app_url, environ)
        else:
            prepare_embedded(settings, app_url, options, say)
            ensure_database(with_database(app_url, "postgres"), EMBEDDED_STORAGE_DATABASE)
            storage_url = dagster_storage_url(with_database(app_url, EMBEDDED_STORAGE_DATABASE))
        dagster_home = prepare_dagster_home(settings.convo_home)
        child_env = {
            **environ,
            "DATABASE_URL": app_url,
            "DAGSTER_STORAGE_URL": storage_url,
            "DAGSTER_HOME": str(dagster_home),
            "CONVO_HOME": str(settings.convo_home),
        }
        say(f"database: {redact_url(app_url)}")
        say(f"Dagster storage: {redact_url(storage_url)}")
        say(f"Dagster UI: http://{options.host}:{options.port}  (Ctrl-C stops everything)")
        return run_until_stopped(dagster_dev_command(options.host, options.port), child_env, cwd=dagster_home, say=say)


def run_until_stopped(command: list[str], env: Mapping[str, str], cwd: Path, say: Say) -> int:
    """Run `command` in its own process group; SIGINT/SIGTERM ask it to stop, a second one kills the group.

    Whatever is left of the group afterwards (code servers, run workers) is terminated too.
    Returns 0 when stopped on request, else the command's exit code.
    """
    child = subprocess.Popen(command, env=dict(env), cwd=cwd, start_new_session=True, preexec_fn=_default_signals)
    requested: list[float] = []

    def on_signal(signum: int, _frame: object) -> None:
        requested.append(time.monotonic())
        if len(requested) == 1:
            say(f"stopping Dagster ({signal.Signals(signum).name})...")
            _send(child.pid, signal.SIGINT)
        else:
            _send_group(child.pid, signal.SIGKILL)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        returncode = _wait_for_exit(child, requested)
    finally:
        _stop_group(child.pid)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0 if requested else returncode


def _wait_for_exit(child: subprocess.Popen, requested: list[float]) -> int:
    while True:
        try:
            return child.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            if requested and time.monotonic() - requested[0] > SHUTDOWN_GRACE_SECONDS:
                _send_group(child.pid, signal.SIGKILL)


def _stop_group(pgid: int) -> None:
    """Terminate what is left of the process group, then kill it after a grace period."""
    if not _group_alive(pgid):
        return
    _send_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    _send_group(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _send(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _send_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _default_signals() -> None:
    # A process started in the background by a shell inherits SIGINT as ignored, and exec keeps
    # that: reset so dagster dev (and its children) can be stopped.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
