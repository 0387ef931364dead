"""The link tables' asset jobs, launched by their schedules and the late-change sensor.

Selecting assets also selects their checks, so every run verifies what it wrote (the checks that follow a
run cost a fraction of it: see checks.py); the audit job runs the checks alone, comparing every row.
"""

import dagster as dg

from convo_pipelines.defs.links.assets import clients_front_conversations, people_front_conversations
from convo_pipelines.defs.links.project_assets import project_conversations

FRONT_LINK_ASSETS_DEFS = (people_front_conversations, clients_front_conversations)
link_assets = [*FRONT_LINK_ASSETS_DEFS, project_conversations]
# Asset names (= op names, = table names), for run config and the dev launcher's GraphQL.
FRONT_LINK_ASSETS = tuple(asset.key.to_user_string() for asset in FRONT_LINK_ASSETS_DEFS)
PROJECT_LINK_ASSETS = (project_conversations.key.to_user_string(),)

# Partitioned (inferred from the assets) by the Front conversation's created_at day; a range goes
# as one run through the range tags (see late_change_runs.py and schedules.py).
front_links_job = dg.define_asset_job(
    name="front_links_job",
    selection=dg.AssetSelection.assets(*FRONT_LINK_ASSETS_DEFS),
    description="Replaces the slice of the people and clients Front link tables for a day or a range of days, then checks it.",
)

# Not partitioned: each run reconciles the whole table (one row per conversation).
project_links_job = dg.define_asset_job(
    name="project_links_job",
    selection=dg.AssetSelection.assets(project_conversations),
    description="Reconciles project_conversations with conversations.project_id, then checks it.",
)

# The checks alone: each compares its whole table with the source (a check that does not follow a
# materialization in its run covers everything), on LINK_TABLES_AUDIT_CRON or launched from the UI.
link_tables_audit_job = dg.define_asset_job(
    name="link_tables_audit_job",
    selection=dg.AssetSelection.checks_for_assets(*FRONT_LINK_ASSETS_DEFS, project_conversations),
    description="Compares every row of the three link tables with the source: the complete checks, nothing written.",
)
