"""The code location: every asset, check, schedule, sensor and resource of convo_pipelines."""

import dagster as dg

from convo_pipelines.assets.histories import histories_assets
from convo_pipelines.assets.links import link_assets
from convo_pipelines.checks.histories import histories_checks
from convo_pipelines.checks.links import link_checks
from convo_pipelines.jobs import conversation_discovery_job, discovery_freshness_job, front_links_job, project_links_job
from convo_pipelines.resources import PostgresResource
from convo_pipelines.schedules import discovery_schedules, link_schedules
from convo_pipelines.sensors import link_sensors
from convo_pipelines.settings import get_settings

settings = get_settings()

defs = dg.Definitions(
    assets=[*link_assets, *histories_assets],
    asset_checks=[*link_checks, *histories_checks],
    schedules=[*link_schedules, *discovery_schedules],
    sensors=[*link_sensors],
    jobs=[front_links_job, project_links_job, conversation_discovery_job, discovery_freshness_job],
    resources={"postgres": PostgresResource.from_settings(settings)},
    # The work happens inside PostgreSQL, so a step needs no process of its own: one process per
    # run saves a Python start per asset and check and keeps a run's memory in one place.
    executor=dg.in_process_executor,
)
