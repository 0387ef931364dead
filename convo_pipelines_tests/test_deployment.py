"""The production topology, run for real: a gRPC code server, a webserver and a daemon, three processes
sharing one Dagster instance in PostgreSQL (the project's dagster.yaml), as the docs' Deploying page describes.

Through it, against a seeded application database: a partition-range backfill launched through the
webserver's GraphQL leaves the link tables exact; a discovery schedule tick materializes chat messages
written after the backfill; the late-change sensor launches a run for a recipient added after it.

Only dequeue and monitoring intervals can be tuned in dagster.yaml (see tuned_dagster_yaml); the backfill
daemon's 30 s loop and the scheduler's minute are fixed in code, so the test takes about three minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import psutil
import psycopg
import pytest
import yaml
from psycopg import sql

from convo_pipelines.cli.demo_fill import backfill_status, graphql, launch_backfill, served_asset_keys
from convo_pipelines.defs.histories.jobs import HISTORIES_ASSETS
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS, PROJECT_LINK_ASSETS
from convo_pipelines.lib.embedded.demo_seed import seed_demo
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.urls import dagster_storage_url
from convo_pipelines_tests.helpers import PROJECT_VARIABLES, environment_without, fresh_database
from convo_pipelines_tests.ports import free_port
from convo_pipelines_tests.source_data import assert_links_exact, link_pairs

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
LOCATION = "convo_pipelines"
SERVE_TIMEOUT = 150
BACKFILL_TIMEOUT = 180
# A sensor tick every 60 s, plus the run; a schedule tick every minute, plus the run.
TICK_RUN_TIMEOUT = 180
SENSOR = "link_tables_late_changes_sensor"
SCHEDULE = "conversation_discovery_schedule"
# Each sensor tick re-reads the rows stamped up to LATE_COMMIT_ALLOWANCE (2 minutes) before the previous tick,
# so that slow transactions can commit; a change stamped this long ago is one that committed late, which
# the next tick must pick up.
LATE_COMMIT = timedelta(seconds=115)
INSTANCE_VARIABLES = ("DAGSTER_HOME", "DAGSTER_STORAGE_URL")
T = TypeVar("T")

RUNS_QUERY = """
query Runs($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}) {
    ... on Runs { results { runId status creationTime runConfigYaml tags { key value } } }
  }
}
"""
SENSOR_CURSOR_QUERY = """
query Cursor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { typeSpecificData { ... on SensorData { lastCursor } } } }
  }
}
"""
FAILED_RUNS_QUERY = (
    "{ runsOrError(filter: {statuses: [FAILURE, CANCELED]}) { ... on Runs { results { runId status } } } }"
)
PARTITION_STATS_QUERY = (
    "{ assetNodes { assetKey { path } partitionStats { numPartitions numMaterialized numFailed } } }"
)


# ---------------------------------------------------------------- the processes


class Topology:
    """The three long-running processes, each in its own process group, with their output in files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with (self.folder / f"{name}.log").open("w") as out:
            self.processes[name] = subprocess.Popen(
                command, env=env, cwd=self.folder, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def logs(self) -> str:
        return "\n".join(
            f"---- {name}\n{(self.folder / f'{name}.log').read_text(errors='replace')[-3000:]}"
            for name in self.processes
        )

    def assert_running(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited with {process.returncode}:\n{self.logs()}"

    def stop(self) -> list[psutil.Process]:
        """SIGTERM every process started and all they started (the code server's gRPC child, run workers),
        SIGKILL what is left after a grace period; returns the processes still alive after that."""
        groups = {process.pid for process in self.processes.values()}
        tree = _members(groups) | _descendants(groups)
        for group in groups:
            _signal_group(group, signal.SIGTERM)
        for process in tree:
            _signal(process, signal.SIGTERM)
        _, alive = psutil.wait_procs(tree, timeout=30)
        for process in alive:
            _signal(process, signal.SIGKILL)
        for process in self.processes.values():
            process.wait(timeout=30)
        _, alive = psutil.wait_procs(alive, timeout=10)
        return [process for process in alive if process.is_running() and process.status() != psutil.STATUS_ZOMBIE]


def _members(groups: set[int]) -> set[psutil.Process]:
    found = set()
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) in groups:
                found.add(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return found


def _descendants(pids: set[int]) -> set[psutil.Process]:
    found = set()
    for pid in pids:
        try:
            found |= {psutil.Process(pid), *psutil.Process(pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            continue
    return found


def _signal(process: psutil.Process, signum: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        process.send_signal(signum)


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


@contextmanager
def production_topology(
    folder: Path, code_env: dict[str, str], instance_env: dict[str, str]
) -> Iterator[tuple[Topology, str]]:
    """Code server (gRPC), webserver and daemon; yields them and the webserver's URL, and stops all of them."""
    grpc_port, web_port = free_port(), free_port()
    workspace = folder / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump(
            {"load_from": [{"grpc_server": {"host": "127.0.0.1", "port": grpc_port, "location_name": LOCATION}}]}
        )
    )
    topology = Topology(folder)
    try:
        # The code server loads the code, evaluates schedules and sensors and starts the run workers,
        # which inherit its environment: the application's DATABASE_URL and the instance's variables.
        topology.start(
            "code-server",
            [
                str(BIN / "dagster"),
                "code-server",
                "start",
                "-m",
                "convo_pipelines.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(grpc_port),
            ],
            code_env,
        )
        # The webserver and the daemon never import the project: the instance's variables are all they get.
        topology.start(
            "webserver",
            [str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(web_port)],
            instance_env,
        )
        topology.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], instance_env)
        yield topology, f"http://127.0.0.1:{web_port}"
    except BaseException:
        topology.stop()  # the test's own failure is the one to report
        raise
    survivors = topology.stop()
    assert not survivors, f"processes left running: {survivors}"


def tuned_dagster_yaml(project_root: Path, dagster_home: Path) -> None:
    """The project's dagster.yaml with the two intervals an instance lets one tune made short:
    run_queue.dequeue_interval_seconds (5 s by default: how often queued runs are started) and
    run_monitoring.poll_interval_seconds (30 s in the project's file)."""
    config = yaml.safe_load((project_root / "dagster.yaml").read_text())
    config["run_queue"]["dequeue_interval_seconds"] = 1
    config["run_monitoring"]["poll_interval_seconds"] = 5
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))


# ---------------------------------------------------------------- waiting and asking the webserver


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, topology: Topology, every: float = 2.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topology.assert_running()
        found = probe()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"{what}: not within {timeout:.0f} s\n{topology.logs()}")


def runs_tagged(webserver: str, key: str, value: str) -> list[dict]:
    data = graphql(webserver, RUNS_QUERY, {"tags": [{"key": key, "value": value}]})
    return data["runsOrError"]["results"]


def sensor_cursor(webserver: str) -> str | None:
    selector = {"repositoryName": "__repository__", "repositoryLocationName": LOCATION, "sensorName": SENSOR}
    result = graphql(webserver, SENSOR_CURSOR_QUERY, {"selector": selector})["sensorOrError"]
    return ((result.get("sensorState") or {}).get("typeSpecificData") or {}).get("lastCursor")


def finished_run(runs: list[dict], accept: Callable[[dict], bool]) -> dict | None:
    """The first accepted run that ended; fails on an accepted run that did not succeed."""
    for run in runs:
        if accept(run) and run["status"] in {"SUCCESS", "FAILURE", "CANCELED"}:
            assert run["status"] == "SUCCESS", run
            return run
    return None


# ---------------------------------------------------------------- source changes


def add_recipient_committed_late(db: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    """A recipient, stamped LATE_COMMIT ago, linking a person to a conversation they were not in; returns (person, conversation)."""
    person, contact_method, message, conversation = db.execute(
        """
        select cm.person_id, cm.id, fm.id, fm.front_conversation_id
        from public.contact_methods as cm
        cross join public.front_messages as fm
        where cm.person_id is not null
          and not exists (
              select 1
              from public.front_messages as other
              join public.front_message_recipients as r on r.front_message_id = other.id
              join public.contact_methods as known on known.id = r.contact_method_id
              where other.front_conversation_id = fm.front_conversation_id and known.person_id = cm.person_id
          )
        order by fm.created_at desc, cm.id
        limit 1
        """
    ).fetchone()
    db.execute(
        "insert into public.front_message_recipients (front_message_id, contact_method_id, created_at, updated_at) "
        "values (%s, %s, now() - %s, now() - %s)",
        (message, contact_method, LATE_COMMIT, LATE_COMMIT),
    )
    return person, conversation


def add_chat_session(db: psycopg.Connection) -> tuple[str, str, int, date]:
    """A new session of three messages, written now, in the first demo crew's histories table; returns (crew, session,
    count, the UTC day they are dated: the session's activity_date, which a test running across midnight must not
    take from current_date)."""
    crew, table = db.execute("select code, histories_table_name from public.crews order by code limit 1").fetchone()
    session = str(uuid.uuid4())
    messages = [
        {"type": "human", "data": {"content": "Where is my parcel?", "type": "human"}},
        {"type": "ai", "data": {"content": "It ships today.", "type": "ai"}},
        {"type": "human", "data": {"content": "Thanks", "type": "human"}},
    ]
    written = db.execute("select now()").fetchone()[0]
    with db.cursor() as cursor:
        cursor.executemany(
            sql.SQL("insert into {} (session_id, message, created_at) values (%s, %s, %s)").format(
                sql.Identifier("public", table)
            ),
            [(session, json.dumps(message), written) for message in messages],
        )
    return crew, session, len(messages), written.astimezone(UTC).date()


# ---------------------------------------------------------------- the test


@pytest.fixture
def storage_url(server_url: str) -> Iterator[str]:
    """A fresh database for Dagster's storage, as the psycopg2 URL dagster-postgres takes."""
    with fresh_database(server_url, "convo_deploy_dagster") as url:
        yield dagster_storage_url(url)


def test_production_topology_backfills_ticks_and_senses(
    tmp_path: Path, project_root: Path, database_url: str, storage_url: str, db: psycopg.Connection
) -> None:
    # Seeded to end ten minutes ago, so that no demo row is a change the sensor could see.
    end = datetime.now(UTC) - timedelta(minutes=10)
    with connect(database_url) as conn:
        seed_demo(
            conn,
            source_schema="public",
            analytics_schema="analytics",
            conversations=150,
            days=2,
            messages=300,
            end=end,
            report=lambda _: None,
        )
    first_day = (end - timedelta(days=2)).date().isoformat()
    today = datetime.now(UTC).date().isoformat()

    dagster_home = tmp_path / "dagster_home"
    tuned_dagster_yaml(project_root, dagster_home)
    instance_env = environment_without(
        PROJECT_VARIABLES | set(INSTANCE_VARIABLES), DAGSTER_HOME=str(dagster_home), DAGSTER_STORAGE_URL=storage_url
    )
    code_env = {
        **instance_env,
        "DATABASE_URL": database_url,
        "PARTITIONS_START_DATE": first_day,
        "CONVERSATION_DISCOVERY_CRON": "* * * * *",
    }

    with production_topology(tmp_path, code_env, instance_env) as (topology, webserver):
        assets = {*FRONT_LINK_ASSETS, *PROJECT_LINK_ASSETS, *HISTORIES_ASSETS}
        wait_for(
            "the webserver serving the code server's assets",
            lambda: assets <= served_asset_keys(webserver),
            SERVE_TIMEOUT,
            topology,
        )

        # 1. A partition-range backfill through the webserver's GraphQL (what the UI's Launch backfill sends).
        days = {"range": {"start": first_day, "end": today}}
        backfill_id = launch_backfill(
            webserver,
            {
                "partitionsByAssets": [
                    *({"assetKey": {"path": [asset]}, "partitions": days} for asset in FRONT_LINK_ASSETS),
                    *({"assetKey": {"path": [asset]}, "partitions": None} for asset in PROJECT_LINK_ASSETS),
                ]
            },
        )
        status = wait_for(
            "the backfill finishing",
            lambda: (
                (s := backfill_status(webserver, backfill_id))
                in {"COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
                and s
            ),
            BACKFILL_TIMEOUT,
            topology,
        )
        assert status == "COMPLETED_SUCCESS"
        stats = {
            "/".join(node["assetKey"]["path"]): node["partitionStats"]
            for node in graphql(webserver, PARTITION_STATS_QUERY)["assetNodes"]
        }
        partitions = (date.fromisoformat(today) - date.fromisoformat(first_day)).days + 1
        # A day that began after the backfill was launched is a partition it did not cover.
        partitions_now = (datetime.now(UTC).date() - date.fromisoformat(first_day)).days + 1
        for asset in FRONT_LINK_ASSETS:
            assert (stats[asset]["numMaterialized"], stats[asset]["numFailed"]) == (partitions, 0), asset
            assert partitions <= stats[asset]["numPartitions"] <= partitions_now, asset
        assert_links_exact(db)

        # 2. and 3. Changes after the backfill: a recipient the sensor must see (once it has a cursor), new chat messages.
        wait_for("the sensor's first tick (its cursor)", lambda: sensor_cursor(webserver), TICK_RUN_TIMEOUT, topology)
        assert not runs_tagged(webserver, "dagster/sensor_name", SENSOR), "no source change yet, so no sensor run"
        person, conversation = add_recipient_committed_late(db)
        crew, session, messages, activity_date = add_chat_session(db)
        changed_at = time.time()

        sensor_run = wait_for(
            "a late-change sensor run naming the changed conversation",
            lambda: finished_run(
                runs_tagged(webserver, "dagster/sensor_name", SENSOR),
                lambda run: str(conversation) in run["runConfigYaml"],
            ),
            TICK_RUN_TIMEOUT,
            topology,
        )
        # The sensor asked for exactly the change: every run it launched recomputes that conversation only.
        for run in runs_tagged(webserver, "dagster/sensor_name", SENSOR):
            scopes = {
                op: config["config"]["only_conversation_ids"]
                for op, config in yaml.safe_load(run["runConfigYaml"])["ops"].items()
            }
            assert scopes == {asset: [str(conversation)] for asset in FRONT_LINK_ASSETS}, run
        assert (person, conversation) in link_pairs(db, "public", "people_front_conversations"), sensor_run
        assert_links_exact(db)

        def session_stored() -> list[tuple[int, int]] | None:
            run = finished_run(
                runs_tagged(webserver, "dagster/schedule_name", SCHEDULE), lambda run: run["creationTime"] > changed_at
            )
            if run is None:
                return None
            return db.execute(
                "select message_count, human_message_count from analytics.histories_sessions "
                "where crew_code = %s and session_id = %s and activity_date = %s",
                (crew, session, activity_date),
            ).fetchall()

        stored = wait_for(
            "a discovery tick materializing the new chat session", session_stored, TICK_RUN_TIMEOUT, topology
        )
        assert stored == [(messages, 2)]

        # Backfill runs, schedule ticks and sensor runs shared the instance and the database: none failed.
        assert not graphql(webserver, FAILED_RUNS_QUERY)["runsOrError"]["results"]
