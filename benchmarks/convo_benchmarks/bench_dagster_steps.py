"""A bench run's time as Dagster itself reports it, read back from the instance's event log.

The bench times each run as a `dagster asset materialize` process (bench_runs.DagsterRunner), whose wall includes
the Python start and the code location's load. What a run costs once launched (by the daemon, a sensor, the
UI) is what Dagster records: RUN_START to RUN_SUCCESS for the run, STEP_START to STEP_SUCCESS for each step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import dagster as dg


@dataclass(frozen=True)
class DagsterReportedTimes:
    """A run's seconds from RUN_START to its end event, and each step's from STEP_START to its end event."""

    run_seconds: float
    step_seconds: Mapping[str, float] = field(default_factory=dict)

    def steps(self, step_keys: Iterable[str]) -> float:
        """The seconds of these steps (an asset's step key is its op's name: the asset's); 0 for one that did not run."""
        return sum(self.step_seconds.get(key, 0.0) for key in step_keys)


def dagster_reported_times(instance: dg.DagsterInstance, run_id: str) -> DagsterReportedTimes:
    """What `instance` recorded of run `run_id` (an unfinished run or step counts 0)."""
    stats = instance.get_run_stats(run_id)
    return DagsterReportedTimes(
        run_seconds=_elapsed(stats.start_time, stats.end_time),
        step_seconds={
            step.step_key: _elapsed(step.start_time, step.end_time) for step in instance.get_run_step_stats(run_id)
        },
    )


def _elapsed(start: float | None, end: float | None) -> float:
    return max(end - start, 0.0) if start is not None and end is not None else 0.0
