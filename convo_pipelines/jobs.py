"""The asset jobs the schedules and the late-change sensor launch: the link tables' and the histories'.

Selecting assets also selects their checks, so every run verifies what it wrote; discovery_freshness_job
selects one check alone.
"""

import dagster as dg

FRONT_LINK_ASSETS = ("people_front_conversations", "clients_front_conversations")
PROJECT_LINK_ASSETS = ("project_conversations",)

# Partitioned (inferred from the assets) by the Front conversation's created_at day; a range goes
# as one run through the range tags (see sensors.py and schedules.py).
front_links_job = dg.define_asset_job(
    name="front_links_job",
    selection=dg.AssetSelection.assets(*FRONT_LINK_ASSETS),
    description="Replaces the slice of the people and clients Front link tables for a day or a range of days, then checks it.",
)

# Not partitioned: each run reconciles the whole table (one row per conversation).
project_links_job = dg.define_asset_job(
    name="project_links_job",
    selection=dg.AssetSelection.assets(*PROJECT_LINK_ASSETS),
    description="Reconciles project_conversations with conversations.project_id, then checks it.",
)

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
