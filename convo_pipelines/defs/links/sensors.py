"""The late-change sensor: re-materializes exactly the link-table partitions whose source changed."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import psycopg
from psycopg import sql

from convo_pipelines.defs.automation import background_status
from convo_pipelines.defs.links.jobs import (
    FRONT_LINK_ASSETS,
    FRONT_LINK_ASSETS_DEFS,
    front_links_job,
    project_links_job,
)
from convo_pipelines.defs.partitions import first_partition_start, partition_range_tags, partitions_timeline
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.db import LATE_COMMIT_ALLOWANCE

# A tick reads changes stamped up to now() - LATE_COMMIT_ALLOWANCE; anything later still (or a hard
# delete) is caught by the nightly sync.
CURSOR_KEY = "changes_through"
# Up to this many changed conversations in a range are named in the run's config, so the run
# recomputes just them (milliseconds); a larger change recomputes the whole range.
MAX_NAMED_CONVERSATIONS = 2_000


def read_cursor(cursor: str | None) -> datetime | None:
    """The upper bound of the changes already handled, or None on the first tick."""
    if not cursor:
        return None
    return datetime.fromisoformat(json.loads(cursor)[CURSOR_KEY])


def as_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def write_cursor(changes_through: datetime) -> str:
    return json.dumps({CURSOR_KEY: as_text(changes_through)})


def front_range_run_request(
    first_day: date, last_day: date, changes_through: datetime, conversation_ids: list[str] | None = None
) -> dg.RunRequest:
    """One front_links_job run for the inclusive day range; a single day is a plain partition run.

    With `conversation_ids` the run recomputes only those conversations of the range (see
    FrontLinksConfig.only_conversation_ids); without, the whole range. The run key names the days
    and the cursor's new bound: the same window always asks for the same run.
    """
    first_key, last_key = first_day.isoformat(), last_day.isoformat()
    run_key = f"late-changes:{first_key}...{last_key}:through:{as_text(changes_through)}"
    run_config = scoped_run_config(conversation_ids) if conversation_ids else None
    if first_key == last_key:
        return dg.RunRequest(
            job_name=front_links_job.name, run_key=run_key, partition_key=first_key, run_config=run_config
        )
    return dg.RunRequest(
        job_name=front_links_job.name,
        run_key=run_key,
        tags=partition_range_tags(first_key, last_key),
        run_config=run_config,
    )


def scoped_run_config(conversation_ids: list[str]) -> dict:
    """Run config that limits both Front link assets to these conversations."""
    scope = {"config": {"only_conversation_ids": conversation_ids}}
    return {"ops": dict.fromkeys(FRONT_LINK_ASSETS, scope)}


def fully_materialized_days(instance: dg.DagsterInstance) -> set[str]:
    """The partitions both Front link assets have been materialized for.

    A scoped run recomputes only the conversations the sensor names, so it is exact only on top of a
    partition that was whole before; a partition never materialized gets a whole-partition run instead,
    so a scoped run never makes a partly filled day look complete in Dagster.
    """
    keys = [instance.get_materialized_partitions(asset.key) for asset in FRONT_LINK_ASSETS_DEFS]
    return set.intersection(*keys)


def days_all_in(first_day: date, last_day: date, days: set[str]) -> bool:
    return all(
        (first_day + timedelta(days=offset)).isoformat() in days for offset in range((last_day - first_day).days + 1)
    )


def partition_bounds() -> tuple[datetime, datetime]:
    """Start of the first partition (the SQL puts earlier conversations in it, as the assets do: see
    PartitionWindow) and end of the last partition that exists now (later days are not partitions yet)."""
    return first_partition_start(), partitions_timeline().end


@dataclass(frozen=True)
class LateChanges:
    day_ranges: list[
        tuple[date, date, int, list[str] | None]
    ]  # (first day, last day, conversations, their ids when few)
    conversations: int  # conversations whose project may have changed
    projects: int


def find_late_changes(
    conn: psycopg.Connection, render: Callable[[str], sql.Composed], changes_after: datetime, changes_through: datetime
) -> LateChanges:
    """What changed in (changes_after, changes_through]: the two statements of a tick (`render` names a
    sql/ file and binds the schemas), also what `convo-pipelines bench` times."""
    partitions_start, partitions_end = partition_bounds()
    interval = {"changed_after": changes_after, "changed_through": changes_through}
    day_ranges = conn.execute(
        render("links/sensor/find_late_changed_front_day_ranges.sql"),
        {
            **interval,
            "partitions_start": partitions_start,
            "partitions_end": partitions_end,
            "max_named_conversations": MAX_NAMED_CONVERSATIONS,
        },
    ).fetchall()
    conversations, projects = conn.execute(render("links/sensor/count_late_project_changes.sql"), interval).fetchone()
    return LateChanges([tuple(row) for row in day_ranges], conversations, projects)


@dg.sensor(
    name="link_tables_late_changes_sensor",
    jobs=[front_links_job, project_links_job],
    minimum_interval_seconds=60,
    default_status=background_status(dg.DefaultSensorStatus),
    description="Re-materializes exactly the link-table partitions whose source rows changed (their "
    "greatest(created_at, updated_at)) since its cursor (one run per range of days), and project_conversations when conversations "
    "or projects changed.",
)
def link_tables_late_changes_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource) -> dg.SensorResult:
    """Finds source rows created or updated since the cursor and requests runs for exactly the affected
    link-table partitions (one run per range of consecutive days), plus project_conversations when
    conversations or projects changed. The first tick only sets the cursor: the nightly sync covers the past.
    """
    changes_after = read_cursor(context.cursor)
    with postgres.connect() as conn:
        conn.read_only = True
        # The database's clock, not this process's: the timestamps compared with it were written by the database.
        changes_through = conn.execute(
            postgres.sql("links/sensor/select_late_changes_bound.sql"), {"lag": LATE_COMMIT_ALLOWANCE}
        ).fetchone()[0]
        if changes_after is None:
            return dg.SensorResult(
                skip_reason="First tick: changes are tracked from now on.", cursor=write_cursor(changes_through)
            )
        if changes_through <= changes_after:
            return dg.SensorResult(skip_reason="No time has passed since the last tick.", cursor=context.cursor)
        changes = find_late_changes(conn, postgres.sql, changes_after, changes_through)
    day_ranges, changed_conversations, changed_projects = changes.day_ranges, changes.conversations, changes.projects

    complete_days = fully_materialized_days(context.instance)
    run_requests = [
        front_range_run_request(
            first, last, changes_through, conversation_ids if days_all_in(first, last, complete_days) else None
        )
        for first, last, _, conversation_ids in day_ranges
    ]
    if changed_conversations or changed_projects:
        run_requests.append(
            dg.RunRequest(
                job_name=project_links_job.name, run_key=f"late-changes:projects:through:{as_text(changes_through)}"
            )
        )
    context.log.info(
        f"Changes in ({changes_after.isoformat()}, {changes_through.isoformat()}]: {len(day_ranges)} Front day ranges, "
        f"{changed_conversations} conversations and {changed_projects} projects changed."
    )
    cursor = write_cursor(changes_through)
    if not run_requests:
        return dg.SensorResult(skip_reason="No source change since the last tick.", cursor=cursor)
    return dg.SensorResult(run_requests=run_requests, cursor=cursor)


link_sensors = [link_tables_late_changes_sensor]
