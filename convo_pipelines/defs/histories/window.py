"""A discovery run's window: its UTC bounds, the days it covers, and its slices."""

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from convo_pipelines.defs.partitions import PartitionWindow, daily_partitions, partition_window, partitions_timeline

# What the histories' SQL binds for the unbounded ends of a PartitionWindow. The lower one is also a data
# rule: a message dated before 1900 belongs to no day, so it is skipped and counted as out of range.
BEFORE_EVERY_MESSAGE = datetime(1900, 1, 1, tzinfo=UTC)
AFTER_EVERY_MESSAGE = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """A run's half-open UTC window and the same window as activity dates, unbounded ends bound as
    BEFORE_EVERY_MESSAGE / AFTER_EVERY_MESSAGE."""

    start: datetime
    end: datetime
    # What the run's PartitionWindow says of itself (whole, one_day, unpartitioned); a slice is none of them.
    whole: bool = False
    one_day: bool = False
    unpartitioned: bool = False

    @classmethod
    def of(cls, window: PartitionWindow) -> "Window":
        start, end = window.bounds(BEFORE_EVERY_MESSAGE, AFTER_EVERY_MESSAGE)
        return cls(start, end, whole=window.whole, one_day=window.one_day, unpartitioned=window.unpartitioned)

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def end_day(self) -> date:
        # Partition windows start and end at UTC midnight, so the end day is exclusive too.
        return self.end.date()

    def params(self) -> dict[str, object]:
        return {
            "window_start": self.start,
            "window_end": self.end,
            "first_day": self.first_day,
            "end_day": self.end_day,
        }

    def slices(self, days: int) -> list["Window"]:
        """This window cut at UTC midnights into consecutive windows of at most `days` days of the partitions
        that exist, the first and the last keeping this window's own ends (an unbounded one, say)."""
        first = max(self.start, daily_partitions.start.astimezone(UTC))
        last = min(self.end, messages_timeline().end)
        step = timedelta(days=days)
        cuts = []
        cut = first + step
        while cut < last:
            cuts.append(cut)
            cut += step
        edges = [self.start, *cuts, self.end]
        return [Window(start, end) for start, end in itertools.pairwise(edges)]

    def label(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def run_window(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> Window:
    """The run's messages window [start, end) in UTC (see PartitionWindow: the first partition also
    counts the messages written before PARTITIONS_START_DATE, as the link tables do)."""
    return Window.of(partition_window(context))


def messages_timeline() -> Window:
    """Where a message must be dated to belong to a partition (see partitions_timeline). A message dated
    outside belongs to no day, so no run would ever write its session-day: it is skipped and counted."""
    return Window.of(partitions_timeline())
