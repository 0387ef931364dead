"""`convo-pipelines dev` as `make dev` runs it: the webserver serves the assets, SIGINT stops the whole process tree."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import psutil
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from convo_pipelines.cli.demo_fill import DEMO_FILL_TITLE
from convo_pipelines.defs.histories.jobs import HISTORIES_ASSETS
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS, PROJECT_LINK_ASSETS
from convo_pipelines.lib.embedded.server import drop_database, embedded_is_running
from convo_pipelines.lib.postgres.urls import psycopg_url, with_database
from convo_pipelines_tests.helpers import CLI, environment_without, fresh_database
from convo_pipelines_tests.ports import free_port

DAGSTER = str(Path(sys.executable).parent / "dagster")
STARTUP_TIMEOUT = 180
SHUTDOWN_TIMEOUT = 120
LINK_ASSETS = {"people_front_conversations", "clients_front_conversations", "project_conversations"}
ASSET_KEYS_QUERY = "{ assetNodes { assetKey { path } } }"
FIRST_FILL_TIMEOUT = 300
BACKFILLS_QUERY = "{ partitionBackfillsOrError { ... on PartitionBackfills { results { id title status } } } }"
ASSET_STATE_QUERY = """
{
  assetNodes {
    assetKey { path }
    partitionStats { numPartitions numMaterialized numFailed numMaterializing }
    assetMaterializations(limit: 1) { runId }
    assetChecksOrError {
      ... on AssetChecks { checks { name executionForLatestMaterialization { status evaluation { severity } } } }
    }
  }
}
"""


def expected_asset_keys() -> set[str]:
    """Every asset key the code location defines right now."""
    from convo_pipelines.definitions import defs

    return {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}


def clean_environment(**overrides: str) -> dict[str, str]:
    return environment_without({"DATABASE_URL", "DAGSTER_STORAGE_URL", "DAGSTER_HOME", "CONVO_HOME"}, **overrides)


class DevProcess:
    """A running `convo-pipelines dev` with its output in a file."""

    def __init__(self, process: subprocess.Popen, port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"dev exited with {self.process.returncode}:\n{self.output()[-4000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/server_info", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)  # not serving yet
                continue
            time.sleep(1)
        pytest.fail(f"the webserver did not answer within {STARTUP_TIMEOUT} s:\n{self.output()[-4000:]}")

    def wait_for_output(self, text: str, timeout: float = FIRST_FILL_TIMEOUT) -> None:
        """Wait until dev prints `text` (dev must keep running meanwhile)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            assert self.process.poll() is None, f"dev exited with {self.process.returncode}:\n{self.output()[-4000:]}"
            time.sleep(1)
        pytest.fail(f"dev did not print {text!r} within {timeout:.0f} s:\n{self.output()[-4000:]}")

    def graphql(self, query: str) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response).get("data") or {}

    def graphql_asset_keys(self, expected: set[str]) -> set[str]:
        """Asset keys the webserver serves, polled until the code location has loaded them."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        keys: set[str] = set()
        while time.monotonic() < deadline:
            nodes = self.graphql(ASSET_KEYS_QUERY).get("assetNodes") or []
            keys = {"/".join(node["assetKey"]["path"]) for node in nodes}
            if expected <= keys:
                return keys
            time.sleep(1)
        return keys

    def stop_with_sigint(self) -> None:
        """Send SIGINT like Ctrl-C and assert that dev and every process it started are gone."""
        tree = [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
        assert len(tree) >= 4, "expected dev, dagster dev, the webserver and the daemon"
        groups = {os.getpgid(process.pid) for process in tree}
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=SHUTDOWN_TIMEOUT) == 0, self.output()[-4000:]
        _, alive = psutil.wait_procs(tree, timeout=SHUTDOWN_TIMEOUT)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive
        # Nothing started later in those process groups (code servers, run workers) survives either.
        assert not _living_members(groups)


def _living_members(groups: set[int]) -> list[psutil.Process]:
    """Processes of the given process groups that are still running (zombies waiting to be reaped excluded)."""
    living = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) in groups and process.status() != psutil.STATUS_ZOMBIE:
                living.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return living


@contextmanager
def running_dev(tmp_path: Path, env: dict[str, str], *args: str) -> Iterator[DevProcess]:
    port = free_port()
    log = tmp_path / f"dev-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [CLI, "dev", "--port", str(port), *args],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    dev = DevProcess(process, port, log)
    try:
        yield dev
    finally:
        # Only when a test failed midway: nothing of this test may outlive it.
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait()


@pytest.fixture
def storage_database_url(server_url: str) -> Iterator[str]:
    """An empty database for Dagster's own storage."""
    with fresh_database(server_url, "convo_dagster") as url:
        yield url


@pytest.fixture
def missing_storage_url(server_url: str) -> Iterator[str]:
    """The URL of a storage database that does not exist yet (dropped afterwards if something created it)."""
    name = f"convo_dagster_missing_{uuid.uuid4().hex[:12]}"
    yield with_database(server_url, name)
    drop_database(server_url, name)


@pytest.mark.slow
def test_dev_on_database_url_creates_a_missing_storage_database_serves_and_stops_on_sigint(
    tmp_path: Path, database_url: str, missing_storage_url: str, db: psycopg.Connection
) -> None:
    env = clean_environment(
        DATABASE_URL=database_url, DAGSTER_STORAGE_URL=missing_storage_url, CONVO_HOME=str(tmp_path / "home")
    )
    with running_dev(tmp_path, env, "--demo-conversations", "50") as dev:
        dev.wait_until_serving()
        expected = expected_asset_keys() | LINK_ASSETS
        assert expected <= dev.graphql_asset_keys(expected)
        dev.stop_with_sigint()
    output = dev.output()
    assert f"created database {database_name(missing_storage_url)} for Dagster's storage" in output
    assert output.index("created database") < output.index("Dagster UI: http://127.0.0.1:")
    # With DATABASE_URL the data is the application's: nothing is seeded, nothing is backfilled.
    assert "seeding" not in output and "first fill" not in output
    assert db.execute("select count(*) from public.front_conversations").fetchone()[0] == 0
    # Dagster kept its runs, events and schedules in the storage database, through dagster-postgres.
    with psycopg.connect(psycopg_url(missing_storage_url)) as storage:
        assert storage.execute("select to_regclass('public.runs') is not null").fetchone()[0]


def run_dev_expecting_one_line(tmp_path: Path, env: dict[str, str]) -> str:
    """Run `dev`, which must stop before starting Dagster with exit code 2 and one line on stderr; that line."""
    result = subprocess.run(
        [CLI, "dev", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Dagster UI" not in result.stdout
    return result.stderr.strip()


def test_dev_refuses_a_database_without_source_tables(tmp_path: Path, storage_database_url: str) -> None:
    env = clean_environment(DATABASE_URL=storage_database_url, CONVO_HOME=str(tmp_path / "home"))
    assert "lacks the source tables" in run_dev_expecting_one_line(tmp_path, env)


def test_dev_names_an_unreachable_storage_server_in_one_line(tmp_path: Path, database_url: str) -> None:
    unreachable = f"postgresql://dagster:s3cret-pw@127.0.0.1:{free_port()}/newcomer_dagster"
    env = clean_environment(
        DATABASE_URL=database_url, DAGSTER_STORAGE_URL=unreachable, CONVO_HOME=str(tmp_path / "home")
    )
    line = run_dev_expecting_one_line(tmp_path, env)
    assert line.startswith("convo-pipelines: error: DAGSTER_STORAGE_URL='postgresql://dagster:***@127.0.0.1:")
    assert "cannot be used for Dagster's storage" in line and "s3cret-pw" not in line


@pytest.fixture
def login_role(server_url: str) -> Iterator[str]:
    """A login role with no privilege beyond connecting (no CREATEDB), dropped afterwards."""
    role = f"convo_storage_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
    yield role
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def as_role(url: str, role: str) -> str:
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


def database_name(url: str) -> str:
    return make_url(url).database


def test_dev_says_how_to_create_a_storage_database_its_role_may_not_create(
    tmp_path: Path, database_url: str, missing_storage_url: str, login_role: str
) -> None:
    env = clean_environment(
        DATABASE_URL=database_url,
        DAGSTER_STORAGE_URL=as_role(missing_storage_url, login_role),
        CONVO_HOME=str(tmp_path / "home"),
    )
    line = run_dev_expecting_one_line(tmp_path, env)
    name = database_name(missing_storage_url)
    assert f"database {name} does not exist and role {login_role} may not create it" in line
    assert f"create database {name} owner {login_role};" in line


def test_dev_refuses_a_storage_database_where_its_role_may_not_create_tables(
    tmp_path: Path, database_url: str, storage_database_url: str, login_role: str
) -> None:
    env = clean_environment(
        DATABASE_URL=database_url,
        DAGSTER_STORAGE_URL=as_role(storage_database_url, login_role),
        CONVO_HOME=str(tmp_path / "home"),
    )
    line = run_dev_expecting_one_line(tmp_path, env)
    assert f"role {login_role} may not create Dagster's tables in schema public" in line
    assert f"grant create on schema public to {login_role};" in line


def dagster_cli_uses_the_instance_of_dev(env: dict[str, str]) -> dict[str, str]:
    """`eval "$(convo-pipelines env)"` points the dagster CLI (a README backfill) at dev's database, storage and partitions."""
    printed = subprocess.run([CLI, "env"], env=env, capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    exports = dict(
        shlex.split(line)[1].split("=", 1) for line in printed.stdout.splitlines() if line.startswith("export ")
    )
    assert set(exports) == {
        "DATABASE_URL",
        "DAGSTER_HOME",
        "DAGSTER_STORAGE_URL",
        "CONVO_HOME",
        "PARTITIONS_START_DATE",
    }
    with psycopg.connect(psycopg_url(exports["DATABASE_URL"])) as conn:
        assert conn.execute("select count(*) from public.front_conversations").fetchone()[0] == 200
        first_day = conn.execute(
            "select (min(created_at) at time zone 'UTC')::date from public.front_conversations"
        ).fetchone()[0]
    assert exports["PARTITIONS_START_DATE"] == first_day.isoformat()
    info = subprocess.run(
        [DAGSTER, "instance", "info"], env={**env, **exports}, capture_output=True, text=True, timeout=120
    )
    assert info.returncode == 0, info.stderr[-4000:]
    # dagster.yaml's storage: dagster-postgres' parts, each keeping its connections (convo_pipelines.instance.storage).
    assert (
        "run_storage: KeepingRunStorage" in info.stdout and "event_log_storage: KeepingEventLogStorage" in info.stdout
    )
    assert "max_concurrent_runs: 4" in info.stdout
    return exports


def asset_states_with_no_run_in_progress(dev: DevProcess, timeout: float = 180.0) -> dict[str, dict]:
    """The assets' states once no partition is being materialized: the discovery schedule runs in dev, and
    Dagster counts a partition that a tick is materializing again as materializing, not materialized."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = {"/".join(node["assetKey"]["path"]): node for node in dev.graphql(ASSET_STATE_QUERY)["assetNodes"]}
        busy = [name for name, node in nodes.items() if (node["partitionStats"] or {}).get("numMaterializing")]
        if not busy or time.monotonic() > deadline:
            return nodes
        time.sleep(1)


def demo_fill_days(output: str) -> tuple[date, date]:
    """The first and last day of the demo's first fill, as dev announced it when it launched the backfill."""
    found = re.search(r"every asset over (\d{4}-\d{2}-\d{2})\.\.\.(\d{4}-\d{2}-\d{2})", output)
    assert found, output[-3000:]
    return date.fromisoformat(found[1]), date.fromisoformat(found[2])


def assert_demo_filled(dev: DevProcess, first_day: date) -> None:
    """One backfill, every asset materialized over the demo's days (the partitions start there), every check passing
    but the WARN array_consistency, which reports the demo's deliberately stale projects.conversation_ids, and the WARN
    late_change_indexes, which names the indexes the demo's source lacks as a user's would."""
    backfills = dev.graphql(BACKFILLS_QUERY)["partitionBackfillsOrError"]["results"]
    assert [(b["title"], b["status"]) for b in backfills] == [(DEMO_FILL_TITLE, "COMPLETED_SUCCESS")]
    filled_first, filled_last = demo_fill_days(dev.output())
    assert filled_first == first_day
    days = (filled_last - first_day).days + 1
    nodes = asset_states_with_no_run_in_progress(dev)
    # A day that began after dev launched the fill is a partition the fill did not cover.
    days_now = (datetime.now(UTC).date() - first_day).days + 1
    for asset in (*FRONT_LINK_ASSETS, *HISTORIES_ASSETS):
        stats = nodes[asset]["partitionStats"]
        covered = (stats["numMaterialized"], stats["numFailed"], stats["numMaterializing"])
        assert covered == (days, 0, 0), (asset, stats)
        assert days <= stats["numPartitions"] <= days_now, (asset, stats)
    for asset in PROJECT_LINK_ASSETS:
        assert nodes[asset]["assetMaterializations"], asset
    outcomes = {
        f"{asset}:{check['name']}": (check["executionForLatestMaterialization"] or {})
        for asset in (*FRONT_LINK_ASSETS, *PROJECT_LINK_ASSETS, *HISTORIES_ASSETS)
        for check in nodes[asset]["assetChecksOrError"]["checks"]
    }
    not_passing = {name: outcome for name, outcome in outcomes.items() if outcome.get("status") != "SUCCEEDED"}
    assert set(not_passing) <= {
        "project_conversations:array_consistency",
        "people_front_conversations:late_change_indexes",
    }, not_passing
    assert all(outcome["evaluation"]["severity"] == "WARN" for outcome in not_passing.values())
    assert outcomes["people_front_conversations:matches_source"]["status"] == "SUCCEEDED"


@pytest.mark.slow
def test_embedded_dev_seeds_and_fills_the_demo_on_first_start_and_reuses_it_on_the_second(tmp_path: Path) -> None:
    home = tmp_path / "convo_home"
    env = clean_environment(CONVO_HOME=str(home))
    demo = ("--demo-conversations", "200", "--demo-messages", "300", "--demo-days", "5")

    started_on = datetime.now(UTC).date()
    with running_dev(tmp_path, env, *demo) as first:
        first.wait_until_serving()
        assert first.graphql_asset_keys(LINK_ASSETS) >= LINK_ASSETS
        exports = dagster_cli_uses_the_instance_of_dev(env)
        first.wait_for_output("the demo's first fill ended")
        first_day = date.fromisoformat(exports["PARTITIONS_START_DATE"])
        assert_demo_filled(first, first_day)
        # The analysts' tables hold the demo's chat histories without anyone launching anything.
        with psycopg.connect(psycopg_url(exports["DATABASE_URL"])) as conn:
            assert conn.execute("select count(*) from analytics.daily_conversation_stats").fetchone()[0] > 0
            assert conn.execute("select count(*) from public.clients_front_conversations").fetchone()[0] > 0
        first.stop_with_sigint()
    output = first.output()
    assert "first start: seeding a demo of 200 conversations" in output
    assert "started the embedded PostgreSQL" in output
    assert f"demo partitions start on {first_day}" in output
    # The fill ends on the UTC day dev launched it (today, or yesterday after midnight).
    assert started_on <= demo_fill_days(output)[1] <= datetime.now(UTC).date()
    assert "ended COMPLETED_SUCCESS" in output and "no check fails" in output
    assert not embedded_is_running(home), "Ctrl-C must stop the embedded PostgreSQL dev started"
    assert (home / "dagster_home" / "dagster.yaml").is_file()

    with running_dev(tmp_path, env, *demo) as second:
        second.wait_until_serving()
        second.wait_for_output("no first fill launched")
        assert len(second.graphql(BACKFILLS_QUERY)["partitionBackfillsOrError"]["results"]) == 1
        second.stop_with_sigint()
    assert "reusing the existing demo data: 200 front conversations" in second.output()
    assert "seeding" not in second.output() and "launched the demo's first fill" not in second.output()
    assert not embedded_is_running(home)
