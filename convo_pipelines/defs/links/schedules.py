"""The link tables' schedules: the nightly full reconcile of each link table (LINK_TABLES_SYNC_CRON) and
the complete comparison of every row with the source (LINK_TABLES_AUDIT_CRON)."""

import dagster as dg

from convo_pipelines.defs.automation import cron_schedule_from_settings
from convo_pipelines.defs.links.jobs import front_links_job, link_tables_audit_job, project_links_job
from convo_pipelines.defs.partitions import all_partition_keys_at, partition_range_tags
from convo_pipelines.lib.settings import get_settings


@cron_schedule_from_settings(
    get_settings().link_tables_sync_cron, job=front_links_job, name="front_link_tables_sync_schedule"
)
def front_link_tables_sync_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """Reconciles both Front link tables over every partition in ONE run (LINK_TABLES_SYNC_CRON).

    Catches what the late-change sensor cannot see, such as hard deletes in the source.
    """
    keys = all_partition_keys_at(context.scheduled_execution_time)
    if keys is None:
        return dg.SkipReason("No partition exists yet: PARTITIONS_START_DATE is in the future.")
    first_key, last_key = keys
    return dg.RunRequest(
        run_key=f"front-link-tables-sync:{context.scheduled_execution_time.isoformat()}",
        tags=partition_range_tags(first_key, last_key),
    )


@cron_schedule_from_settings(
    get_settings().link_tables_sync_cron, job=project_links_job, name="project_link_tables_sync_schedule"
)
def project_link_tables_sync_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Reconciles project_conversations with conversations.project_id (LINK_TABLES_SYNC_CRON)."""
    return dg.RunRequest(run_key=f"project-link-tables-sync:{context.scheduled_execution_time.isoformat()}")


@cron_schedule_from_settings(
    get_settings().link_tables_audit_cron, job=link_tables_audit_job, name="link_tables_audit_schedule"
)
def link_tables_audit_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Compares every row of the link tables with the source (LINK_TABLES_AUDIT_CRON, weekly by default).

    The checks that follow each run compare a sample and trust the tables' validated constraints; this
    run scans and compares everything, so a wrong row outside every sample is still found.
    """
    return dg.RunRequest(run_key=f"link-tables-audit:{context.scheduled_execution_time.isoformat()}")


link_schedules = [front_link_tables_sync_schedule, project_link_tables_sync_schedule, link_tables_audit_schedule]
