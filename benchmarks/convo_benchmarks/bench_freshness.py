"""How stale the link tables are, as an app's user sees them: from an app's commit to the link row being right.

The real daemon (`dagster-daemon run`, the project's dagster.yaml) runs the late-change sensor at its default
interval while the app workload reads and writes on its own connections; each sample is one app change, made
in one transaction on a connection of its own, then polled for in the link table it must change. The
figures are the seconds from the change's commit to the poll that first sees the link right.
"""

from __future__ import annotations

import dataclasses
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from convo_benchmarks.bench_parts import nearest_rank
from convo_pipelines.cli.process_group import stop_process_group
from convo_pipelines.defs.links.sensors import link_tables_late_changes_sensor
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.app_changes import (
    CHANGE_KINDS,
    RECIPIENT_REMOVED,
    ChangeKind,
    FreshnessTarget,
    check_of,
    make_change,
)

Report = Callable[[str], None]

# A cron that fires once a year: the daemon's schedules stay out of the measurement.
YEARLY = "0 0 1 1 *"
POLL_SECONDS = 0.2
# A sample whose link is not right after this long is recorded at this value and reported as missed.
SAMPLE_TIMEOUT_SECONDS = 180.0
SENSOR_START_TIMEOUT_SECONDS = 180.0
FRESHNESS_SAMPLES_PER_KIND = 4
# The app workload beside the samples: each of its writers (a person re-created with their contact methods,
# a recipient added) and its reader once a second. Its stress setting (APP_INTERVAL, 20 a second) measures
# lock waits; at that rate every person of a small seed is re-created within seconds, and the link tables
# chase the app's own churn rather than the sample's change.
FRESHNESS_APP_INTERVAL = 1.0


# A change no stamp records: the late-change sensor cannot see it, and the link stays until the nightly sync
# (LINK_TABLES_SYNC_CRON) reconciles every partition. Measured apart, with that cron every minute
# (HARD_DELETE_SYNC_CRON), so a sample takes the cron's wait and one whole sync run.
HARD_DELETE = dataclasses.replace(
    RECIPIENT_REMOVED,
    key="recipient_deleted",
    label="recipients deleted, no trace left (hard delete), sync every minute",
    params=(("touch_messages", False),),
)
HARD_DELETE_SYNC_CRON = "* * * * *"


@dataclass
class FreshnessFigures:
    """Seconds from commit to a right link row, per change kind, and the samples that never got there."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)

    def all_seconds(self) -> list[float]:
        return [value for values in self.seconds.values() for value in values]

    def percentile(self, share: float) -> float:
        """Nearest-rank percentile of every sample (share 0.95: p95)."""
        return nearest_rank(self.all_seconds(), share)


def measure_freshness(
    target: FreshnessTarget, samples_per_kind: int, report: Report, kinds: tuple[ChangeKind, ...] = CHANGE_KINDS
) -> FreshnessFigures:
    """`samples_per_kind` changes of each kind, one after the other (a sample starts once the previous one is right),
    kinds interleaved so that each meets the sensor at a different point of its interval."""
    figures = FreshnessFigures()
    for round_number in range(samples_per_kind):
        for kind in kinds:
            seconds = _one_sample(target, kind)
            if seconds is None:
                figures.missed[kind.key] = figures.missed.get(kind.key, 0) + 1
                seconds = SAMPLE_TIMEOUT_SECONDS
            figures.seconds.setdefault(kind.key, []).append(seconds)
            report(f"freshness {round_number + 1}/{samples_per_kind}: {kind.label}: {seconds:.1f} s")
    return figures


def _one_sample(target: FreshnessTarget, kind: ChangeKind) -> float | None:
    pair = make_change(target, kind)
    committed = time.perf_counter()
    check, params = check_of(target, kind, pair)
    with connect(target.url, autocommit=True) as poller:
        while time.perf_counter() - committed < SAMPLE_TIMEOUT_SECONDS:
            if poller.execute(check, params).fetchone()[0] == kind.appears:
                return time.perf_counter() - committed
            time.sleep(POLL_SECONDS)
    return None


@contextmanager
def running_daemon(
    environment: dict[str, str], log_path: Path, report: Report, *, sync_cron: str = YEARLY
) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` on the project's definitions, background jobs on, its schedules kept quiet but for the
    link tables' nightly sync on `sync_cron`."""
    env = {
        **environment,
        "ENABLE_BACKGROUND_JOBS": "true",
        "CONVERSATION_DISCOVERY_CRON": YEARLY,
        "LINK_TABLES_SYNC_CRON": sync_cron,
        "LINK_TABLES_AUDIT_CRON": YEARLY,
    }
    daemon_binary = str(Path(sys.executable).with_name("dagster-daemon"))
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [daemon_binary, "run", "-m", "convo_pipelines.definitions"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    report(f"dagster-daemon started (pid {daemon.pid}, log {log_path})")
    try:
        yield daemon
    finally:
        stop_process_group(daemon.pid)


def wait_for_sensor_cursor(
    instance: dg.DagsterInstance,
    daemon: subprocess.Popen,
    log_path: Path,
    sensor_name: str = link_tables_late_changes_sensor.name,
) -> None:
    """Until the sensor's first tick (the late-change sensor's by default) has set its cursor: changes before it are
    not tracked."""
    deadline = time.monotonic() + SENSOR_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited with code {daemon.returncode}: see {log_path}")
        for state in instance.all_instigator_state():
            if state.name == sensor_name and getattr(state.instigator_data, "cursor", None):
                return
        time.sleep(1)
    raise RuntimeError(f"sensor {sensor_name} did not tick within {SENSOR_START_TIMEOUT_SECONDS:.0f} s: see {log_path}")


def summary(figures: FreshnessFigures) -> str:
    kinds = ", ".join(
        f"{key} median {statistics.median(values):.1f} s max {max(values):.1f} s"
        for key, values in figures.seconds.items()
    )
    return (
        f"freshness over {len(figures.all_seconds())} changes: p50 {figures.percentile(0.5):.1f} s, "
        f"p95 {figures.percentile(0.95):.1f} s, max {max(figures.all_seconds()):.1f} s ({kinds})"
    )
