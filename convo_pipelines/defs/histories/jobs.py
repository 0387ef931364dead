"""The histories' asset job, launched by the discovery schedule, and their checks alone.

Selecting assets also selects their checks, so every run verifies what it wrote.
"""

import dagster as dg

from convo_pipelines.defs.histories.assets import histories_assets
from convo_pipelines.defs.histories.checks import histories_checks

# Asset names (= op names, = table names), for run config and the dev launcher's GraphQL.
HISTORIES_ASSETS = tuple(asset.key.to_user_string() for asset in histories_assets)

# Partitioned by message day (UTC); the discovery schedule sends a range as one run through the range tags.
conversation_discovery_job = dg.define_asset_job(
    name="conversation_discovery_job",
    selection=dg.AssetSelection.assets(*histories_assets),
    description="Discovers every crew's chat sessions for a day or a range of days, summarizes them, then checks them.",
)

# The checks alone: each covers its whole table (a check that does not follow a materialization in its
# run covers everything), for a script or a schedule of the user's own: what the UI's "Execute checks" does.
histories_audit_job = dg.define_asset_job(
    name="histories_audit_job",
    selection=dg.AssetSelection.checks(*histories_checks),
    description="Checks every row of the analytics tables and every crew's histories table: the complete checks, nothing written.",
)
