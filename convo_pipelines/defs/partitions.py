"""Daily UTC partitions shared by the Front link tables (conversation day) and the histories (message day)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import dagster as dg

from convo_pipelines.lib.settings import get_settings

# end_offset=1 makes today's partition exist, so the schedules and sensors can keep the
# current day fresh instead of waiting for it to end.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=get_settings().partitions_start_date.isoformat(),
    timezone="UTC",
    end_offset=1,
)


@dataclass(frozen=True)
class PartitionWindow:
    """The rows a run owns, by their UTC timestamp: [start, end), where None is unbounded.

    One rule for every asset, check and sensor: the first partition also owns everything dated
    before it (PARTITIONS_START_DATE), so a backfill of every partition covers the whole table;
    a run without a partition (a check launched alone) owns everything. A single partition and a
    single-run backfill of a range both arrive as one window, so both take the same code path.
    """

    start: datetime | None
    end: datetime | None
    # True when the window reaches the end of the last partition that exists now (today's), or has no end.
    reaches_last_partition: bool

    @property
    def unpartitioned(self) -> bool:
        return self.start is None and self.end is None

    @property
    def whole(self) -> bool:
        """Every partition that exists now, and what the first one owns before it."""
        return self.start is None and self.reaches_last_partition

    @property
    def one_day(self) -> bool:
        """One partition's own day, and nothing else dated before or after it."""
        return self.start is not None and self.end is not None and self.end - self.start == timedelta(days=1)

    @property
    def start_label(self) -> str:
        return "-infinity" if self.start is None else self.start.isoformat()

    @property
    def end_label(self) -> str:
        return "infinity" if self.end is None else self.end.isoformat()

    def owning_later_dates(self) -> PartitionWindow:
        """This window with its end opened when it reaches the last partition (today's), so that the last
        partition also owns what is dated after it, as the first owns what is dated before it: for rows
        that belong to some partition whatever their date (a Front conversation dated in the future by a
        skewed clock is linked like any other, and again by its own day's runs once that day exists)."""
        return replace(self, end=None) if self.reaches_last_partition else self

    def bounds(self, before_everything: datetime, after_everything: datetime) -> tuple[datetime, datetime]:
        """[start, end) with the unbounded ends replaced by the caller's SQL stand-ins for them."""
        return self.start or before_everything, self.end or after_everything


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def partition_window(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> PartitionWindow:
    """The run's PartitionWindow (see there)."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return PartitionWindow(start=None, end=None, reaches_last_partition=True)
    window = context.partition_time_window
    start, end = _utc(window.start), _utc(window.end)
    last = daily_partitions.get_last_partition_window()
    return PartitionWindow(
        start=None if start <= _utc(daily_partitions.start) else start,
        end=end,
        reaches_last_partition=last is None or end >= _utc(last.end),
    )


def partitions_timeline() -> PartitionWindow:
    """Where a row must be dated to belong to some partition that exists now: anything before the end
    of the last partition (today's), the first partition owning everything before it."""
    last = daily_partitions.get_last_partition_window()
    return PartitionWindow(start=None, end=_utc(last.end) if last else None, reaches_last_partition=True)


def first_partition_start() -> datetime:
    """Where the first partition begins (PARTITIONS_START_DATE, UTC midnight): rows dated earlier belong to it."""
    return _utc(daily_partitions.start)


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
