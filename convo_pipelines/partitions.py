"""Daily UTC partitions shared by the Front link tables (conversation day) and the histories (message day)."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg

from convo_pipelines.settings import get_settings

# end_offset=1 makes today's partition exist, so the schedules and sensors can keep the
# current day fresh instead of waiting for it to end.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=get_settings().partitions_start_date.isoformat(),
    timezone="UTC",
    end_offset=1,
)


def window_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> tuple[datetime, datetime] | None:
    """The run's half-open UTC window [start, end), or None when the run is not partitioned.

    A single partition and a single-run backfill of a range both arrive here as one window,
    so every asset takes the same code path for both.
    """
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    return window.start.astimezone(timezone.utc), window.end.astimezone(timezone.utc)
