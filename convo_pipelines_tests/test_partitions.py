"""The one partition-window rule every asset, check and sensor shares: the first partition also owns
everything dated before PARTITIONS_START_DATE (2024-01-01 in the tests), a run without partition owns everything."""

from datetime import UTC, datetime

import dagster as dg

from convo_pipelines.defs.links.tables import BEGINNING_OF_TIME, END_OF_TIME
from convo_pipelines.defs.partitions import PartitionWindow, daily_partitions, first_partition_start, partition_window


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dg.asset(partitions_def=daily_partitions, backfill_policy=dg.BackfillPolicy.single_run())
def window_probe(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Records the PartitionWindow of its run."""
    window = partition_window(context)
    return dg.MaterializeResult(
        metadata={
            "start": str(window.start),
            "end": str(window.end),
            "whole": window.whole,
            "unpartitioned": window.unpartitioned,
        }
    )


def probe(**kwargs: object) -> dict[str, object]:
    result = dg.materialize([window_probe], instance=dg.DagsterInstance.ephemeral(), **kwargs)
    [materialization] = result.asset_materializations_for_node("window_probe")[:1]
    return {key: value.value for key, value in materialization.metadata.items()}


def test_the_first_partition_opens_at_the_beginning_of_time() -> None:
    assert first_partition_start() == utc(2024, 1, 1)
    assert probe(partition_key="2024-01-01") == {
        "start": "None",
        "end": str(utc(2024, 1, 2)),
        "whole": False,
        "unpartitioned": False,
    }


def test_a_range_after_the_first_partition_is_its_days_and_a_range_from_it_opens() -> None:
    later = probe(
        tags={"dagster/asset_partition_range_start": "2024-01-03", "dagster/asset_partition_range_end": "2024-01-05"}
    )
    assert (later["start"], later["end"], later["whole"]) == (str(utc(2024, 1, 3)), str(utc(2024, 1, 6)), False)
    opened = probe(
        tags={"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-02"}
    )
    assert (opened["start"], opened["end"]) == ("None", str(utc(2024, 1, 3)))


def test_each_domain_binds_the_open_ends_its_own_way() -> None:
    first_days = PartitionWindow(start=None, end=utc(2024, 1, 3), reaches_last_partition=False)
    assert first_days.bounds(BEGINNING_OF_TIME, END_OF_TIME) == (BEGINNING_OF_TIME, utc(2024, 1, 3))
    everything = PartitionWindow(start=None, end=None, reaches_last_partition=True)
    assert everything.whole and everything.unpartitioned
    assert everything.bounds(BEGINNING_OF_TIME, END_OF_TIME) == (BEGINNING_OF_TIME, END_OF_TIME)
    up_to_today = PartitionWindow(start=None, end=utc(2030, 1, 1), reaches_last_partition=True)
    assert up_to_today.whole and not up_to_today.unpartitioned
