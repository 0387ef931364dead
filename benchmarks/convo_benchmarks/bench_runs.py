"""The bench's Dagster runs: each a `dagster` command in a process of its own on the scratch tables, its peak
memory watched, its figures read from what Dagster recorded."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
import psutil

from convo_benchmarks.bench_dagster_steps import DagsterReportedTimes, dagster_reported_times
from convo_benchmarks.bench_scratch import Scratch

# On Ctrl-C the run process gets the signal too; give it this long to cancel its query and end.
RUN_STOP_GRACE_SECONDS = 30
# What a run wrote, whatever the asset names its window: a range (links), a window (histories), the table (projects,
# whose updates are named for what they did: a link moved to another project, or its added_by refreshed).
WRITTEN_ROW_FIGURES = tuple(
    f"rows_{verb}{suffix}"
    for verb in ("inserted", "updated", "deleted", "moved", "refreshed")
    for suffix in ("", "_in_range", "_in_window")
)
# A traceback's last line: "FileNotFoundError: ...", "psycopg.errors.UndefinedTable: ...".
RAISED_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Failure): ")


class BenchError(Exception):
    """The benchmark cannot run; the message says why in one line."""


@dataclass
class DagsterRun:
    wall_seconds: float
    sql_seconds: float
    checks_seconds: float
    # The checks' own time in PostgreSQL (each SQL check's `sql_seconds`: its statements, as an asset's).
    checks_sql_seconds: float
    rows_written: int
    peak_rss_mb: float
    # Each asset's materialization metadata, as plain values.
    metadata: dict[str, dict[str, object]] = field(default_factory=dict)
    # The run and its steps as Dagster recorded them (the process's start and the code's load left out).
    dagster: DagsterReportedTimes = field(default_factory=lambda: DagsterReportedTimes(0.0))

    def modes(self) -> str:
        """How each asset ran (a first fill is `bulk`, a diff `diff`), e.g. `people_front_conversations bulk`."""
        return ", ".join(f"{asset} {metadata.get('mode', 'unknown')}" for asset, metadata in self.metadata.items())

    @property
    def overhead_seconds(self) -> float:
        return max(self.wall_seconds - self.sql_seconds - self.checks_seconds, 0.0)

    def figure(self, asset: str, key: str) -> float:
        return float(self.metadata[asset][key])

    @property
    def step_seconds(self) -> float:
        """The asset steps' own time: their SQL, their Python and opening their connections."""
        return sum(float(values["seconds"]) for values in self.metadata.values())


@dataclass
class DagsterRunner:
    """Runs a selection of assets through the `dagster` CLI against the scratch tables."""

    scratch: Scratch
    dagster_home: Path
    start: date
    end: date
    assets: tuple[str, ...]
    # Called as the run's process exits, before its figures are read: a subscriber's catch-up starts then.
    on_exit: Callable[[], None] | None = None

    def materialize_range(self) -> DagsterRun:
        return self._materialize(["--partition-range", f"{self.start.isoformat()}...{self.end.isoformat()}"])

    def materialize_unpartitioned(self, run_config: dict | None = None) -> DagsterRun:
        return self._materialize(["--config-json", json.dumps(run_config)] if run_config else [])

    def materialize_partition(self, day: date, run_config: dict | None = None) -> DagsterRun:
        config = ["--config-json", json.dumps(run_config)] if run_config else []
        return self._materialize(["--partition", day.isoformat(), *config])

    def _materialize(self, partition_args: list[str]) -> DagsterRun:
        command = [
            str(Path(sys.executable).with_name("dagster")),
            "asset",
            "materialize",
            "-m",
            "convo_pipelines.definitions",
            "--select",
            ",".join(self.assets),
            *partition_args,
        ]
        env = {
            **os.environ,
            **self.scratch.run_environment(),
            "DAGSTER_HOME": str(self.dagster_home),
            "PARTITIONS_START_DATE": self.start.isoformat(),
            "ENABLE_BACKGROUND_JOBS": "false",
        }
        before = _latest_storage_ids(self.dagster_home, self.assets)
        started = time.perf_counter()
        returncode, output, peak = run_watching_rss(command, env)
        wall = time.perf_counter() - started
        if self.on_exit is not None:
            self.on_exit()
        if returncode != 0:
            raise BenchError(f"dagster asset materialize failed (exit {returncode}): {_root_cause(output)}")
        return _run_figures(self.dagster_home, self.assets, before, wall_seconds=wall, peak_rss_mb=peak)


def run_watching_rss(command: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    """Run `command` to its end: its exit code, its output (stdout and stderr) and the peak RSS of its tree in MB.

    The output goes to a file, not a pipe: while the RSS is watched nobody reads, and a run that logs more
    than a pipe holds (64 KiB: a long refill's batches) would block on its next line forever.
    """
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            peak = _watch_peak_rss(process)
            process.wait()
        except BaseException:
            # The scratch tables are dropped next: the run must have let go of them first.
            _stop(process)
            raise
        log.seek(0)
        return process.returncode, log.read(), peak


def _root_cause(output: str) -> str:
    """The exception a failed run's output ends with, below Dagster's own wrappers, or its last line."""
    raised = [
        line.strip()
        for line in output.splitlines()
        if RAISED_LINE.match(line) and not line.startswith("dagster._core.errors.")
    ]
    lines = raised or output.strip().splitlines()[-1:]
    return lines[-1].strip() if lines else "no output"


def _stop(process: subprocess.Popen) -> None:
    """Interrupt the run (its query is cancelled) and wait for it; kill it if it does not end in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=RUN_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _watch_peak_rss(process: subprocess.Popen) -> float:
    """The largest RSS any process of the run's tree reached, in MB: sampled every 20 ms while it runs, and the
    kernel's own peak for it (and the children it waited for) when it is reaped, which no sample can miss.
    Reaps the process and sets its returncode."""
    peak = 0
    root = psutil.Process(process.pid)  # exists until reaped below, if only as a zombie
    # WNOWAIT: looks whether it ended without reaping it, so wait4 below still gets its resource usage.
    while os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        for member in [root, *_children(root)]:
            try:
                peak = max(peak, member.memory_info().rss)
            except psutil.Error:
                continue
        time.sleep(0.02)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return max(peak, usage.ru_maxrss * 1024) / 2**20  # ru_maxrss is in KiB on Linux


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def _latest_storage_ids(dagster_home: Path, assets: tuple[str, ...]) -> dict[str, int]:
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        latest = {}
        for name in assets:
            records = instance.fetch_materializations(dg.AssetKey(name), limit=1).records
            latest[name] = records[0].storage_id if records else 0
        return latest


def _run_figures(
    dagster_home: Path, assets: tuple[str, ...], before: dict[str, int], *, wall_seconds: float, peak_rss_mb: float
) -> DagsterRun:
    """SQL seconds and rows written by the newest run (from its assets' materialization metadata), and its checks' seconds.

    A range run copies its metadata onto every partition of the range, so one event per asset
    is read, the newest. Rows written are inserts, updates and deletes; the checks' time is
    their steps' durations.
    """
    seconds, rows, metadata = 0.0, 0, {}
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        newest_run = instance.get_runs(limit=1)[0]
        checks_seconds = sum(
            (step.end_time or 0.0) - (step.start_time or 0.0)
            for step in instance.get_run_step_stats(newest_run.run_id)
            if step.step_key not in assets
        )
        checks_sql_seconds = sum(
            float(entry.dagster_event.event_specific_data.metadata["sql_seconds"].value)
            for entry in instance.all_logs(newest_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
            if "sql_seconds" in entry.dagster_event.event_specific_data.metadata
        )
        for name in assets:
            records = instance.fetch_materializations(dg.AssetKey(name), limit=1).records
            if not records or records[0].storage_id <= before[name]:
                raise BenchError(f"the run recorded no materialization of {name}")
            values = {key: entry.value for key, entry in records[0].asset_materialization.metadata.items()}
            metadata[name] = values
            # Time inside PostgreSQL statements; the asset's own Python (and opening its connection) is overhead.
            seconds += float(values.get("sql_seconds", values["seconds"]))
            rows += sum(int(values.get(key, 0)) for key in WRITTEN_ROW_FIGURES)
        dagster = dagster_reported_times(instance, newest_run.run_id)
    return DagsterRun(
        wall_seconds=wall_seconds,
        sql_seconds=seconds,
        checks_seconds=checks_seconds,
        checks_sql_seconds=checks_sql_seconds,
        rows_written=rows,
        peak_rss_mb=peak_rss_mb,
        metadata=metadata,
        dagster=dagster,
    )
