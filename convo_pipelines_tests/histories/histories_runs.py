"""Runs of the three histories assets over a range of partitions, and the metadata they record."""

from __future__ import annotations

from datetime import date

import dagster as dg

from convo_pipelines.defs.histories.assets import histories_assets
from convo_pipelines.defs.resources import PostgresResource

START = date(2024, 3, 1)
RANGE = ("2024-03-01", "2024-03-20")  # the generated sessions end before 2024-03-20


def run(
    postgres: PostgresResource, first: str, last: str | None = None, run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    """One run of the three histories assets over the partition range first..last (one partition by default)."""
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first}
    result = dg.materialize(histories_assets, resources={"postgres": postgres}, tags=tags, run_config=run_config)
    assert result.success
    return result


def metadata_of(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)][:1]
    return {key: value.value for key, value in event.materialization.metadata.items()}
