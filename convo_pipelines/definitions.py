"""The code location: every asset, check, schedule, sensor and resource of convo_pipelines."""

import sys

import dagster as dg

from convo_pipelines.lib.settings import ConfigError, get_settings

# Read before the modules below, which use the settings as they are imported. A wrong value is one line
# naming the variable, the value and the expected form; the frames of the imports that found it add
# nothing. Python prints an uncaught error, and Dagster a code location's load error, with the traceback
# module, which honours tracebacklimit: the `dagster` CLI then prints that one line (exit code 1).
try:
    settings = get_settings()
except ConfigError:
    sys.tracebacklimit = 0
    raise

from convo_pipelines.defs.alerts import alert_sensors
from convo_pipelines.defs.histories.assets import histories_assets
from convo_pipelines.defs.histories.checks import histories_checks
from convo_pipelines.defs.histories.jobs import conversation_discovery_job, histories_audit_job
from convo_pipelines.defs.histories.schedules import discovery_schedules
from convo_pipelines.defs.histories.sensors import discovery_sensors
from convo_pipelines.defs.links.checks import link_checks
from convo_pipelines.defs.links.jobs import front_links_job, link_assets, link_tables_audit_job, project_links_job
from convo_pipelines.defs.links.schedules import link_schedules
from convo_pipelines.defs.links.sensors import link_sensors
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.defs.sources import source_assets

defs = dg.Definitions(
    assets=[*source_assets, *link_assets, *histories_assets],
    asset_checks=[*link_checks, *histories_checks],
    schedules=[*link_schedules, *discovery_schedules],
    sensors=[*link_sensors, *discovery_sensors, *alert_sensors],
    jobs=[front_links_job, project_links_job, link_tables_audit_job, conversation_discovery_job, histories_audit_job],
    resources={"postgres": PostgresResource.from_settings(settings)},
    # The work happens inside PostgreSQL, so a step needs no process of its own: one process per
    # run saves a Python start per asset and check and keeps a run's memory in one place.
    executor=dg.in_process_executor,
)
