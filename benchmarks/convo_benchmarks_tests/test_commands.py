"""The benchmarks' commands, which `convo-pipelines` finds through the entry points benchmarks/ installs."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import psycopg
from psycopg import sql

from convo_pipelines.cli.main import build_parser
from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines_tests.docs_pages import ROOT
from convo_pipelines_tests.helpers import assert_one_line_error, run_cli
from convo_pipelines_tests.test_docs_tables import names, table
from convo_pipelines_tests.test_secrets import PASSWORD, assert_no_secret, url_with_credentials

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


def test_seed_demo_never_prints_the_password(empty_database_url: str) -> None:
    """seed-demo names the database it seeds with the password redacted, however the password is spelled."""
    role = f"convo_seed_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(psycopg_url(empty_database_url), autocommit=True) as admin:
        admin.execute(
            sql.SQL("create role {} login superuser password {}").format(sql.Identifier(role), sql.Literal(PASSWORD))
        )
        try:
            url = url_with_credentials(empty_database_url, role, quote(PASSWORD, safe=""))
            seeded = run_cli("seed-demo", "--conversations", "20", "--days", "2", DATABASE_URL=url)
            assert seeded.returncode == 0, seeded.stderr
            assert f"seeding postgresql://{role}:***@" in seeded.stdout
            assert_no_secret(seeded.stdout + seeded.stderr, "`convo-pipelines seed-demo`")
        finally:
            admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_the_bench_commands_table_names_every_benchmark_command_and_its_flags() -> None:
    rows = table(ROOT / "docs" / "commands.md", "| bench command |")
    shown = {names(row[0])[0].split()[1]: names(row[0])[0].split() for row in rows}
    assert set(shown) == set(BENCHMARK_COMMANDS)
    [subcommands] = [action for action in build_parser()._actions if hasattr(action, "choices") and action.choices]
    for command, words in shown.items():
        taken = {option for action in subcommands.choices[command]._actions for option in action.option_strings}
        shown_flags = {word.strip("[]") for word in words if word.strip("[]").startswith("--")}
        assert shown_flags <= taken, (command, shown_flags - taken)
