"""The late-change sensor: re-materializes exactly the link-table partitions whose source changed.

A tick reads its cursor (sensor_cursor.py), the fingerprints of the source rows stamped in each job's window
(change_fingerprints.py) and what the changed ones reach (tick_changes.py), then requests the runs for them
(late_change_runs.py)."""

from datetime import datetime

import dagster as dg

from convo_pipelines.defs.automation import background_status, sensor_minimum_interval
from convo_pipelines.defs.links.change_fingerprints import SOURCE_JOBS
from convo_pipelines.defs.links.jobs import front_links_job, project_links_job
from convo_pipelines.defs.links.late_change_runs import (
    LATE_CHANGES_SENSOR_NAME,
    jobs_waiting_to_start,
    late_change_run_requests,
)
from convo_pipelines.defs.links.sensor_cursor import as_text, read_cursor
from convo_pipelines.defs.links.tick_changes import (
    MAX_NAMED_CONVERSATIONS,
    TickChanges,
    first_tick_cursor,
    read_tick_changes,
)
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.settings import get_settings


@dg.sensor(
    name=LATE_CHANGES_SENSOR_NAME,
    jobs=[front_links_job, project_links_job],
    minimum_interval_seconds=sensor_minimum_interval(get_settings().late_changes_sensor_seconds),
    default_status=background_status(dg.DefaultSensorStatus),
    description="Re-materializes exactly the link-table partitions whose source rows changed (their "
    "greatest(created_at, updated_at)) since its previous tick, less the late-commit allowance (per range of "
    "days, one run, or scoped runs naming at most "
    f"{MAX_NAMED_CONVERSATIONS:,} conversations each), and the project_conversations links of the conversations "
    "or projects that changed.",
)
def link_tables_late_changes_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource) -> dg.SensorResult:
    """Reads the source rows stamped after the cursor's lower bounds and requests runs for exactly the affected
    link-table partitions (per range of consecutive days, one run or several scoped ones), plus project_conversations
    runs for the conversations whose project link may have changed, as soon as a tick sees the change: a
    fingerprint of each job's window says whether anything in it was written since the previous tick. The first
    tick only sets the cursor: the nightly sync covers the past."""
    cursor = read_cursor(context.cursor)
    held = jobs_waiting_to_start(context.instance) if cursor is not None else set()
    if held == set(SOURCE_JOBS):
        # Its cursor stays: the first tick after the queue launches those runs reads every change since, for one tick's
        # runs, so runs never pile up in the queue when the app changes more than the runs keep up with.
        return dg.SensorResult(
            skip_reason="Waiting for this sensor's previous runs to leave the run queue.", cursor=context.cursor
        )
    with postgres.session() as session:
        session.conn.read_only = True
        if cursor is None:
            return dg.SensorResult(
                skip_reason="First tick: changes are tracked from now on.", cursor=first_tick_cursor(session)
            )
        changes = read_tick_changes(session, cursor, held)
    run_requests = late_change_run_requests(context.instance, changes)
    context.log.info(tick_summary(cursor.changes_after, changes, held))
    if not run_requests:
        return dg.SensorResult(skip_reason="No source change since the last tick.", cursor=changes.cursor)
    return dg.SensorResult(run_requests=run_requests, cursor=changes.cursor)


def tick_summary(changes_after: dict[str, datetime], changes: TickChanges, held: set[str]) -> str:
    """The tick's log line: each job's window, the jobs written since the previous tick, what they reach."""
    return (
        f"Rows stamped after {', '.join(f'{job} {as_text(bound)}' for job, bound in changes_after.items())}: "
        f"written since the previous tick for {sorted(changes.changed_jobs) or 'no job'}; "
        f"{len(changes.day_ranges)} Front day ranges; "
        f"{changes.project_conversations[0]} conversations whose project link may have changed"
        + (f"; waiting for the previous {sorted(held)} run to leave the run queue" if held else "")
        + "."
    )


link_sensors = [link_tables_late_changes_sensor]
