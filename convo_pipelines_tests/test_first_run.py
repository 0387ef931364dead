"""A first run that just works: runs apply pending migrations themselves (once, under the lock), or with
CONVO_AUTO_MIGRATE=false fail with one line naming them; a schema ahead of the code, a role that may not
migrate and an edited applied migration are one line / one warning each; loading the code never connects."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from convo_pipelines.defs.links.project_assets import project_conversations
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.migrations.messages import database_description, not_shipped_message, pending_message
from convo_pipelines.lib.migrations.runner import MIGRATION_LOCK_KEY, applied_versions, rollback_last
from convo_pipelines.lib.migrations.schema_check import ensure_schema_current
from convo_pipelines.lib.migrations.shipped import AppliedMigration, available_migrations
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.sqlfiles import render_sql
from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines_tests.helpers import (
    CLI,
    PROJECT_VARIABLES,
    dagster_cli_environment,
    environment_without,
    materialize_front_links_command,
)
from convo_pipelines_tests.ports import free_port
from convo_pipelines_tests.source_data import (
    build_source_data,
    expected_client_links,
    expected_people_links,
    link_pairs,
)

SOURCE, ANALYTICS = "public", "analytics"
PEOPLE, CLIENTS = "people_front_conversations", "clients_front_conversations"
MIGRATIONS_LOGGER = "dagster.builtin.convo_pipelines.lib.migrations"
UTC = UTC


@pytest.fixture
def app_only_database_url(empty_database_url: str) -> str:
    """A database holding only the application's tables, as a team finds it before its first run."""
    with connect(empty_database_url) as conn:
        conn.execute(render_sql("demo/create_source_tables.sql", source=SOURCE, analytics=ANALYTICS))
    return empty_database_url


def where(url: str) -> str:
    with connect(url) as conn:
        return database_description(conn)


def with_password(url: str, password: str) -> str:
    parts = urlsplit(psycopg_url(url))
    user, host = parts.netloc.rsplit("@", 1) if "@" in parts.netloc else ("postgres", parts.netloc)
    return urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}:{password}@{host}"))


def table_exists(url: str, table: str) -> bool:
    with connect(url) as conn:
        return conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]


def materialize_front_links(url: str, tmp_path: Path, project_root: Path, **env: str) -> subprocess.CompletedProcess:
    command = materialize_front_links_command("2024-01-10", "2024-01-14")
    environ = dagster_cli_environment(tmp_path, DATABASE_URL=url, PARTITIONS_START_DATE="2024-01-08", **env)
    return subprocess.run(command, cwd=project_root, env=environ, capture_output=True, text=True, timeout=300)


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = environment_without(PROJECT_VARIABLES | {"DAGSTER_STORAGE_URL"}, **env)
    return subprocess.run([CLI, *args], env=environ, capture_output=True, text=True, timeout=120)


def schema_failure(resource: PostgresResource) -> dg.Failure:
    with pytest.raises(dg.Failure) as raised, resource.session() as session:
        session.execute("select 1")
    assert raised.value.allow_retries is False
    assert "\n" not in raised.value.description
    return raised.value


class AppliedMigrationsLog(logging.Handler):
    """Collects the 'applied migration ...' lines the resource logs."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.applied: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("applied migration "):
            self.applied.append(message.removeprefix("applied migration "))


@pytest.fixture
def applied_log() -> Iterator[AppliedMigrationsLog]:
    handler = AppliedMigrationsLog()
    logger = logging.getLogger(MIGRATIONS_LOGGER)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


SHIPPED = [m.label for m in available_migrations()]


# ---------------------------------------------------------------- loading never connects


def test_loading_the_code_location_never_connects(tmp_path: Path) -> None:
    closed_port = free_port()  # a port nobody listens on
    environ = dagster_cli_environment(tmp_path, DATABASE_URL=f"postgresql://app:s3cret@127.0.0.1:{closed_port}/convo")
    for command in (["definitions", "validate"], ["asset", "list"]):
        completed = subprocess.run(
            [sys.executable, "-m", "dagster", *command, "-m", "convo_pipelines.definitions"],
            env=environ,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        if command[0] == "asset":
            assert PEOPLE in completed.stdout and "histories_sessions" in completed.stdout


# ---------------------------------------------------------------- the first run on a new database


def test_first_cli_run_applies_the_migrations_once_and_fills_the_link_tables(
    app_only_database_url: str, tmp_path: Path, project_root: Path
) -> None:
    with connect(app_only_database_url, autocommit=True) as conn:
        build_source_data(conn)
    completed = materialize_front_links(app_only_database_url, tmp_path, project_root)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-5000:]
    for label in SHIPPED:
        assert output.count(f"applied migration {label}") == 1, output[-5000:]
    with connect(app_only_database_url, autocommit=True) as conn:
        assert applied_versions(conn, SOURCE) == [m.version for m in available_migrations()]
        checksums = dict(conn.execute("select version, checksum from public.convo_pipelines_migrations").fetchall())
        assert checksums == {m.version: m.checksum() for m in available_migrations()}
        start, end = datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 1, 15, tzinfo=UTC)
        people = link_pairs(conn, SOURCE, PEOPLE)
        assert people and people == expected_people_links(conn, SOURCE, start, end)
        assert link_pairs(conn, SOURCE, CLIENTS) == expected_client_links(conn, SOURCE, start, end)


def test_with_auto_migrate_off_a_run_fails_with_one_line_naming_every_pending_migration(
    app_only_database_url: str, tmp_path: Path, project_root: Path
) -> None:
    with connect(app_only_database_url, autocommit=True) as conn:
        build_source_data(conn)
    # The test servers trust their clients, so a password in the URL is accepted and ignored: it must never show.
    url_with_password = with_password(app_only_database_url, "s3cret-pw")
    completed = materialize_front_links(url_with_password, tmp_path, project_root, CONVO_AUTO_MIGRATE="false")
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert "s3cret-pw" not in output
    line = pending_message(available_migrations(), where(app_only_database_url))
    assert line in output.splitlines() or any(text.strip().endswith(line) for text in output.splitlines()), output[
        -5000:
    ]
    assert all(label in line for label in SHIPPED) and "`convo-pipelines migrate`" in line
    assert "UndefinedTable" not in output
    assert not table_exists(app_only_database_url, f"public.{PEOPLE}")
    assert not table_exists(app_only_database_url, "public.convo_pipelines_migrations")


def test_a_bad_auto_migrate_value_stops_the_load_naming_the_variable(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "convo_pipelines.definitions"],
        env=dagster_cli_environment(tmp_path, CONVO_AUTO_MIGRATE="sometimes"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode != 0
    assert "CONVO_AUTO_MIGRATE='sometimes' is not a boolean" in completed.stdout + completed.stderr


def test_a_checks_only_run_on_a_new_database_migrates_it_first(app_only_database_url: str) -> None:
    from convo_pipelines.defs.links.checks import link_checks

    checks_only = dg.materialize(
        [project_conversations, *link_checks],
        selection=dg.AssetSelection.checks_for_assets(project_conversations),
        resources={"postgres": PostgresResource(database_url=app_only_database_url)},
    )
    assert checks_only.success
    evaluations = checks_only.get_asset_check_evaluations()
    assert evaluations and all(evaluation.passed for evaluation in evaluations)
    assert not checks_only.get_asset_materialization_events()  # only the checks ran
    with connect(app_only_database_url) as conn:
        assert applied_versions(conn, SOURCE) == [m.version for m in available_migrations()]


def test_a_sensor_tick_on_a_new_database_names_the_pending_migrations_or_applies_them(
    app_only_database_url: str,
) -> None:
    from convo_pipelines.definitions import defs
    from convo_pipelines.defs.links.sensors import link_tables_late_changes_sensor

    def tick(auto_migrate: bool):
        resource = PostgresResource(database_url=app_only_database_url, auto_migrate=auto_migrate)
        with dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(), resources={"postgres": resource}, definitions=defs
        ) as context:
            return link_tables_late_changes_sensor.evaluate_tick(context)

    with pytest.raises(Exception) as raised:
        tick(auto_migrate=False)
    failure = raised.value if isinstance(raised.value, dg.Failure) else raised.value.__cause__
    assert isinstance(failure, dg.Failure), raised.value
    assert failure.description == pending_message(available_migrations(), where(app_only_database_url))
    assert not table_exists(app_only_database_url, "public.convo_pipelines_migrations")

    first = tick(auto_migrate=True)
    assert first.skip_message and "First tick" in first.skip_message
    with connect(app_only_database_url) as conn:
        assert applied_versions(conn, SOURCE) == [m.version for m in available_migrations()]


# ---------------------------------------------------------------- concurrency and once per process

MIGRATE_IN_A_PROCESS = """
import logging, sys
from convo_pipelines.defs.resources import PostgresResource

applied = []
class Collect(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("applied migration "):
            applied.append(record.getMessage())
logging.getLogger(sys.argv[2]).addHandler(Collect())
with PostgresResource(database_url=sys.argv[1]).session() as session:
    session.execute("select 1")
print(len(applied))
"""


def test_two_processes_starting_at_once_apply_each_migration_once(app_only_database_url: str) -> None:
    with psycopg.connect(psycopg_url(app_only_database_url), autocommit=True) as holder:
        # Hold the migrations' lock so that both processes find everything pending and queue on it.
        holder.execute("select pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", MIGRATE_IN_A_PROCESS, app_only_database_url, MIGRATIONS_LOGGER],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            assert _wait_for_lock_waiters(holder, 2, processes), "both processes should wait on the migrations' lock"
        finally:
            holder.execute("select pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        outcomes = [process.communicate(timeout=180) for process in processes]
    for process, (_stdout, stderr) in zip(processes, outcomes, strict=False):
        assert process.returncode == 0, stderr[-3000:]
    assert sum(int(stdout.strip().splitlines()[-1]) for stdout, _ in outcomes) == len(SHIPPED)
    with connect(app_only_database_url) as conn:
        assert applied_versions(conn, SOURCE) == [m.version for m in available_migrations()]


def test_threads_of_one_process_check_and_migrate_once(app_only_database_url: str, applied_log) -> None:
    failures: list[BaseException] = []

    def first_connection() -> None:
        try:
            with PostgresResource(database_url=app_only_database_url).session() as session:
                session.execute("select count(*) from public.people_front_conversations")
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=first_connection) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert applied_log.applied == SHIPPED


def test_the_check_runs_once_per_process_and_costs_two_small_reads(database_url: str, monkeypatch) -> None:
    resource = PostgresResource(database_url=database_url, auto_migrate=False)
    logger = logging.getLogger(MIGRATIONS_LOGGER)
    sent: list[object] = []
    execute = psycopg.Cursor.execute

    def counted(self, query, params=None, **kwargs):
        sent.append(query)
        return execute(self, query, params, **kwargs)

    with connect(database_url, autocommit=True) as conn:
        monkeypatch.setattr(psycopg.Cursor, "execute", counted)
        assert ensure_schema_current(conn, SOURCE, ANALYTICS, auto_migrate=False, log=logger) == []
        monkeypatch.undo()
    # Nothing pending: whether the server takes writes, and the migration records; nothing written.
    assert len(sent) == 2, sent
    with resource.session() as session:  # the resource's first session: the check runs and finds nothing pending
        assert session.execute("select 1").fetchone() == (1,)

    # Once found current, this process never asks again: even a database that lost its record table
    # (which the check would report as everything pending) no longer fails its connections.
    with connect(database_url, autocommit=True) as conn:
        conn.execute("drop table public.convo_pipelines_migrations")
    with resource.session() as session:
        assert session.execute("select 1").fetchone() == (1,)
    fresh_key = PostgresResource(database_url=database_url, analytics_schema="analytics_elsewhere", auto_migrate=False)
    assert "pending" in schema_failure(fresh_key).description


# ---------------------------------------------------------------- code and schema out of step


def test_code_ahead_of_the_schema_is_one_line_or_applied(database_url: str) -> None:
    newest = available_migrations()[-1]
    with connect(database_url) as conn:
        assert rollback_last(conn, SOURCE, ANALYTICS) == newest
    failure = schema_failure(PostgresResource(database_url=database_url, auto_migrate=False))
    assert failure.description == pending_message([newest], where(database_url))
    assert failure.description.startswith(f"1 migration pending in database {urlsplit(database_url).path.lstrip('/')}")
    assert newest.label in failure.description and "`convo-pipelines migrate`" in failure.description

    with PostgresResource(database_url=database_url).session() as session:
        assert applied_versions(session.conn, SOURCE) == [m.version for m in available_migrations()]


def test_a_run_with_auto_migrate_off_fails_and_says_which_migration(database_url: str) -> None:
    newest = available_migrations()[-1]
    with connect(database_url) as conn:
        rollback_last(conn, SOURCE, ANALYTICS)
    resource = PostgresResource(database_url=database_url, auto_migrate=False)
    result = dg.materialize([project_conversations], resources={"postgres": resource}, raise_on_error=False)
    assert not result.success
    failures = [event for event in result.all_events if event.is_step_failure]
    assert failures
    assert failures[0].step_failure_data.error.message.strip().endswith(pending_message([newest], where(database_url)))
    assert failures[0].step_failure_data.user_failure_data.description == pending_message([newest], where(database_url))


def test_schema_ahead_of_the_code_is_one_line_even_with_auto_migrate(database_url: str) -> None:
    with connect(database_url) as conn:
        conn.execute("insert into public.convo_pipelines_migrations (version, name) values (9999, 'from_the_future')")
    failure = schema_failure(PostgresResource(database_url=database_url))
    with connect(database_url) as conn:
        rows = conn.execute(
            "select version, name from public.convo_pipelines_migrations where version = 9999"
        ).fetchall()
    assert rows == [(9999, "from_the_future")]  # reported, never touched
    assert failure.description == not_shipped_message(
        [AppliedMigration(9999, "from_the_future", None)], where(database_url)
    )
    assert "9999_from_the_future" in failure.description and "ahead" in failure.description

    status = run_cli("status", DATABASE_URL=database_url)
    assert status.returncode == 0, status.stderr
    assert "migration 9999_from_the_future: applied, but this code does not ship it" in status.stdout


# ---------------------------------------------------------------- privileges


@pytest.fixture
def role_without_create(app_only_database_url: str) -> Iterator[tuple[str, str]]:
    """(role, URL logging in as it) for a role that may connect and read, but create nothing."""
    role = f"convo_app_{int(time.time() * 1000) % 10**9}"
    with psycopg.connect(psycopg_url(app_only_database_url), autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        # PostgreSQL 15+ already keeps PUBLIC from creating in schema public; older servers granted it.
        admin.execute("revoke create on schema public from public")
    parts = urlsplit(psycopg_url(app_only_database_url))
    host = parts.netloc.rsplit("@", 1)[-1]
    try:
        yield role, urlunsplit(parts._replace(netloc=f"{role}@{host}"))
    finally:
        with psycopg.connect(psycopg_url(app_only_database_url), autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(pid) from pg_stat_activity where usename = %s", (role,))
            admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_a_role_that_may_not_migrate_gets_one_line_naming_migration_role_and_fix(
    role_without_create: tuple[str, str], app_only_database_url: str
) -> None:
    role, url = role_without_create
    failure = schema_failure(PostgresResource(database_url=url))
    first = available_migrations()[0].label
    assert failure.description.startswith(f"cannot apply migration {first} as role {role} (")
    assert failure.description.endswith(
        "run `convo-pipelines migrate` as a role that holds that privilege "
        "(the owner of the application's tables; the docs' Deploying page, Deploying on your database, says what it needs)"
    )
    assert not table_exists(app_only_database_url, "public.convo_pipelines_migrations")


# ---------------------------------------------------------------- checksums


def test_an_edited_applied_migration_is_named_by_status_migrate_and_the_run_log(database_url: str, postgres) -> None:
    edited = available_migrations()[0]
    with connect(database_url) as conn:
        conn.execute(
            "update public.convo_pipelines_migrations set checksum = repeat('0', 64) where version = %s",
            (edited.version,),
        )

    status = run_cli("status", DATABASE_URL=database_url)
    assert status.returncode == 0, status.stderr
    lines = [line for line in status.stdout.splitlines() if "checksum differs" in line]
    assert lines == [
        f"migration {edited.label}: applied, but its file changed since (checksum differs): put the change in a new migration"
    ]

    migrated = run_cli("migrate", DATABASE_URL=database_url)
    assert migrated.returncode == 0, migrated.stderr
    assert any(
        line.startswith(f"warning: migration {edited.label} was applied from a different file")
        for line in migrated.stdout.splitlines()
    )

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([project_conversations], resources={"postgres": postgres}, instance=instance)
    assert result.success  # a warning, not a failure
    warnings = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.level == logging.WARNING and edited.label in entry.user_message
    ]
    assert len(warnings) == 1 and "checksum differs" in warnings[0]


def _wait_for_lock_waiters(holder: psycopg.Connection, count: int, processes: list[subprocess.Popen]) -> bool:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        waiting = holder.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and not granted"
        ).fetchone()[0]
        if waiting >= count:
            return True
        if any(process.poll() is not None for process in processes):
            return False
        time.sleep(0.1)
    return False
