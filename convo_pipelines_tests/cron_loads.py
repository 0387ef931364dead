"""Loads the code location once per case (cron variables and SCHEDULE_TIMEZONE set in the environment), and
describes what a test checks of it: its schedules, their run requests at a tick, the discovery's freshness policy.

The settings are read once per process, as the modules are imported, so each case needs a process of its own.
A child process imports Dagster once, then forks one process per case (two at a time, one per core), in which
the project's modules are imported for the first time with that case's environment: a fork costs the
definitions' import, not Python's and Dagster's. The child reads the cases as JSON on stdin and prints the
descriptions as JSON.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg  # imported before the forks, so that each starts with it

# Also imported before the forks (with sqlalchemy and psycopg): it reads the environment only when
# get_settings is first called, in the fork.
import convo_pipelines.lib.settings  # noqa: F401

# The schedules each cron variable drives.
SCHEDULES_OF = {
    "CONVERSATION_DISCOVERY_CRON": ("conversation_discovery_schedule",),
    "LINK_TABLES_SYNC_CRON": ("front_link_tables_sync_schedule", "project_link_tables_sync_schedule"),
    "LINK_TABLES_AUDIT_CRON": ("link_tables_audit_schedule",),
}


@dataclass(frozen=True)
class Case:
    """The cron variables to set (each to `cron`), the time zone, and a tick of the cron to evaluate at."""

    variables: tuple[str, ...]
    cron: str
    timezone: str
    tick: datetime

    def to_json(self) -> dict:
        return {**asdict(self), "tick": self.tick.isoformat()}

    @classmethod
    def from_json(cls, data: dict) -> Case:
        return cls(tuple(data["variables"]), data["cron"], data["timezone"], datetime.fromisoformat(data["tick"]))


def describe_in_subprocesses(cases: list[Case], environment: dict[str, str], cwd: Path) -> list[dict]:
    """One description per case (see describe), in the cases' order."""
    completed = subprocess.run(
        [sys.executable, __file__],
        input=json.dumps([case.to_json() for case in cases]),
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def describe(case: Case) -> dict:
    """The case's schedules (cron, time zone, run requests at its tick) and the discovery's freshness policy,
    or the error that stopped the definitions from loading."""
    os.environ.update(dict.fromkeys(case.variables, case.cron), SCHEDULE_TIMEZONE=case.timezone)
    names = [name for variable in case.variables for name in SCHEDULES_OF[variable]]
    try:
        from convo_pipelines.definitions import defs

        repository = defs.get_repository_def()
        return {
            "schedules": {name: describe_schedule(repository, name, case.tick) for name in names},
            "freshness": describe_freshness(repository),
        }
    except Exception as error:  # reported as the case's failure, the other cases going on
        return {"error": f"{type(error).__name__}: {error}"}


def describe_schedule(repository, name: str, tick: datetime) -> dict:
    """A schedule's cron and time zone, and the run requests (or skip message) of its evaluation at `tick`."""
    schedule = repository.get_schedule_def(name)
    with dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repository) as context:
        result = schedule.evaluate_tick(context)
    requests = [
        {"run_key": request.run_key, "tags": dict(request.tags), "run_config": request.run_config}
        for request in result.run_requests or []
    ]
    return {
        "cron": schedule.cron_schedule,
        "timezone": schedule.execution_timezone,
        "requests": requests,
        "skip": result.skip_message,
    }


def describe_freshness(repository) -> dict:
    """histories_sessions' freshness policy: its kind and, for a time window, its windows in seconds."""
    spec = next(iter(repository.assets_defs_by_key[dg.AssetKey("histories_sessions")].specs))
    policy = spec.freshness_policy
    return {
        "kind": type(policy).__name__,
        "fail_window": seconds(getattr(policy, "fail_window", None)),
        "warn_window": seconds(getattr(policy, "warn_window", None)),
    }


def seconds(window) -> float | None:
    """A policy's window (a Dagster SerializableTimeDelta) in seconds, None for none."""
    return None if window is None else window.to_timedelta().total_seconds()


def describe_each_in_a_fork(cases: list[Case]) -> list[dict]:
    """describe(case) for every case, each in a process forked from this one (which has not imported the
    project's definitions), two at a time."""
    with multiprocessing.get_context("fork").Pool(processes=2, maxtasksperchild=1) as pool:
        return pool.map(describe, cases, chunksize=1)


if __name__ == "__main__":
    print(json.dumps(describe_each_in_a_fork([Case.from_json(data) for data in json.load(sys.stdin)])))
