"""The histories' asset jobs, launched by the discovery schedule.

Selecting assets also selects their checks, so every run verifies what it wrote; discovery_freshness_job
selects one check alone.
"""

import dagster as dg

HISTORIES_ASSETS = ("histories_sessions", "conversation_summaries", "daily_conversation_stats")

# Partitioned by message day (UTC); the discovery schedule sends a range as one run through the range tags.
conversation_discovery_job = dg.define_asset_job(
    name="conversation_discovery_job",
    selection=dg.AssetSelection.assets(*HISTORIES_ASSETS),
    description="Discovers every crew's chat sessions for a day or a range of days, summarizes them, then checks them.",
)

# Inside a discovery run the freshness check always passes (the run just materialized), so it is
# also evaluated on its own, where a stalled or failing discovery shows.
discovery_freshness_job = dg.define_asset_job(
    name="discovery_freshness_job",
    selection=dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey("histories_sessions"), "discovery_fresh")),
    description="Evaluates only the discovery_fresh check: has the discovery succeeded within two cron intervals?",
)
