"""The histories' schedule: discovery of new chat messages (its freshness is a FreshnessPolicy on
histories_sessions, which Dagster evaluates itself). Each cron comes from the
environment (lib/settings.py validates it and names the variable when it is wrong); ENABLE_BACKGROUND_JOBS
decides whether they start running.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from croniter import croniter

from convo_pipelines.defs.automation import cron_schedule_from_settings
from convo_pipelines.defs.histories.jobs import HISTORIES_ASSETS, conversation_discovery_job
from convo_pipelines.defs.partitions import partition_range_tags
from convo_pipelines.lib.settings import get_settings


def discovery_partition_range(cron: str, timezone_name: str, scheduled: datetime) -> tuple[str, str] | None:
    """Partition keys from the previous tick's UTC day to the current tick's UTC day, or None before the start.

    The current tick is the last cron time at or before `scheduled` (a late tick still counts as
    itself); going back to the tick before it means a run just after midnight also re-reads the
    previous day, so a message at 23:59:58 is never missed.
    """
    local = scheduled.astimezone(ZoneInfo(timezone_name))
    current_tick = croniter(cron, local + timedelta(seconds=1)).get_prev(datetime)
    previous_tick = croniter(cron, current_tick).get_prev(datetime)
    first_day = max(previous_tick.astimezone(UTC).date(), get_settings().partitions_start_date)
    last_day = scheduled.astimezone(UTC).date()
    if last_day < get_settings().partitions_start_date:
        return None
    return first_day.isoformat(), last_day.isoformat()


def discovery_tick_run_config() -> dict:
    """Run config of a tick over today only (DiscoveryConfig.only_new_messages on every discovery asset):
    histories_sessions and conversation_summaries read only the messages written since their previous
    run, and no asset counts the whole day."""
    scope = {"config": {"only_new_messages": True}}
    return {"ops": dict.fromkeys(HISTORIES_ASSETS, scope)}


@cron_schedule_from_settings(
    get_settings().conversation_discovery_cron, job=conversation_discovery_job, name="conversation_discovery_schedule"
)
def conversation_discovery_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """Discovers new chat sessions and refreshes their summaries in ONE run per tick (CONVERSATION_DISCOVERY_CRON).

    The run covers the days from the previous tick to now, so the end of yesterday is read after midnight.
    A tick over today only reads just the messages written since the previous run; the tick whose range
    starts the day before recomputes both days fully, which once a day catches deleted messages and
    messages committed too late for the incremental ticks.
    """
    settings = get_settings()
    keys = discovery_partition_range(
        settings.conversation_discovery_cron, settings.schedule_timezone, context.scheduled_execution_time
    )
    if keys is None:
        return dg.SkipReason("No partition exists yet: PARTITIONS_START_DATE is in the future.")
    first_key, last_key = keys
    return dg.RunRequest(
        run_key=f"conversation-discovery:{context.scheduled_execution_time.isoformat()}",
        tags=partition_range_tags(first_key, last_key),
        run_config=discovery_tick_run_config() if first_key == last_key else None,
    )


discovery_schedules = [conversation_discovery_schedule]
