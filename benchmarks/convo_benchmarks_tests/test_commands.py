"""The benchmarks' commands, which `convo-pipelines` finds through the entry points benchmarks/ installs."""

from __future__ import annotations

import re

import psycopg

from convo_pipelines_tests.helpers import assert_one_line_error, run_cli

BENCHMARK_COMMANDS = ("seed-demo", "bench", "bench-report")


def test_the_help_lists_the_benchmark_commands_beside_the_products() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # The usage line and the list of positional arguments both show the choices as {a,b,...}; how argparse
    # wraps them around those braces differs between Python versions.
    (choices,) = set(re.findall(r"\{([^}]*)\}", result.stdout))
    assert set(choices.split(",")) == {"migrate", "status", "env", "dev", *BENCHMARK_COMMANDS}
    for command in BENCHMARK_COMMANDS:
        assert run_cli(command, "--help").returncode == 0


def test_a_bad_argument_of_a_benchmark_command_is_one_line() -> None:
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
