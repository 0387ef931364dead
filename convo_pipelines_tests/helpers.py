"""Helpers several test files share: throwaway databases, and the console script run in a clean environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import psycopg
from psycopg import sql

from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.embedded.server import drop_database
from convo_pipelines.lib.migrations.runner import rollback_last
from convo_pipelines.lib.postgres.urls import psycopg_url, with_database
from convo_pipelines_tests.product_variables import PROJECT_VARIABLES

CLI = str(Path(sys.executable).parent / "convo-pipelines")


@contextmanager
def fresh_database(server_url: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """URL of a new database named `prefix`_<random> (a clone of `template` when given), dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    create = sql.SQL("create database {}").format(sql.Identifier(name))
    if template:
        create = sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template))
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as conn:
        conn.execute(create)
    try:
        yield with_database(server_url, name)
    finally:
        drop_database(server_url, name)


def environment_without(removed: Iterable[str], **overrides: str) -> dict[str, str]:
    """This process's environment without the `removed` variables, plus `overrides`."""
    excluded = set(removed)
    return {**{key: value for key, value in os.environ.items() if key not in excluded}, **overrides}


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run the console script with only the given project variables set."""
    environ = environment_without(PROJECT_VARIABLES | {"DAGSTER_STORAGE_URL"}, **env)
    return subprocess.run([CLI, *args], env=environ, capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, *must_contain: str, secret: str | None = None) -> None:
    """The command failed with exit code 2 and one line on stderr holding `must_contain`, and never `secret`."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("convo-pipelines: error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for text in must_contain:
        assert text in lines[0]
    if secret:
        assert secret not in result.stderr + result.stdout


def definitions_bound_to(postgres: PostgresResource) -> dg.Definitions:
    """The project's definitions with every run, check, schedule and sensor using `postgres`."""
    # Imported here so that only the tests that need the definitions build them.
    from convo_pipelines.definitions import defs

    return dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        schedules=defs.schedules,
        sensors=defs.sensors,
        resources={"postgres": postgres},
    )


def dagster_cli_environment(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A clean environment for the dagster CLI and convo-pipelines: none of the project's variables,
    a throwaway Dagster instance in tmp (SQLite storage, no telemetry), CONVO_HOME in tmp."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir(exist_ok=True)
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return environment_without(
        PROJECT_VARIABLES | {"DAGSTER_HOME", "DAGSTER_STORAGE_URL"},
        DAGSTER_HOME=str(dagster_home),
        CONVO_HOME=str(tmp_path / "convo_home"),
        **overrides,
    )


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.2) -> object:
    """`condition()`'s first truthy value, or its last value once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_for_pipeline_lock_wait(
    db: psycopg.Connection, runner: threading.Thread, wait_event: str | None = None
) -> bool:
    """Whether a convo_pipelines backend waits on a lock (of kind `wait_event` when given), polled for up to 30 s
    or until the run thread ends."""

    def waiting() -> int:
        return db.execute(
            "select count(*) from pg_stat_activity where datname = current_database() "
            "and application_name = 'convo_pipelines' and wait_event_type = 'Lock' "
            "and (%(wait_event)s::text is null or wait_event = %(wait_event)s::text)",
            {"wait_event": wait_event},
        ).fetchone()[0]

    # What the poll saw, not a second look: a wait in 50 ms turns may be over by then (a retry's pause).
    seen = wait_until(lambda: waiting() or (None if runner.is_alive() else "ended"), timeout=30, interval=0.05)
    return isinstance(seen, int) and seen > 0


def sessions_started(conn: psycopg.Connection) -> int:
    """Sessions ever started on conn's database, as far as the statistics have them: a session is counted when it
    starts, and a backend's counts are all in once it has exited."""
    conn.execute("select pg_stat_clear_snapshot()")
    return conn.execute("select sessions from pg_stat_database where datname = current_database()").fetchone()[0]


def pipeline_sessions_left_open(db: psycopg.Connection, timeout: float = 10) -> int:
    """The pipeline's sessions (application_name convo_pipelines) still open on db's database once those its
    client closed have had `timeout` seconds to go: a backend whose client closed the connection exits on its own
    time, and pg_stat_activity lists it until it has."""

    def still_open() -> int:
        db.execute("select pg_stat_clear_snapshot()")
        return db.execute(
            "select count(*) from pg_stat_activity where datname = current_database() "
            "and application_name = 'convo_pipelines' and pid <> pg_backend_pid()"
        ).fetchone()[0]

    wait_until(lambda: still_open() == 0, timeout)
    return still_open()


def materialize_front_links_command(first: str, last: str, run_config: dict | None = None) -> list[str]:
    """`dagster asset materialize` of both Front link tables over the partitions first..last, as a UI backfill runs."""
    return [
        sys.executable, "-m", "dagster", "asset", "materialize", "-m", "convo_pipelines.definitions",
        "--select", "people_front_conversations,clients_front_conversations",
        *(["--partition", first] if first == last else ["--partition-range", f"{first}...{last}"]),
        *(["--config-json", json.dumps(run_config)] if run_config else []),
    ]  # fmt: skip


def watch_while(database_url: str, read: Callable[[psycopg.Connection], object], run: Callable[[], object]) -> list:
    """What `read` returns in another session, every few milliseconds while `run` goes."""
    seen: list = []
    done = threading.Event()

    def watch() -> None:
        with psycopg.connect(database_url, autocommit=True) as watcher:
            while not done.is_set():
                seen.append(read(watcher))
                time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run()
    finally:
        done.set()
        watcher.join()
    return seen


# The name every file of the benchmarks' installed distribution starts with (its dist-info, its editable .pth).
BENCHMARKS_DISTRIBUTION = ("convo_pipelines_benchmarks", "__editable__.convo_pipelines_benchmarks")
REPOSITORY = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BareClone:
    """The repository's files without the benchmarks, run by this venv's interpreter with every installed distribution
    but the benchmarks': what a clone followed by `pip install -e '.[dev]'` alone has. `python -S` reads a folder of
    links to the site-packages' entries instead of the site-packages itself, so no .pth file (the editable installs'
    paths) is read and the clone's own folder is the convo_pipelines imported."""

    root: Path
    site: Path

    def run(self, arguments: list[str], convo_home: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
        environ = environment_without(
            PROJECT_VARIABLES | {"DAGSTER_HOME", "DAGSTER_STORAGE_URL", "TEST_DATABASE_URL", "VIRTUAL_ENV"},
            PYTHONPATH=f"{self.site}{os.pathsep}{self.root}",
            CONVO_HOME=str(convo_home),
            **overrides,
        )
        return subprocess.run(
            [sys.executable, "-S", *arguments],
            cwd=self.root,
            env=environ,
            capture_output=True,
            text=True,
            timeout=240,
        )


def make_bare_clone(base: Path) -> BareClone:
    """The repository's tracked and unignored files, less benchmarks/, copied under `base`, with its site folder."""
    root, site = base / "repo", base / "site"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = REPOSITORY / name
        if name.startswith("benchmarks/") or not (source.exists() or source.is_symlink()):
            continue
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, root / name, follow_symlinks=False)
    site.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(BENCHMARKS_DISTRIBUTION):
            (site / entry.name).symlink_to(entry)
    return BareClone(root, site)


def roll_back_through(conn: psycopg.Connection, version: int, source: str, analytics: str) -> list[int]:
    """Roll back the newest migrations until `version` is undone, as `convo-pipelines migrate --rollback` run
    that many times does; the versions undone, oldest first."""
    undone: list[int] = []
    while not undone or undone[-1] != version:
        undone.append(rollback_last(conn, source, analytics).version)
    return sorted(undone)


def url_as(url: str, user: str) -> str:
    """The same server and database as `user`, without a password (both test servers trust local connections)."""
    parts = urlsplit(psycopg_url(url))
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def database_clock(db: psycopg.Connection) -> datetime:
    return db.execute("select clock_timestamp()").fetchone()[0]


# How long a test that must keep its runs on one UTC day may take from its first run to its last.
ONE_DAY_TEST_SECONDS = 120


def utc_day_ahead(db: psycopg.Connection, seconds: float = ONE_DAY_TEST_SECONDS) -> date:
    """The database's UTC day once at least `seconds` of it remain, waiting for the next day otherwise: the runs of a
    test that follow fall on that day whatever the hour the test starts at (a crew dated by id has its messages dated
    by the runs themselves, docs/contract.md, so its test cannot write the dates it means; a run of the last
    partition owns today and every later day, so its test must know which day that is)."""
    now = database_clock(db)
    midnight = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
    if midnight - now < timedelta(seconds=seconds):
        time.sleep((midnight - now).total_seconds() + 0.5)
    return database_clock(db).astimezone(UTC).date()
