"""A Dagster user's habits in the repository's root, with nothing set but where the demo's data goes:
`dagster asset materialize` (on a bare clone: `pip install -e '.[dev]'` alone, without the benchmarks'
distribution), `dagster dev` and `dg dev` run on the embedded demo, which the product seeds (its server started,
and stopped when the command ends); with DATABASE_URL set, nothing touches the embedded server; a wrong setting
stops a command with one line, never a trace or a password. Loading the definitions needs no database:
`dagster definitions validate` and `dg check defs` pass on a bare clone with nothing set, and `dg list defs` too
with a DATABASE_URL no server answers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from convo_pipelines.cli.demo_fill import graphql, served_asset_keys
from convo_pipelines.lib.embedded.server import (
    EMBEDDED_APP_DATABASE,
    drop_database,
    embedded_is_running,
    start_embedded_postgres,
    stop_embedded_postgres,
)
from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines_tests.helpers import PROJECT_VARIABLES, BareClone, environment_without
from convo_pipelines_tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMMAND_TIMEOUT = 240
SERVE_TIMEOUT = 180
RUNS_IN_FLIGHT = (
    "{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED, CANCELING]})"
    " { ... on Runs { results { runId } } } }"
)
SCHEDULE_TICKS = """query ($since: Float) { workspaceOrError { ... on Workspace { locationEntries {
  locationOrLoadError { ... on RepositoryLocation { repositories { schedules {
    scheduleState { status } futureTicks(cursor: $since, limit: 1) { results { timestamp } } } } } } } } } }"""
# The scheduler daemon submits a tick's run a few seconds after its cron time, and a run is launched a few seconds
# after it is queued: a tick this close to now may still put a run in flight.
TICK_LAG_SECONDS = 30
TICK_LEAD_SECONDS = 20
MATERIALIZE = [
    "dagster",
    "asset",
    "materialize",
    "-m",
    "convo_pipelines.definitions",
    "--select",
    "project_conversations",
]
# No server listens on port 1; the password must never be printed.
UNREACHABLE_DATABASE_URL = "postgresql://app:s3cr%40t-pw@127.0.0.1:1/app"
# How each command that only loads the definitions runs under `python -S` (BareClone): dg has no __main__ module.
DG = "import sys; from dagster_dg_cli.cli import main; sys.argv[0] = 'dg'; main()"
DEFINITIONS_COMMANDS = {
    "dagster definitions validate": ["-m", "dagster", "definitions", "validate", "-m", "convo_pipelines.definitions"],
    "dg check defs": ["-c", DG, "check", "defs"],
    "dg list defs": ["-c", DG, "list", "defs"],
}


def shell_in_root(convo_home: Path, **overrides: str) -> dict[str, str]:
    """A fresh shell's environment with the venv's bin on PATH: none of the project's or Dagster's variables,
    and CONVO_HOME in the test's folder so a developer's own demo is neither reused nor disturbed."""
    return environment_without(
        PROJECT_VARIABLES | {"DAGSTER_HOME", "DAGSTER_STORAGE_URL", "TEST_DATABASE_URL", "VIRTUAL_ENV"},
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        CONVO_HOME=str(convo_home),
        **overrides,
    )


def run_in_root(command: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)


def assert_no_trace(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "Error:" not in output.replace("convo_pipelines:", ""), output[-3000:]


def test_dagster_commands_in_the_root_run_on_the_embedded_demo(tmp_path: Path, bare_clone: BareClone) -> None:
    convo_home = tmp_path / "convo"
    environ = shell_in_root(convo_home)

    validated = run_in_root(["dagster", "definitions", "validate", "-m", "convo_pipelines.definitions"], environ)
    assert validated.returncode == 0, validated.stderr[-3000:]
    assert_no_trace(validated)
    assert not convo_home.exists(), "validating the definitions started the embedded server"

    # The demo's seeder is the product's: a clone without the benchmarks seeds the demo and runs on it.
    materialized = bare_clone.run(["-m", *MATERIALIZE], convo_home)
    assert materialized.returncode == 0, materialized.stderr[-3000:]
    assert_no_trace(materialized)
    assert "first start: seeding a demo" in materialized.stderr
    assert "RUN_SUCCESS" in materialized.stderr
    # The server this command started is stopped when it ends.
    assert not embedded_is_running(convo_home)

    # The run wrote the demo's table, and Dagster recorded it in the embedded server's storage database.
    app_url = start_embedded_postgres(convo_home, database=EMBEDDED_APP_DATABASE)
    try:
        with psycopg.connect(psycopg_url(app_url)) as conn:
            links, conversations_in_projects = conn.execute(
                "select (select count(*) from public.project_conversations),"
                " (select count(*) from public.conversations c join public.projects p on p.id = c.project_id)"
            ).fetchone()
        with psycopg.connect(psycopg_url(app_url.replace(f"/{EMBEDDED_APP_DATABASE}?", "/dagster?"))) as conn:
            runs = conn.execute("select status from runs").fetchall()
    finally:
        stop_embedded_postgres(convo_home)
    assert links == conversations_in_projects > 0
    assert runs == [("SUCCESS",)]


def test_with_database_url_set_nothing_touches_the_embedded_server(
    tmp_path: Path, empty_database_url: str, server_url: str
) -> None:
    convo_home = tmp_path / "convo"
    environ = shell_in_root(convo_home, DATABASE_URL=empty_database_url)
    try:
        validated = run_in_root(["dagster", "definitions", "validate", "-m", "convo_pipelines.definitions"], environ)
        assert validated.returncode == 0, validated.stderr[-3000:]
        assert_no_trace(validated)
        assert storage_database(server_url) is None, "validating the definitions connected to Dagster's storage"
        # A command that is not a validation finds Dagster's storage where `convo-pipelines dev` puts it: database
        # convo_dagster on the same server.
        listed = run_in_root(["dg", "list", "defs"], environ)
        assert listed.returncode == 0, listed.stderr[-3000:]
        assert_no_trace(listed)
        assert not convo_home.exists(), "a command with DATABASE_URL set created the embedded server's folder"
        assert storage_database(server_url) == "convo_dagster"
    finally:
        drop_database(server_url, "convo_dagster")


def storage_database(server_url: str) -> str | None:
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as conn:
        found = conn.execute("select datname from pg_database where datname = 'convo_dagster'").fetchone()
    return found[0] if found else None


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("DAGSTER_STORAGE_URL", "mysql://dagster:s3cr%40t-pw@db.example/dagster", "DAGSTER_STORAGE_URL="),
        ("DATABASE_URL", UNREACHABLE_DATABASE_URL, "cannot be used for Dagster's storage"),
    ],
)
def test_a_wrong_setting_stops_a_dagster_command_with_one_line(
    tmp_path: Path, variable: str, value: str, named: str
) -> None:
    result = run_in_root(MATERIALIZE, shell_in_root(tmp_path / "convo", **{variable: value}))
    assert_stopped_with_one_line(result, named)


def assert_stopped_with_one_line(result: subprocess.CompletedProcess[str], named: str) -> None:
    assert result.returncode != 0
    assert_no_trace(result)
    ours = [line for line in result.stderr.splitlines() if line.startswith("convo_pipelines:")]
    assert len(ours) == 1 and named in ours[0], result.stderr[-3000:]
    assert "s3cr" not in result.stdout + result.stderr


# Every command with a DATABASE_URL no server answers; with nothing set, the two that only validate: `dg list defs`
# with nothing set lists on the embedded demo, as in the root (test_packaging.py).
NO_DATABASE_CASES = [
    *((command, {"DATABASE_URL": UNREACHABLE_DATABASE_URL}) for command in DEFINITIONS_COMMANDS),
    ("dagster definitions validate", {}),
    ("dg check defs", {}),
]


@pytest.mark.parametrize(
    ("command", "overrides"),
    NO_DATABASE_CASES,
    ids=[
        f"{command}, {'unreachable DATABASE_URL' if overrides else 'nothing set'}"
        for command, overrides in NO_DATABASE_CASES
    ],
)
def test_the_definitions_load_on_a_bare_clone_with_no_database(
    bare_clone: BareClone, tmp_path: Path, command: str, overrides: dict[str, str]
) -> None:
    convo_home = tmp_path / "convo"
    result = bare_clone.run(DEFINITIONS_COMMANDS[command], convo_home, **overrides)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_no_trace(result)
    assert not convo_home.exists(), f"{command} started the embedded server"
    assert "s3cr" not in result.stdout + result.stderr


def test_on_a_bare_clone_a_database_out_of_reach_stops_a_run_with_one_line(
    bare_clone: BareClone, tmp_path: Path
) -> None:
    result = bare_clone.run(["-m", *MATERIALIZE], tmp_path / "convo", DATABASE_URL=UNREACHABLE_DATABASE_URL)
    assert_stopped_with_one_line(result, "cannot be used for Dagster's storage")


def schedule_ticks_near_now(webserver: str) -> list[float]:
    """The cron times of the running schedules from TICK_LAG_SECONDS ago to TICK_LEAD_SECONDS from now."""
    now = time.time()
    data = graphql(webserver, SCHEDULE_TICKS, {"since": now - TICK_LAG_SECONDS})
    schedules = [
        schedule
        for entry in data["workspaceOrError"]["locationEntries"]
        for repository in entry["locationOrLoadError"]["repositories"]
        for schedule in repository["schedules"]
        if schedule["scheduleState"]["status"] == "RUNNING"
    ]
    ticks = [tick["timestamp"] for schedule in schedules for tick in schedule["futureTicks"]["results"]]
    return [tick for tick in ticks if tick < now + TICK_LEAD_SECONDS]


# Dagster's own race on Ctrl-C, which the project cannot prevent: the daemon's sensor thread (a tick every 5 s by
# default) may ask for the code location after `dagster dev`/`dg dev` has begun shutting it down, and logs that
# tick's trace. Only that trace, after that line, is not the project's.
SHUTDOWN_BEGINS = "Shutting down Dagster services"
SHUTDOWN_RACE = (
    "dagster._core.errors.DagsterCodeLocationNotFoundError: Location convo_pipelines does not exist in workspace"
)
TRACE_BEGINS = re.compile(r"^Traceback \(most recent call last\):$", re.MULTILINE)
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def traces_of(output: str) -> list[str]:
    """Each trace in a dev command's output, up to the next log record, but for Dagster's shutdown race."""
    output = ANSI_COLOUR.sub("", output)
    shutdown = output.find(SHUTDOWN_BEGINS)
    traces = []
    for begins in TRACE_BEGINS.finditer(output):
        lines = output[begins.end() :].splitlines()[1:]
        body = []
        for line in lines:
            if LOG_RECORD.match(line):
                break
            body.append(line)
        trace = "\n".join(body).strip()
        if 0 <= shutdown < begins.start() and trace.endswith(SHUTDOWN_RACE):
            continue
        traces.append(trace)
    return traces


def wait_for_a_quiet_moment(webserver: str, deadline: float) -> None:
    """Wait until no schedule ticks near now and no run is in flight. A terminal's Ctrl-C reaches every process
    of the group, run workers too: one that is still importing Dagster when it comes prints Dagster's trace."""
    while time.monotonic() < deadline:
        if not schedule_ticks_near_now(webserver) and not graphql(webserver, RUNS_IN_FLIGHT)["runsOrError"]["results"]:
            return
        time.sleep(1)
    pytest.fail("the demo's runs did not settle")


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("command", [["dagster", "dev"], ["dg", "dev"]], ids=["dagster dev", "dg dev"])
def test_dev_in_the_root_serves_the_embedded_demo_and_stops_with_ctrl_c(tmp_path: Path, command: list[str]) -> None:
    from convo_pipelines.definitions import defs

    convo_home = tmp_path / "convo"
    port = free_port()
    log = tmp_path / "dev.log"
    with log.open("w") as out:
        dev = subprocess.Popen(
            [*command, "-p", str(port)],
            cwd=ROOT,
            env=shell_in_root(convo_home),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_signals,
        )
    webserver = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVE_TIMEOUT
        served: set[str] = set()
        while not served and time.monotonic() < deadline and dev.poll() is None:
            time.sleep(1)
            served = served_asset_keys(webserver)
        expected = len(defs.get_repository_def().asset_graph.get_all_asset_keys())
        assert len(served) == expected, f"{' '.join(command)} served {len(served)} assets:\n{log.read_text()[-4000:]}"
        assert embedded_is_running(convo_home)
        wait_for_a_quiet_moment(webserver, time.monotonic() + SERVE_TIMEOUT)
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGINT)  # a terminal's Ctrl-C
        dev.wait(timeout=COMMAND_TIMEOUT)
    assert dev.returncode == 0, log.read_text()[-4000:]
    assert not traces_of(log.read_text()), log.read_text()[-4000:]
    assert not embedded_is_running(convo_home), "the embedded server outlived the command that started it"
