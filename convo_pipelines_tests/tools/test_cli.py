"""The `convo-pipelines` console script as a user runs it: migrate, rollback, status, and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from convo_pipelines.lib.db import connect
from convo_pipelines.lib.migrations import applied_versions, available_migrations
from convo_pipelines_tests.helpers import CLI, PROJECT_VARIABLES, environment_without


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run the console script with only the given project variables set."""
    environ = environment_without(PROJECT_VARIABLES | {"DAGSTER_STORAGE_URL"}, **env)
    return subprocess.run([CLI, *args], env=environ, capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, *must_contain: str, secret: str | None = None) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("convo-pipelines: error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for text in must_contain:
        assert text in lines[0]
    if secret:
        assert secret not in result.stderr + result.stdout


def test_migrate_rollback_and_migrate_again(database_url: str) -> None:
    newest = available_migrations()[-1]
    label = f"{newest.version:04d}_{newest.name}"

    unchanged = run_cli("migrate", DATABASE_URL=database_url)
    assert unchanged.returncode == 0, unchanged.stderr
    assert f"nothing to apply: the database is at {newest.version:04d}" in unchanged.stdout

    rolled_back = run_cli("migrate", "--rollback", DATABASE_URL=database_url)
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert f"rolled back {label}" in rolled_back.stdout
    with connect(database_url) as conn:
        assert newest.version not in applied_versions(conn, "public")

    reapplied = run_cli("migrate", DATABASE_URL=database_url)
    assert reapplied.returncode == 0, reapplied.stderr
    assert f"applied {label}" in reapplied.stdout
    with connect(database_url) as conn:
        assert applied_versions(conn, "public") == [m.version for m in available_migrations()]


def test_rollback_of_everything_then_nothing_to_roll_back(database_url: str) -> None:
    for _ in available_migrations():
        assert run_cli("migrate", "--rollback", DATABASE_URL=database_url).returncode == 0
    last = run_cli("migrate", "--rollback", DATABASE_URL=database_url)
    assert last.returncode == 0
    assert "nothing to roll back" in last.stdout
    with connect(database_url) as conn:
        assert conn.execute("select to_regclass('public.people_front_conversations')").fetchone()[0] is None


def test_migrate_status_and_the_code_location_work_without_psutil(database_url: str) -> None:
    """psutil is in the `tools` extra only: a production install (DATABASE_URL, core dependencies) lacks it."""
    script = (
        "import sys\n"
        "sys.modules['psutil'] = None  # `import psutil` now fails, as where it is not installed\n"
        "from convo_pipelines.tools.cli import main\n"
        "assert main(['migrate']) == 0\n"
        "assert main(['status']) == 0\n"
        "import convo_pipelines.definitions\n"
        "main(['bench', '--conversations', '10'])  # exits 2\n"
    )
    environ = environment_without(PROJECT_VARIABLES | {"DAGSTER_STORAGE_URL"}, DATABASE_URL=database_url)
    completed = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=120)
    assert "nothing to apply" in completed.stdout and "migration 0001_link_tables: applied" in completed.stdout
    # The one command that needs it says which extra to install, in one line.
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert completed.stderr.strip() == (
        "convo-pipelines: error: bench needs psutil, a tooling-only dependency: pip install 'convo_pipelines[tools]'"
    )


def test_status_lists_migrations_and_link_table_counts(database_url: str, db: psycopg.Connection) -> None:
    result = run_cli("status", DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    for migration in available_migrations():
        assert f"migration {migration.version:04d}_{migration.name}: applied" in result.stdout
    assert "public.people_front_conversations" in result.stdout
    assert "0 rows" in result.stdout

    db.execute("drop table public.project_conversations")
    after = run_cli("status", DATABASE_URL=database_url)
    assert any("project_conversations" in line and "missing" in line for line in after.stdout.splitlines())


def test_migrate_refuses_a_database_without_the_source_tables(empty_database_url: str) -> None:
    result = run_cli("migrate", DATABASE_URL=empty_database_url)
    assert_one_line_error(result, "DATABASE_URL", "public.clients", "seed-demo")
    with connect(empty_database_url) as conn:
        assert conn.execute("select to_regclass('public.convo_pipelines_migrations')").fetchone()[0] is None


@pytest.mark.parametrize(
    "url",
    ["mysql://admin:s3cr3t-pw@db.example:3306/app", "postgresql://admin:s3cr3t-pw@db.example:notaport/app"],
)
def test_a_bad_database_url_is_one_line_naming_it_without_the_password(url: str) -> None:
    assert_one_line_error(run_cli("migrate", DATABASE_URL=url), "DATABASE_URL", secret="s3cr3t-pw")


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    result = run_cli("status", DATABASE_URL="postgresql://admin:s3cr3t-pw@127.0.0.1:1/app?connect_timeout=3")
    assert_one_line_error(result, "database error", secret="s3cr3t-pw")


def test_a_bad_partitions_start_date_is_one_line_naming_it(database_url: str) -> None:
    result = run_cli("migrate", DATABASE_URL=database_url, PARTITIONS_START_DATE="2024-13-45")
    assert_one_line_error(result, "PARTITIONS_START_DATE", "2024-13-45", "YYYY-MM-DD")


def test_a_bad_argument_is_one_line() -> None:
    result = run_cli("seed-demo", "--conversations", "0")
    assert_one_line_error(result, "--conversations")


def test_seed_demo_refuses_a_database_that_holds_data(database_url: str, db: psycopg.Connection) -> None:
    first = run_cli("seed-demo", "--conversations", "50", "--days", "3", "--messages", "90", DATABASE_URL=database_url)
    assert first.returncode == 0, first.stderr
    assert "front_message_recipients" in first.stdout and "rows/s" in first.stdout
    assert db.execute("select count(*) from public.crews").fetchone()[0] == 3
    before = db.execute("select count(*) from public.front_conversations").fetchone()[0]

    second = run_cli("seed-demo", "--conversations", "50", DATABASE_URL=database_url)
    assert_one_line_error(second, "already hold data", "--append")
    assert db.execute("select count(*) from public.front_conversations").fetchone()[0] == before == 50

    appended = run_cli("seed-demo", "--conversations", "50", "--append", DATABASE_URL=database_url)
    assert appended.returncode == 0, appended.stderr
    assert db.execute("select count(*) from public.front_conversations").fetchone()[0] == 100
