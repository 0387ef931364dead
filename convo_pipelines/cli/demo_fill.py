"""The demo's first fill: a Dagster backfill of the demo's days that `convo-pipelines dev` launches through the
webserver's GraphQL once the code location is served, then follows to its end and its checks' outcomes."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from convo_pipelines.defs.histories.jobs import HISTORIES_ASSETS
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS, PROJECT_LINK_ASSETS
from convo_pipelines.lib.embedded.demo import demo_first_day
from convo_pipelines.lib.settings import Settings

Say = Callable[[str], None]

# How long the webserver and its code location may take to answer after `dagster dev` starts.
WEBSERVER_WAIT_SECONDS = 600
POLL_SECONDS = 2.0
BACKFILL_POLL_SECONDS = 5.0
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
