"""The `convo-pipelines` console script as a user runs it: migrate, rollback, status, and one-line errors;
and the product's command line without the benchmarks, which add their commands to it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from convo_pipelines.cli.main import build_parser
from convo_pipelines.lib.migrations.runner import applied_versions
from convo_pipelines.lib.migrations.shipped import available_migrations
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.helpers import (
    PROJECT_VARIABLES,
    assert_one_line_error,
    environment_without,
    run_cli,
)
from convo_pipelines_tests.tooling import benchmark_packages

PRODUCT_COMMANDS = {"migrate", "status", "env", "dev"}
# An entry-point group no distribution registers: the command line of a production install, which has no benchmarks.
NO_COMMANDS_GROUP = "convo_pipelines_tests.no_commands"


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


def subcommands(group: str) -> set[str]:
    (commands,) = [action for action in build_parser(group)._actions if action.dest == "command"]
    return set(commands.choices)


def test_without_the_benchmarks_the_command_has_the_products_commands_only() -> None:
    assert subcommands(NO_COMMANDS_GROUP) == PRODUCT_COMMANDS


def test_migrate_status_and_the_code_location_work_without_the_benchmarks_or_psutil(database_url: str) -> None:
    """A production install (DATABASE_URL, core dependencies) has neither the benchmarks nor psutil."""
    script = (
        "import sys\n"
        "sys.modules['psutil'] = None  # `import psutil` now fails, as where it is not installed\n"
        f"sys.modules[{benchmark_packages()[0]!r}] = None\n"
        "from convo_pipelines.cli.main import main\n"
        f"assert main(['migrate'], commands_group={NO_COMMANDS_GROUP!r}) == 0\n"
        f"assert main(['status'], commands_group={NO_COMMANDS_GROUP!r}) == 0\n"
        "import convo_pipelines.definitions\n"
        f"main(['bench', '--conversations', '10'], commands_group={NO_COMMANDS_GROUP!r})  # exits 2\n"
    )
    environ = environment_without(PROJECT_VARIABLES | {"DAGSTER_STORAGE_URL"}, DATABASE_URL=database_url)
    completed = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=120)
    assert "nothing to apply" in completed.stdout and "migration 0001_link_tables: applied" in completed.stdout
    assert_one_line_error(completed, "invalid choice: 'bench'")


def test_a_command_that_fails_to_load_is_left_out_with_a_warning(tmp_path: Path, database_url: str) -> None:
    """An installed distribution whose command does not import costs its command, never migrate or status."""
    dist_info = tmp_path / "broken_commands-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-commands\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[convo_pipelines.commands]\nbroken = no_such_module:add_broken\n")
    environ = {"PYTHONPATH": str(tmp_path)}

    result = run_cli("status", DATABASE_URL=database_url, **environ)
    assert result.returncode == 0, result.stderr
    assert "migration 0001_link_tables: applied" in result.stdout
    assert result.stderr.strip() == (
        "convo-pipelines: warning: command broken (no_such_module:add_broken) did not load: "
        "ModuleNotFoundError: No module named 'no_such_module'"
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


def test_a_bad_source_time_zone_is_one_line_naming_it(database_url: str) -> None:
    result = run_cli("migrate", DATABASE_URL=database_url, SOURCE_TIME_ZONE="Eastern Time")
    assert_one_line_error(result, "SOURCE_TIME_ZONE='Eastern Time'", "an IANA name such as UTC or Europe/Paris")


def test_a_bad_argument_is_one_line() -> None:
    result = run_cli("dev", "--demo-conversations", "0")
    assert_one_line_error(result, "--demo-conversations")
