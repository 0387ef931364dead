"""`convo-pipelines dev`: the database, Dagster's storage and `dagster dev`, started together and stopped together.

Without DATABASE_URL it runs on the embedded PostgreSQL under CONVO_HOME (app data in database
"convo", Dagster's storage in "dagster"), seeds a demo on first start, gives the demo daily partitions
from its first day, and fills it once with a Dagster backfill launched through the webserver. With
DATABASE_URL it uses that server, migrates the tables the project owns, and seeds and fills nothing.
Dagster's storage database is checked with a real connection before anything starts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

from convo_pipelines.cli.database import app_database, require_source_tables
from convo_pipelines.defs.histories.jobs import HISTORIES_ASSETS
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS, PROJECT_LINK_ASSETS
from convo_pipelines.instance.storage_location import external_storage_url, require_usable_storage
from convo_pipelines.lib.db import connect
from convo_pipelines.lib.embedded_demo import (
    DemoSize,
    demo_first_day,
    demo_partitions_start,
    embedded_storage_url,
    installed_demo_seeder,
    ready_embedded_demo,
)
from convo_pipelines.lib.embedded_server import EMBEDDED_APP_DATABASE, embedded_is_running, start_embedded_postgres
from convo_pipelines.lib.errors import ConfigError
from convo_pipelines.lib.migrations import migrate
from convo_pipelines.lib.settings import Settings
from convo_pipelines.lib.urls import redact_url

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
# dagster dev itself waits up to 60 s for its webserver and daemon; give it that, then kill.
SHUTDOWN_GRACE_SECONDS = 75
LEFTOVER_GRACE_SECONDS = 10
# The repository root, above convo_pipelines/cli/ (the file ships with an editable install only).
PROJECT_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"

Say = Callable[[str], None]


@dataclass(frozen=True)
class DevOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    demo: DemoSize = field(default_factory=DemoSize)


def webserver_address(environ: Mapping[str, str], host: str | None, port: int | None) -> tuple[str, int]:
    """Host and port from the flags, else DAGSTER_WEBSERVER_HOST / DAGSTER_WEBSERVER_PORT, else 127.0.0.1:3000."""
    host = host or environ.get("DAGSTER_WEBSERVER_HOST", "").strip() or DEFAULT_HOST
    if port is None:
        raw = environ.get("DAGSTER_WEBSERVER_PORT", "").strip() or str(DEFAULT_PORT)
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise ConfigError(f"DAGSTER_WEBSERVER_PORT={raw!r} is not a port: expected a number from 1 to 65535")
        port = int(raw)
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port} is not a port: expected a number from 1 to 65535")
    return host, port


def prepare_external(settings: Settings, url: str, say: Say) -> None:
    with connect(url) as conn:
        require_source_tables(conn, settings, url)
        for migration in migrate(conn, settings.source_schema, settings.analytics_schema):
            say(f"applied migration {migration.version:04d}_{migration.name}")


def prepare_dagster_home(convo_home: Path) -> Path:
    """CONVO_HOME/dagster_home holding the project's dagster.yaml (refreshed on every start)."""
    if not PROJECT_DAGSTER_YAML.is_file():
        raise ConfigError(
            f"{PROJECT_DAGSTER_YAML} is missing: run `convo-pipelines dev` from an editable install of the project"
        )
    home = convo_home / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_DAGSTER_YAML, home / "dagster.yaml")
    return home


def dev_environment(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """DATABASE_URL, DAGSTER_HOME and DAGSTER_STORAGE_URL of the instance `dev` runs (which must be up in embedded mode),
    plus, in embedded mode, the PARTITIONS_START_DATE dev gives the demo (so the CLI sees the same partitions)."""
    partitions: dict[str, str] = {}
    if settings.database_url:
        storage = external_storage_url(settings.database_url, environ)
        app_url = settings.database_url
    else:
        if not embedded_is_running(settings.convo_home):
            raise ConfigError(
                f"the embedded PostgreSQL under CONVO_HOME={settings.convo_home} is not running: start `make dev` first"
            )
        app_url = start_embedded_postgres(settings.convo_home, database=EMBEDDED_APP_DATABASE)
        storage = embedded_storage_url(app_url)
        partitions = demo_partitions_start(app_url, settings, environ)
    return {
        "DATABASE_URL": app_url,
        "DAGSTER_HOME": str(prepare_dagster_home(settings.convo_home)),
        "DAGSTER_STORAGE_URL": storage,
        "CONVO_HOME": str(settings.convo_home),
        **partitions,
    }


# ---------------------------------------------------------------- the demo's first fill

# How long the webserver and its code location may take to answer after `dagster dev` starts.
WEBSERVER_WAIT_SECONDS = 600
POLL_SECONDS = 2.0
BACKFILL_POLL_SECONDS = 5.0
COMPANION_JOIN_SECONDS = 5.0
GRAPHQL_TIMEOUT_SECONDS = 30
DEMO_FILL_TITLE = "convo-pipelines dev: the demo's first fill"
# Backfill statuses after which nothing more happens (BulkActionStatus).
FINISHED_BACKFILL_STATUSES = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

ASSET_NODES_QUERY = "{ assetNodes { assetKey { path } } }"
# Whether this instance ever backfilled or materialized the project's assets.
INSTANCE_HISTORY_QUERY = """
{
  partitionBackfillsOrError(limit: 1) { ... on PartitionBackfills { results { id } } }
  assetNodes { assetKey { path } assetMaterializations(limit: 1) { runId } }
}
"""
LAUNCH_BACKFILL_MUTATION = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""
BACKFILL_STATUS_QUERY = """
query DemoFillStatus($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on Error { message }
  }
}
"""
CHECK_RESULTS_QUERY = """
{
  assetNodes {
    assetKey { path }
    assetChecksOrError {
      ... on AssetChecks { checks { name executionForLatestMaterialization { status evaluation { severity } } } }
    }
  }
}
"""


@dataclass(frozen=True)
class DemoFill:
    """The first fill of the embedded demo: every asset over [first_day, last_day] (project_conversations
    has no partitions), launched unless the instance already backfilled or materialized something."""

    first_day: date
    last_day: date
    just_seeded: bool

    @property
    def partitioned_assets(self) -> tuple[str, ...]:
        return (*FRONT_LINK_ASSETS, *HISTORIES_ASSETS)

    @property
    def assets(self) -> tuple[str, ...]:
        return (*FRONT_LINK_ASSETS, *PROJECT_LINK_ASSETS, *HISTORIES_ASSETS)

    def backfill_params(self) -> dict:
        """LaunchBackfillParams: the partitioned assets over the demo's days, project_conversations whole."""
        days = {"range": {"start": self.first_day.isoformat(), "end": self.last_day.isoformat()}}
        return {
            "title": DEMO_FILL_TITLE,
            "description": "Launched once by `convo-pipelines dev` after seeding the demo: every asset over the demo's days.",
            "partitionsByAssets": [
                {"assetKey": {"path": [asset]}, "partitions": days if asset in self.partitioned_assets else None}
                for asset in self.assets
            ],
        }


def demo_fill(url: str, settings: Settings, demo_env: Mapping[str, str], just_seeded: bool) -> DemoFill | None:
    """The demo's days the first fill covers: from its first day (or a later PARTITIONS_START_DATE) to today (UTC)."""
    first_day = demo_first_day(url, settings)
    if first_day is None:
        return None
    start = date.fromisoformat(demo_env["PARTITIONS_START_DATE"]) if demo_env else settings.partitions_start_date
    today = datetime.now(UTC).date()
    first = max(first_day, start)
    return DemoFill(first_day=first, last_day=today, just_seeded=just_seeded) if first <= today else None


def webserver_url(host: str, port: int) -> str:
    """Where this process reaches the webserver it starts (a wildcard address is reached on loopback)."""
    if host in {"", "0.0.0.0", "::", "[::]"}:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


class GraphQLError(RuntimeError):
    """The webserver answered a GraphQL request with an error."""


def graphql(webserver: str, query: str, variables: Mapping[str, object] | None = None) -> dict:
    """POST one query to the webserver's /graphql endpoint and return its data."""
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    request = urllib.request.Request(f"{webserver}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=GRAPHQL_TIMEOUT_SECONDS) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise GraphQLError("; ".join(error.get("message", str(error)) for error in answer["errors"]))
    return answer.get("data") or {}


def served_asset_keys(webserver: str) -> set[str]:
    """The asset keys the webserver serves now (empty while it starts or its code location loads)."""
    try:
        nodes = graphql(webserver, ASSET_NODES_QUERY).get("assetNodes") or []
    except (urllib.error.URLError, ConnectionError, TimeoutError, GraphQLError, ValueError):
        return set()
    return {"/".join(node["assetKey"]["path"]) for node in nodes}


def wait_for_code_location(webserver: str, assets: tuple[str, ...], stopped: threading.Event) -> bool:
    """Wait until the webserver serves every asset of `assets`; False when dev stops or it takes too long."""
    deadline = time.monotonic() + WEBSERVER_WAIT_SECONDS
    while not stopped.is_set() and time.monotonic() < deadline:
        if set(assets) <= served_asset_keys(webserver):
            return True
        stopped.wait(POLL_SECONDS)
    return False


def instance_has_history(webserver: str, assets: tuple[str, ...]) -> bool:
    """Whether the instance holds a backfill, or a materialization of one of `assets`."""
    data = graphql(webserver, INSTANCE_HISTORY_QUERY)
    if (data.get("partitionBackfillsOrError") or {}).get("results"):
        return True
    return any(
        node["assetMaterializations"]
        for node in data.get("assetNodes") or []
        if "/".join(node["assetKey"]["path"]) in assets
    )


def launch_backfill(webserver: str, params: Mapping[str, object]) -> str:
    """Launch a partition backfill through the webserver (what the UI's *Launch backfill* does); its id."""
    result = graphql(webserver, LAUNCH_BACKFILL_MUTATION, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise GraphQLError(f"{result['__typename']}: {' '.join(str(result.get('message', '')).split())}")
    return result["backfillId"]


def backfill_status(webserver: str, backfill_id: str) -> str:
    result = graphql(webserver, BACKFILL_STATUS_QUERY, {"id": backfill_id})["partitionBackfillOrError"]
    if result["__typename"] != "PartitionBackfill":
        raise GraphQLError(f"{result['__typename']}: {result.get('message', '')}")
    return result["status"]


@dataclass(frozen=True)
class CheckOutcome:
    """How a check's latest execution ended: SUCCEEDED, FAILED, EXECUTION_FAILED, ... and, when evaluated, its severity."""

    status: str
    severity: str | None

    @property
    def passed(self) -> bool:
        return self.status == "SUCCEEDED"

    @property
    def warns(self) -> bool:
        return self.status == "FAILED" and self.severity == "WARN"


def check_outcomes(webserver: str, assets: tuple[str, ...]) -> dict[str, CheckOutcome]:
    """`asset:check` -> the outcome of the check's latest execution, for the checks of `assets`."""
    outcomes: dict[str, CheckOutcome] = {}
    for node in graphql(webserver, CHECK_RESULTS_QUERY).get("assetNodes") or []:
        asset = "/".join(node["assetKey"]["path"])
        if asset not in assets:
            continue
        for check in (node.get("assetChecksOrError") or {}).get("checks") or []:
            execution = check.get("executionForLatestMaterialization") or {}
            severity = (execution.get("evaluation") or {}).get("severity")
            outcomes[f"{asset}:{check['name']}"] = CheckOutcome(execution.get("status") or "NOT_EVALUATED", severity)
    return outcomes


def fill_demo_once_served(webserver: str, fill: DemoFill, stopped: threading.Event, *, say: Say) -> None:
    """Once the webserver serves the assets, launch the demo's first fill (if due) and report how it ended.

    Runs beside `dagster dev`: any problem is one line saying what to do instead, never a stop."""
    try:
        if not wait_for_code_location(webserver, fill.assets, stopped):
            if not stopped.is_set():
                say(f"the webserver did not serve the assets within {WEBSERVER_WAIT_SECONDS} s: no first fill launched")
            return
        if not fill.just_seeded and instance_has_history(webserver, fill.assets):
            # Filled (or being filled) by an earlier start: the schedules and the sensor keep it fresh.
            say(
                "the demo was filled by an earlier start (a backfill or materializations exist): no first fill launched"
            )
            return
        backfill_id = launch_backfill(webserver, fill.backfill_params())
        say(
            f"launched the demo's first fill: backfill {backfill_id}, every asset over "
            f"{fill.first_day}...{fill.last_day} (Runs -> Backfills: {webserver}/runs/b/{backfill_id})"
        )
        status = wait_for_backfill(webserver, backfill_id, stopped)
        if status is not None:
            say(describe_fill_outcome(status, check_outcomes(webserver, fill.assets)))
    except (OSError, GraphQLError, ValueError, KeyError, TypeError) as exc:  # URLError, timeouts, odd answers
        if not stopped.is_set():
            say(
                f"could not launch the demo's first fill ({' '.join(str(exc).split())}): launch it from the UI (README: Backfills)"
            )


def wait_for_backfill(webserver: str, backfill_id: str, stopped: threading.Event) -> str | None:
    """The backfill's final status, or None when dev stops first."""
    while not stopped.wait(BACKFILL_POLL_SECONDS):
        status = backfill_status(webserver, backfill_id)
        if status in FINISHED_BACKFILL_STATUSES:
            return status
    return None


def describe_fill_outcome(status: str, checks: Mapping[str, CheckOutcome]) -> str:
    """One line: the backfill's status, how many checks passed, and which warn or fail."""
    passed = sum(outcome.passed for outcome in checks.values())
    warning = sorted(name for name, outcome in checks.items() if outcome.warns)
    failing = sorted(name for name, outcome in checks.items() if not outcome.passed and not outcome.warns)
    parts = [f"the demo's first fill ended {status}: {passed}/{len(checks)} checks passed"]
    if warning:
        # The demo's source has what these WARN checks exist to report: stale project arrays, and no index
        # on the change stamps the late-change sensor reads (as a user's source has none before a DBA adds them).
        parts.append(f"WARN (the source, as the demo seeds it): {', '.join(warning)}")
    parts.append(f"failing: {', '.join(failing)}" if failing else "no check fails")
    return "; ".join(parts)


# ---------------------------------------------------------------- dagster dev


def dagster_dev_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "dagster", "dev", "-m", "convo_pipelines.definitions", "-h", host, "-p", str(port)]


def run_dev(settings: Settings, options: DevOptions, environ: Mapping[str, str], say: Say = print) -> int:
    """Prepare the databases, then run `dagster dev` until it exits or a signal stops it; returns the exit code."""
    with ExitStack() as stack:
        app_url = stack.enter_context(app_database(settings, say))
        demo_env: dict[str, str] = {}
        first_fill: DemoFill | None = None
        if settings.database_url:
            prepare_external(settings, app_url, say)
            storage_url = external_storage_url(app_url, environ)
            as_set = environ.get("DAGSTER_STORAGE_URL", "").strip() or None
            require_usable_storage(storage_url, as_set=as_set, admin_urls=() if as_set else (app_url,), say=say)
        else:
            demo = ready_embedded_demo(settings, installed_demo_seeder(), options.demo, environ, say)
            storage_url = demo.storage_url
            require_usable_storage(storage_url, as_set=None, say=say)
            demo_env = demo.partitions
            first_fill = demo_fill(app_url, settings, demo_env, demo.just_seeded)
        dagster_home = prepare_dagster_home(settings.convo_home)
        child_env = {
            **environ,
            **demo_env,
            "DATABASE_URL": app_url,
            "DAGSTER_STORAGE_URL": storage_url,
            "DAGSTER_HOME": str(dagster_home),
            "CONVO_HOME": str(settings.convo_home),
        }
        say(f"database: {redact_url(app_url)}")
        say(f"Dagster storage: {redact_url(storage_url)}")
        if demo_env:
            say(
                f"demo partitions start on {demo_env['PARTITIONS_START_DATE']} (the demo's first day; PARTITIONS_START_DATE overrides it)"
            )
        say(f"Dagster UI: http://{options.host}:{options.port}  (Ctrl-C stops everything)")
        companion = None
        if first_fill is not None:
            companion = partial(fill_demo_once_served, webserver_url(options.host, options.port), first_fill, say=say)
        return run_until_stopped(
            dagster_dev_command(options.host, options.port), child_env, cwd=dagster_home, say=say, companion=companion
        )


def run_until_stopped(
    command: list[str],
    env: Mapping[str, str],
    cwd: Path,
    say: Say,
    companion: Callable[[threading.Event], None] | None = None,
) -> int:
    """Run `command` in its own process group; SIGINT/SIGTERM ask it to stop, a second one kills the group.

    Whatever is left of the group afterwards (code servers, run workers) is terminated too.
    `companion` runs in a thread beside it and is told to stop (its event is set) when the command
    ends or is asked to. Returns 0 when stopped on request, else the command's exit code.
    """
    child = subprocess.Popen(command, env=dict(env), cwd=cwd, start_new_session=True, preexec_fn=_default_signals)
    requested: list[float] = []
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        requested.append(time.monotonic())
        stopped.set()
        if len(requested) == 1:
            say(f"stopping Dagster ({signal.Signals(signum).name})...")
            _send(child.pid, signal.SIGINT)
        else:
            _send_group(child.pid, signal.SIGKILL)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    helper = (
        threading.Thread(target=companion, args=(stopped,), name="dev-companion", daemon=True) if companion else None
    )
    if helper:
        helper.start()
    try:
        returncode = _wait_for_exit(child, requested)
    finally:
        stopped.set()
        stop_process_group(child.pid)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if helper:
            helper.join(timeout=COMPANION_JOIN_SECONDS)
    return 0 if requested else returncode


def _wait_for_exit(child: subprocess.Popen, requested: list[float]) -> int:
    while True:
        try:
            return child.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            if requested and time.monotonic() - requested[0] > SHUTDOWN_GRACE_SECONDS:
                _send_group(child.pid, signal.SIGKILL)


def stop_process_group(pgid: int) -> None:
    """Terminate what is left of the process group, then kill it after a grace period."""
    if not _group_alive(pgid):
        return
    _send_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    _send_group(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _send(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _send_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _default_signals() -> None:
    # A process started in the background by a shell inherits SIGINT as ignored, and exec keeps
    # that: reset so dagster dev (and its children) can be stopped.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
