"""The code location: every asset, check, schedule, sensor and resource of convo_pipelines."""

import dagster as dg

from convo_pipelines.resources import PostgresResource
from convo_pipelines.settings import get_settings

settings = get_settings()

defs = dg.Definitions(
    assets=[],
    asset_checks=[],
    schedules=[],
    sensors=[],
    resources={"postgres": PostgresResource.from_settings(settings)},
)
