"""`convo-pipelines dev` as `make dev` runs it: the webserver serves the assets, SIGINT stops the whole process tree."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import psycopg
import pytest

from convo_pipelines.db import psycopg_url
from convo_pipelines.dev import embedded_is_running
from convo_pipelines_tests.helpers import CLI, environment_without, fresh_database

DAGSTER = str(Path(sys.executable).parent / "dagster")
STARTUP_TIMEOUT = 180
SHUTDOWN_TIMEOUT = 120
LINK_ASSETS = {"people_front_conversations", "clients_front_conversations", "project_conversations"}
ASSET_KEYS_QUERY = "{ assetNodes { assetKey { path } } }"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def test_dev_on_database_url_serves_the_assets_and_stops_on_sigint(
    tmp_path: Path, database_url: str, storage_database_url: str, db: psycopg.Connection
) -> None:
    env = clean_environment(
        DATABASE_URL=database_url, DAGSTER_STORAGE_URL=storage_database_url, CONVO_HOME=str(tmp_path / "home")
    )
    with running_dev(tmp_path, env, "--demo-conversations", "50") as dev:
        dev.wait_until_serving()
        expected = expected_asset_keys() | LINK_ASSETS
        assert expected <= dev.graphql_asset_keys(expected)
        dev.stop_with_sigint()
    output = dev.output()
    assert "Dagster UI: http://127.0.0.1:" in output
    # With DATABASE_URL the data is the application's: nothing is seeded.
    assert "seeding" not in output
    assert db.execute("select count(*) from public.front_conversations").fetchone()[0] == 0
    # Dagster kept its runs, events and schedules in the storage database, through dagster-postgres.
    with psycopg.connect(psycopg_url(storage_database_url)) as storage:
        assert storage.execute("select to_regclass('public.runs') is not null").fetchone()[0]


def test_dev_refuses_a_database_without_source_tables(tmp_path: Path, storage_database_url: str) -> None:
    env = clean_environment(DATABASE_URL=storage_database_url, CONVO_HOME=str(tmp_path / "home"))
    result = subprocess.run([CLI, "dev", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "lacks the source tables" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def dagster_cli_uses_the_instance_of_dev(env: dict[str, str]) -> None:
    """`eval "$(convo-pipelines env)"` points the dagster CLI (a README backfill) at dev's database and storage."""
    printed = subprocess.run([CLI, "env"], env=env, capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    exports = dict(shlex.split(line)[1].split("=", 1) for line in printed.stdout.splitlines() if line.startswith("export "))
    assert set(exports) == {"DATABASE_URL", "DAGSTER_HOME", "DAGSTER_STORAGE_URL", "CONVO_HOME"}
    with psycopg.connect(psycopg_url(exports["DATABASE_URL"])) as conn:
        assert conn.execute("select count(*) from public.front_conversations").fetchone()[0] == 200
    info = subprocess.run([DAGSTER, "instance", "info"], env={**env, **exports}, capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr[-4000:]
    assert "run_storage: PostgresRunStorage" in info.stdout
    assert "max_concurrent_runs: 4" in info.stdout


def test_embedded_dev_seeds_on_first_start_and_reuses_the_data_on_the_second(tmp_path: Path) -> None:
    home = tmp_path / "convo_home"
    env = clean_environment(CONVO_HOME=str(home))
    demo = ("--demo-conversations", "200", "--demo-messages", "0", "--demo-days", "5")

    with running_dev(tmp_path, env, *demo) as first:
        first.wait_until_serving()
        assert LINK_ASSETS <= first.graphql_asset_keys(LINK_ASSETS)
        dagster_cli_uses_the_instance_of_dev(env)
        first.stop_with_sigint()
    assert "first start: seeding a demo of 200 conversations" in first.output()
    assert "started the embedded PostgreSQL" in first.output()
    assert not embedded_is_running(home), "Ctrl-C must stop the embedded PostgreSQL dev started"
    assert (home / "dagster_home" / "dagster.yaml").is_file()

    with running_dev(tmp_path, env, *demo) as second:
        second.wait_until_serving()
        second.stop_with_sigint()
    assert "reusing the existing demo data: 200 front conversations" in second.output()
    assert "seeding" not in second.output()
    assert not embedded_is_running(home)
