"""Daily UTC partitions shared by the Front link tables (conversation day) and the histories (message day)."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg

from convo_pipelines.lib.settings import get_settings

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


# Asset jobs launched by schedules and sensors ignore backfill policies (https://github.com/dagster-io/dagster/issues/17404):
# these run tags make a range of partitions ONE run.
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def partition_range_tags(first_key: str, last_key: str) -> dict[str, str]:
    """Run tags that make the inclusive partition range first_key..last_key one run."""
    return {PARTITION_RANGE_START_TAG: first_key, PARTITION_RANGE_END_TAG: last_key}


def all_partition_keys_at(moment: datetime) -> tuple[str, str] | None:
    """First and last daily partition keys that exist at `moment` (today included), or None before the start."""
    with dg.partition_loading_context(effective_dt=moment):
        first = daily_partitions.get_first_partition_key()
        last = daily_partitions.get_last_partition_key()
    if first is None or last is None:
        return None
    return first, last
