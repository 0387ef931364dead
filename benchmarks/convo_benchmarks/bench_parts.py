"""Where a freshness sample's seconds went: from the commit to the sensor's first run after it, that run's wait in the
queue and its process's start, and the run until the result is right; each part's p50 and p95 over the samples, so a
run's report says which part sets its p95."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import dagster as dg

from convo_pipelines.defs.automation import SENSOR_NAME_TAG

# The shares each part is recorded at: `<prefix>_part_<part>_p50` and `_p95`.
PART_SHARES = (("p50", 0.5), ("p95", 0.95))
# How many of a sensor's runs created after a commit are looked at for the first one.
RUNS_LOOKED_AT = 20


class Recorder(Protocol):
    """Where the figures go (bench_records.BenchReport)."""

    def record(self, key: str, name: str, unit: str, value: float, note: str = "") -> None: ...


def nearest_rank(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (share 0.95: p95)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def sensor_run_parts(
    instance: dg.DagsterInstance, sensor_name: str, committed: float, right_at: float
) -> dict[str, float] | None:
    """From the first run `sensor_name` requested after the commit (epoch seconds): the commit to its creation
    ("sensor": the sensor's interval and tick), its creation to RUN_START ("queue": the run queue's dequeue and the
    run process's start) and RUN_START to `right_at` ("run": the steps until the result is right); None when no
    such run started."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            tags={SENSOR_NAME_TAG: sensor_name}, created_after=datetime.fromtimestamp(committed, UTC)
        ),
        limit=RUNS_LOOKED_AT,
    )
    first = min(records, key=lambda record: record.create_timestamp.timestamp(), default=None)
    if first is None or first.start_time is None:
        return None
    created = first.create_timestamp.timestamp()
    return {"sensor": created - committed, "queue": first.start_time - created, "run": right_at - first.start_time}


def record_parts(
    result: Recorder, prefix: str, title: str, labels: Sequence[tuple[str, str]], parts: dict[str, list[float]]
) -> None:
    """Each part of `labels` (part, what it is) that has samples, at PART_SHARES: `<prefix>_part_<part>_p50` / `_p95`."""
    for part, label in labels:
        values = parts.get(part, [])
        if not values:
            continue
        for suffix, share in PART_SHARES:
            result.record(
                f"{prefix}_part_{part}_{suffix}",
                f"{title} part, {suffix}: {label}",
                "s",
                nearest_rank(values, share),
                note=f"{len(values)} samples",
            )


def parts_summary(parts: dict[str, list[float]]) -> str:
    """The parts' p50 and p95, the largest p95 named, for the bench's output."""
    shown = ", ".join(
        f"{part} p50 {nearest_rank(values, 0.5):.2f} s p95 {nearest_rank(values, 0.95):.2f} s"
        for part, values in parts.items()
        if values
    )
    return f"{shown}; largest p95: {largest_p95(parts)}" if shown else "no parts"


def largest_p95(parts: dict[str, list[float]]) -> str:
    return max((part for part, values in parts.items() if values), key=lambda part: nearest_rank(parts[part], 0.95))
