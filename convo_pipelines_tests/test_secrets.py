"""No password is ever printed or stored, whatever characters it holds; a bad setting is one line.

A real LOGIN role gets a password holding / # ? @ % : a space and a non-ASCII letter; every command
(`convo-pipelines`, the `dagster` CLI loading, failing and succeeding) runs with it in DATABASE_URL,
and its output, Dagster's event log, run storage and captured logs are searched for any spelling or
piece of it. The test servers trust local connections, so the password is never checked, but it is
in the URL all the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import make_url

from convo_pipelines.cli.dev import PROJECT_DAGSTER_YAML
from convo_pipelines.lib.errors import ConfigError
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.urls import (
    dagster_storage_url,
    holds_password,
    psycopg_url,
    redact_url,
    scrub_secrets,
    validate_database_url,
    with_database,
)
from convo_pipelines_tests.helpers import CLI, dagster_cli_environment, fresh_database

# Pieces of the password that no output has any other reason to contain: one leaking means a misread URL.
PIECES = ("Qx7Kv", "Jm4Wz", "Rt8Hy", "Bn2Lp", "Fd6Np", "Gs9Xc", "Tc3Mw", "Vw5Yq")
PASSWORD = "Qx7Kv/Jm4Wz#Rt8Hy?Bn2Lp@Fd6Np%41Gs9Xc:Tc3Mw Vw5Yq-ü"
SETTINGS_GARBAGE = "gar bage!"  # invalid for every validated setting (a schema name, a date, a cron, ...)
VALIDATED_SETTINGS = (
    "DATABASE_URL",
    "SOURCE_SCHEMA",
    "ANALYTICS_SCHEMA",
    "PARTITIONS_START_DATE",
    "CONVERSATION_DISCOVERY_CRON",
    "LINK_TABLES_SYNC_CRON",
    "ENABLE_BACKGROUND_JOBS",
    "SCHEDULE_TIMEZONE",
    "CONVO_AUTO_MIGRATE",
)


def spellings(password: str) -> set[str]:
    """The password as written, percent-encoded two ways, percent-decoded, JSON-escaped (Dagster's storage)."""
    return {
        password,
        quote(password, safe=""),
        quote(password, safe=" +"),
        unquote(password),
        json.dumps(password)[1:-1],
    }


def assert_no_secret(text: str | bytes, where: str, password: str = PASSWORD, pieces: tuple[str, ...] = PIECES) -> None:
    haystack = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    for needle in sorted(spellings(password)) + list(pieces):
        assert needle not in haystack, f"{needle!r} found in {where}"


def url_with_credentials(server_database_url: str, user: str, password_as_written: str) -> str:
    """`server_database_url` with `user` and the password spelled exactly as given (encoded or not)."""
    scheme, _, rest = server_database_url.partition("://")
    return f"{scheme}://{user}:{password_as_written}@{rest.rpartition('@')[2]}"


def with_bad_parameter(url: str) -> str:
    """`url` with a parameter libpq refuses, quoting it (and, before, the whole connection string)."""
    return url + ("&" if "?" in url else "?") + "bogus_parameter=1"


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def dagster(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dagster", *args, "-m", "convo_pipelines.definitions"], env, cwd)


# ---------------------------------------------------------------------------------------------
# The URL functions, no database needed


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql://app:S3cr@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("postgresql://app:S3/cr@db/app", "postgresql://app:***@db/app"),
        ("postgresql://app:S3#cr@db/app", "postgresql://app:***@db/app"),
        ("postgresql://app:S3?cr@db/app", "postgresql://app:***@db/app"),
        ("postgresql://app:S3:cr@db/app", "postgresql://app:***@db/app"),
        ("postgresql://app:S3 cr@db/app", "postgresql://app:***@db/app"),
        ("postgresql://app:S3%cr@db/app", "postgresql://app:***@db/app"),
        ("postgresql://app:S3crü@db/app", "postgresql://app:***@db/app"),
        ("postgresql://app:S3%2F%23%3F%40%3A%25%20cr@db/app", "postgresql://app:***@db/app"),
        ("postgresql://app:S3cr@[::1]:5432/app", "postgresql://app:***@[::1]:5432/app"),
        (
            "postgresql+psycopg2://app:S3cr@db/app?sslmode=require",
            "postgresql+psycopg2://app:***@db/app?sslmode=require",
        ),
        (
            "postgresql://app@db/app?password=S3cr&sslmode=require",
            "postgresql://app@db/app?password=***&sslmode=require",
        ),
        # A raw @ (or a / in the user name): make_url reads part of the password as the host or the
        # database, so everything up to the last @ goes.
        ("postgresql://app:S3@cr@db/app", "postgresql://***@db/app"),
        ("postgresql://app:S3/c#r?x@y@db/app", "postgresql://***@db/app"),
        ("postgresql://a/pp:S3cr@db/app", "postgresql://***@db/app"),
        # What make_url cannot parse at all.
        ("postgresql://app:S3cr@db:notaport/app", "postgresql://***@db:notaport/app"),
        ("postgresql://app:S3cr@h1:5432,h2:5433/app", "postgresql://***@h1:5432,h2:5433/app"),
        ("host=db password=S3cr dbname=app", "host=db password=*** dbname=app"),
        # Nothing to hide.
        ("postgresql+psycopg://u@/db?host=/tmp/x", "postgresql+psycopg://u@/db?host=/tmp/x"),
        ("postgresql://postgres:@/convo?host=/tmp/x", "postgresql://postgres:***@/convo?host=/tmp/x"),
        ("garbage", "garbage"),
    ],
)
def test_redact_url_hides_any_password(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted
    assert "S3" not in redact_url(url) and "cr" not in redact_url(url).replace("://", "")


def test_the_exact_password_reaches_libpq_and_sqlalchemy() -> None:
    for url in (
        f"postgresql://app:{quote(PASSWORD, safe='')}@db:5432/app",
        "postgresql+psycopg://app:Qx7Kv/Jm4Wz#Rt8Hy?Bn2Lp:Tc3Mw Vw5Yq-ü@db:5432/app",  # raw, but no @
    ):
        wanted = unquote(url.partition("app:")[2].rpartition("@db")[0])
        assert conninfo_to_dict(psycopg_url(url))["password"] == wanted
        assert make_url(dagster_storage_url(url)).password == wanted
        other = with_database(url, "other db")
        assert conninfo_to_dict(other)["password"] == wanted
        assert conninfo_to_dict(other)["dbname"] == "other db"
        validate_database_url(url, variable="DATABASE_URL")


def test_parameters_keep_libpq_meaning() -> None:
    url = "postgresql+psycopg://u@/db?host=/tmp/sock&options=-c%20TimeZone%3DUTC&application_name=a+b"
    assert conninfo_to_dict(psycopg_url(url)) == conninfo_to_dict(url.replace("+psycopg", ""))
    assert dagster_storage_url(url).startswith("postgresql+psycopg2://u@/db?host=/tmp/sock&")
    assert make_url(dagster_storage_url(url)).query["application_name"] == "a+b"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"postgresql://app:{PASSWORD}@db/app", "percent-encoded"),  # the password as typed, with a raw @
        ("postgresql://a/pp:Qx7Kv Jm4Wz@db/app", "percent-encoded"),
        ("postgresql://app:Qx7Kv Jm4Wz@db:notaport/app", "does not parse"),
        ("mysql://app:Qx7Kv Jm4Wz@db/app", "not a PostgreSQL URL"),
        ("postgresql://app:Qx7Kv Jm4Wz%@db/app?bogus_parameter=1", "bogus_parameter"),  # libpq refuses it, quoting it
    ],
)
def test_a_url_that_cannot_be_used_is_one_line_without_its_password(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        validate_database_url(url, variable="DATABASE_URL")
    message = str(raised.value)
    assert message.startswith("DATABASE_URL=") and says in message and "\n" not in message
    assert raised.value.__context__ is None and raised.value.__cause__ is None
    assert_no_secret(message, "the ConfigError")
    if "bogus_parameter" not in url:  # only libpq knows its parameters
        with pytest.raises(ConfigError):
            psycopg_url(url)


def test_holds_password() -> None:
    assert holds_password(f"postgresql://app:{quote(PASSWORD, safe='')}@db/app")
    assert holds_password("postgresql://app@db/app?password=x")
    assert holds_password(f"postgresql://app:{PASSWORD}@db/app")
    assert not holds_password("postgresql://postgres:@/convo?host=/tmp/x")
    assert not holds_password("postgresql://app@db/app")


def test_scrub_secrets_removes_every_spelling_of_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql://app:{quote(PASSWORD, safe='')}@db/app"
    message = (
        f"failed with {PASSWORD} / {quote(PASSWORD, safe='')} / {unquote(PASSWORD)} / {json.dumps(PASSWORD)}; "
        f"conninfo \"host=db password='Rt8 Hy' user=x\" password=Bn2Lp; "
        "another postgresql://bob:Fd6Np@elsewhere/db and postgresql://carol:Gs9Xc@x@elsewhere/db"
    )
    scrubbed = scrub_secrets(message, url)
    assert_no_secret(scrubbed, "the scrubbed message", pieces=(*PIECES, "Rt8 Hy"))
    assert "postgresql://bob:***@elsewhere/db" in scrubbed and "host=db password=*** user=x" in scrubbed
    # The configured URL's password is known without being passed.
    monkeypatch.setenv("DATABASE_URL", url)
    assert_no_secret(scrub_secrets(f"oops {unquote(PASSWORD)}"), "the scrubbed message")
    assert scrub_secrets("nothing secret here") == "nothing secret here"
    already = "DATABASE_URL='postgresql://***@db/app' and postgresql://app:***@db/app, see https://example.com/a+b?c=d"
    assert scrub_secrets(already) == already


# ---------------------------------------------------------------------------------------------
# One line per bad setting, through both command lines


def assert_one_error_line(completed: subprocess.CompletedProcess, variable: str) -> None:
    """A non-zero exit, and the error once, on one line naming the variable: no traceback, no stack."""
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    naming = [line for line in output.splitlines() if f"{variable}={SETTINGS_GARBAGE!r}" in line]
    assert len(naming) == 1, output
    assert naming[0].startswith("convo_pipelines.lib.errors.ConfigError: ")
    assert "Traceback" not in output and "Stack Trace" not in output and 'File "' not in output, output


@pytest.mark.parametrize("variable", VALIDATED_SETTINGS)
def test_a_bad_setting_is_one_line_through_the_dagster_cli(variable: str, tmp_path: Path) -> None:
    env = dagster_cli_environment(tmp_path, **{variable: SETTINGS_GARBAGE})
    assert_one_error_line(dagster("definitions", "validate", env=env, cwd=tmp_path), variable)


def test_a_bad_setting_is_one_line_when_dagster_runs_the_code_itself(tmp_path: Path) -> None:
    # An uncaught error rather than a load error that Dagster formats: Python prints it, the same one line.
    env = dagster_cli_environment(tmp_path, SCHEDULE_TIMEZONE=SETTINGS_GARBAGE)
    materialized = dagster("asset", "materialize", "--select", "project_conversations", env=env, cwd=tmp_path)
    assert_one_error_line(materialized, "SCHEDULE_TIMEZONE")


@pytest.mark.parametrize("variable", VALIDATED_SETTINGS)
def test_a_bad_setting_is_one_line_through_convo_pipelines(variable: str, tmp_path: Path) -> None:
    completed = run([CLI, "status"], dagster_cli_environment(tmp_path, **{variable: SETTINGS_GARBAGE}), tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [completed.stderr.strip()]
    assert completed.stderr.startswith(f"convo-pipelines: error: {variable}={SETTINGS_GARBAGE!r}")


# ---------------------------------------------------------------------------------------------
# A real role with that password, every command


@pytest.fixture
def secret_role(server_url: str) -> Iterator[str]:
    """A LOGIN role whose password is PASSWORD (superuser, so it can migrate and seed)."""
    name = f"convo_secret_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("create role {} login superuser password {}").format(sql.Identifier(name), sql.Literal(PASSWORD))
        )
    try:
        yield name
    finally:
        with psycopg.connect(psycopg_url(server_url), autocommit=True) as conn:
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


@pytest.fixture
def secret_database(server_url: str, template_database: str, secret_role: str) -> Iterator[str]:
    """A migrated database and a URL to it as the role, its password percent-encoded."""
    with fresh_database(server_url, "convo_secret", template=template_database) as url:
        yield url_with_credentials(url, secret_role, quote(PASSWORD, safe=""))


def test_the_role_really_has_that_password(secret_database: str, secret_role: str) -> None:
    with connect(secret_database) as conn:
        assert conn.info.user == secret_role
        assert conn.info.password == PASSWORD  # what libpq sent: the URL decoded exactly
        assert conn.execute("select rolcanlogin from pg_roles where rolname = current_user").fetchone()[0]


def test_a_failed_connection_carries_no_trace_of_the_password(secret_database: str) -> None:
    missing = with_database(secret_database, "convo_no_such_database")
    with pytest.raises(psycopg.OperationalError) as raised:
        connect(missing)
    error = raised.value
    assert "does not exist" in str(error)
    # Nothing chained (the original's pgconn holds the password), so no traceback or Dagster event shows it.
    assert error.__cause__ is None and error.__context__ is None and error.pgconn is None
    assert_no_secret(str(error), "the connection error")


def test_convo_pipelines_commands_never_print_the_password(
    secret_database: str, secret_role: str, tmp_path: Path
) -> None:
    env = dagster_cli_environment(tmp_path, DATABASE_URL=secret_database)
    outputs: dict[str, subprocess.CompletedProcess] = {}

    outputs["status"] = run([CLI, "status"], env, tmp_path)
    assert outputs["status"].returncode == 0, outputs["status"].stderr
    assert f"database: postgresql://{secret_role}:***@" in outputs["status"].stdout
    outputs["migrate"] = run([CLI, "migrate"], env, tmp_path)
    assert outputs["migrate"].returncode == 0 and "nothing to apply" in outputs["migrate"].stdout
    outputs["env"] = run([CLI, "env"], env, tmp_path)
    assert outputs["env"].returncode == 0, outputs["env"].stderr
    assert "# DATABASE_URL: set it yourself" in outputs["env"].stdout
    assert (
        "export DATABASE_URL" not in outputs["env"].stdout and "export DAGSTER_STORAGE_URL" not in outputs["env"].stdout
    )

    missing_database = with_database(secret_database, "convo_no_such_database")
    closed_port = f"postgresql://{secret_role}:{quote(PASSWORD, safe='')}@127.0.0.1:1/app?connect_timeout=3"
    as_typed = url_with_credentials(secret_database, secret_role, PASSWORD)  # raw / # ? @ % : and space
    bad_parameter = with_bad_parameter(url_with_credentials(secret_database, secret_role, "Qx7Kv Jm4Wz%Rt8Hy"))
    for name, url, says in (
        ("missing database", missing_database, "does not exist"),
        ("closed port", closed_port, "database error"),
        ("password as typed", as_typed, "percent-encoded"),
        ("bad parameter", bad_parameter, "DATABASE_URL="),
    ):
        for command in ("status", "migrate"):
            failed = run([CLI, command], {**env, "DATABASE_URL": url}, tmp_path)
            assert failed.returncode == 2, failed.stdout + failed.stderr
            assert says in failed.stderr and len(failed.stderr.strip().splitlines()) == 1, failed.stderr
            assert name != "password as typed" or "DATABASE_URL='postgresql://***@" in failed.stderr
            outputs[f"{command} ({name})"] = failed

    for name, completed in outputs.items():
        assert_no_secret(completed.stdout + completed.stderr, f"`convo-pipelines {name}`")


@pytest.fixture(params=["sqlite", "project"])
def storage_database(request: pytest.FixtureRequest, server_url: str, secret_role: str) -> Iterator[str | None]:
    """None: Dagster's own throwaway instance (SQLite). "project": an admin URL of a fresh database for the
    project's storage (its dagster.yaml, PooledPostgresStorage), as production runs; dropped before the role
    that owns its tables."""
    if request.param == "sqlite":
        yield None
        return
    with fresh_database(server_url, "convo_secret_dagster") as url:
        yield url


def test_dagster_loads_and_runs_never_record_the_password(
    storage_database: str | None,
    secret_database: str,
    secret_role: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = dagster_cli_environment(tmp_path, DATABASE_URL=secret_database)
    if storage_database is not None:
        # The project's dagster.yaml, its storage reached as the same role with the same password.
        storage_url = dagster_storage_url(url_with_credentials(storage_database, secret_role, quote(PASSWORD, safe="")))
        (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text(PROJECT_DAGSTER_YAML.read_text())
        env["DAGSTER_STORAGE_URL"] = storage_url
        monkeypatch.setenv("DAGSTER_STORAGE_URL", storage_url)  # for the instance read back below
    outputs: dict[str, subprocess.CompletedProcess] = {}

    for name, overrides in (
        ("bad start date", {"PARTITIONS_START_DATE": "garbage"}),
        ("password as typed", {"DATABASE_URL": url_with_credentials(secret_database, secret_role, PASSWORD)}),
        (
            "space and % as typed",
            {
                "DATABASE_URL": with_bad_parameter(
                    url_with_credentials(secret_database, secret_role, "Qx7Kv Jm4Wz%Rt8Hy")
                )
            },
        ),
    ):
        failed = dagster("definitions", "validate", env={**env, **overrides}, cwd=tmp_path)
        assert failed.returncode != 0 and "ConfigError" in failed.stdout + failed.stderr, failed.stderr
        outputs[f"load ({name})"] = failed

    failed = dagster(
        *MATERIALIZE,
        env={**env, "DATABASE_URL": with_database(secret_database, "convo_no_such_database")},
        cwd=tmp_path,
    )
    assert failed.returncode != 0, failed.stdout + failed.stderr
    outputs["run (missing database)"] = failed
    succeeded = dagster(*MATERIALIZE, env=env, cwd=tmp_path)
    assert succeeded.returncode == 0, succeeded.stderr[-3000:]
    outputs["run"] = succeeded

    for name, completed in outputs.items():
        assert_no_secret(completed.stdout + completed.stderr, f"`dagster` {name}")
    statuses, step_failures = instance_without_secret(Path(env["DAGSTER_HOME"]), storage_database)
    assert statuses == ["FAILURE", "SUCCESS"]
    # The connection error itself was recorded (scrubbed), so the searches had something to search.
    assert any('convo_no_such_database\\" does not exist' in failure for failure in step_failures), step_failures


@pytest.mark.slow  # a refused connection is transient: the run waits out the three retry pauses (about 33 s)
def test_a_run_retrying_a_refused_connection_never_records_the_password(
    secret_database: str, secret_role: str, tmp_path: Path
) -> None:
    env = dagster_cli_environment(tmp_path, DATABASE_URL=secret_database)
    closed_port = f"postgresql://{secret_role}:{quote(PASSWORD, safe='')}@127.0.0.1:1/app?connect_timeout=3"
    failed = dagster(*MATERIALIZE, env={**env, "DATABASE_URL": closed_port}, cwd=tmp_path)
    assert failed.returncode != 0, failed.stdout + failed.stderr
    assert_no_secret(failed.stdout + failed.stderr, "`dagster` run (closed port)")
    statuses, step_failures = instance_without_secret(Path(env["DAGSTER_HOME"]))
    assert statuses == ["FAILURE"]
    assert any("127.0.0.1" in failure and "port 1 failed" in failure for failure in step_failures), step_failures


MATERIALIZE = ("asset", "materialize", "--select", "project_conversations")


def instance_without_secret(dagster_home: Path, storage_database: str | None = None) -> tuple[list[str], list[str]]:
    """Search every file of the Dagster instance, every row of its PostgreSQL storage (`storage_database`, an
    admin URL) or its SQLite files, and every run and event read back through Dagster, for the password;
    returns the runs' statuses (sorted) and the step failures (serialized)."""
    files = [path for path in dagster_home.rglob("*") if path.is_file()]
    if storage_database is None:
        assert any(path.suffix == ".db" for path in files)
    else:
        assert_storage_without_secret(storage_database)
    for path in files:
        assert_no_secret(path.read_bytes(), str(path))

    import dagster as dg  # the instance the runs wrote to, read back through Dagster itself
    from dagster._serdes import serialize_value

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        step_failures = []
        for dagster_run in runs:
            assert_no_secret(serialize_value(dagster_run), f"run {dagster_run.run_id}")
            for event in instance.all_logs(dagster_run.run_id):
                assert_no_secret(serialize_value(event), f"an event of run {dagster_run.run_id}")
                if event.dagster_event is not None and event.dagster_event.event_type_value == "STEP_FAILURE":
                    step_failures.append(serialize_value(event))
        return sorted(run.status.value for run in runs), step_failures


def assert_storage_without_secret(storage_database: str) -> None:
    """Every row of every table of the Dagster storage database, as text, holds no spelling of the password;
    its runs and event log hold rows, so the search had something to search."""
    with psycopg.connect(psycopg_url(storage_database)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'public' and table_type = 'BASE TABLE'"
            )
        ]
        counted = {}
        for table in tables:
            rows = conn.execute(sql.SQL("select t::text from {} as t").format(sql.Identifier(table))).fetchall()
            counted[table] = len(rows)
            assert_no_secret("\n".join(row[0] for row in rows), f"Dagster's storage table {table}")
    assert counted.get("runs", 0) >= 2 and counted.get("event_logs", 0) > 0, counted
