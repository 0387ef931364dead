"""The histories' asset job, launched by the discovery schedule.

Selecting assets also selects their checks, so every run verifies what it wrote.
"""

import dagster as dg

from convo_pipelines.defs.histories.assets import conversation_summaries, daily_conversation_stats, histories_sessions

DISCOVERY_ASSETS_DEFS = (histories_sessions, conversation_summaries, daily_conversation_stats)
# Asset names (= op names, = table names), for run config and the dev launcher's GraphQL.
HISTORIES_ASSETS = tuple(asset.key.to_user_string() for asset in DISCOVERY_ASSETS_DEFS)

# Partitioned by message day (UTC); the discovery schedule sends a range as one run through the range tags.
conversation_discovery_job = dg.define_asset_job(
    name="conversation_discovery_job",
    selection=dg.AssetSelection.assets(*DISCOVERY_ASSETS_DEFS),
    description="Discovers every crew's chat sessions for a day or a range of days, summarizes them, then checks them.",
)
