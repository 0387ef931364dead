"""The runs the late-change sensor requests for what a tick read, and what it asks the Dagster instance first: which
days and tables were materialized whole (a scoped run is exact only on top of them), and which jobs have a run the
sensor requested still in the run queue."""

from datetime import date, datetime, timedelta

import dagster as dg

from convo_pipelines.defs.automation import has_run_waiting_to_start
from convo_pipelines.defs.links import tick_changes
from convo_pipelines.defs.links.change_fingerprints import FRONT_SOURCE, PROJECT_SOURCE
from convo_pipelines.defs.links.jobs import (
    FRONT_LINK_ASSETS,
    FRONT_LINK_ASSETS_DEFS,
    PROJECT_LINK_ASSETS,
    front_links_job,
    project_links_job,
)
from convo_pipelines.defs.links.project_assets import project_conversations
from convo_pipelines.defs.links.sensor_cursor import as_text
from convo_pipelines.defs.links.tick_changes import TickChanges
from convo_pipelines.defs.partitions import partition_range_tags

LATE_CHANGES_SENSOR_NAME = "link_tables_late_changes_sensor"
# Dagster's queue launches runs of higher priority first, and gives their steps the pool's slots first. A
# project run is one short step, while the same tick's Front runs each recompute a range: launched after
# them, its process only started once theirs had, on the same cores.
PRIORITY_TAG = "dagster/priority"
PROJECT_RUN_PRIORITY = "1"
# A tick requests each change once: a run of it that fails (its process killed, a step out of retries) is
# not requested again by later ticks, whose buckets no longer change. Dagster's run retries (run_retries in
# dagster.yaml, done by the daemon) launch it once more, from the step that failed, on the source as it is then.
LATE_CHANGE_RUN_TAGS = {"dagster/max_retries": "1"}


def late_change_run_requests(instance: dg.DagsterInstance, changes: TickChanges) -> list[dg.RunRequest]:
    """The runs for what a tick read: project_conversations runs first, when a change reaches a conversation (a
    project created empty, a row deleted, whose links cascade, needs none), then Front runs per range of days.
    A run names its conversations (at most MAX_NAMED_CONVERSATIONS: more go to several runs) only on top of a table
    or days a whole run made exact."""
    run_requests = []
    project_count, project_ids = changes.project_conversations
    if project_count:
        scoped = project_ids if project_ids and project_links_materialized(instance) else None
        run_requests += [
            project_run_request(changes.moments[PROJECT_SOURCE], part, named) for part, named in in_parts(scoped)
        ]
    complete_days = fully_materialized_days(instance) if changes.day_ranges else set()
    for first, last, _, conversation_ids in changes.day_ranges:
        scoped = conversation_ids if days_all_in(first, last, complete_days) else None
        run_requests += [
            front_range_run_request(first, last, changes.moments[FRONT_SOURCE], named, part)
            for part, named in in_parts(scoped)
        ]
    return run_requests


def in_parts(conversation_ids: list[str] | None) -> list[tuple[str, list[str] | None]]:
    """(run key suffix, conversations) of each run that names `conversation_ids`, at most MAX_NAMED_CONVERSATIONS
    each; one whole run ("", None) when there are none to name."""
    if not conversation_ids:
        return [("", None)]
    size = tick_changes.MAX_NAMED_CONVERSATIONS
    parts = range(0, len(conversation_ids), size)
    if len(parts) == 1:
        return [("", conversation_ids)]
    return [
        (f":part:{number}/{len(parts)}", conversation_ids[start : start + size])
        for number, start in enumerate(parts, start=1)
    ]


def front_range_run_request(
    first_day: date,
    last_day: date,
    changes_through: datetime,
    conversation_ids: list[str] | None = None,
    part: str = "",
) -> dg.RunRequest:
    """One front_links_job run for the inclusive day range; a single day is a plain partition run.

    With `conversation_ids` the run recomputes only those conversations of the range (see
    FrontLinksConfig.only_conversation_ids); without, the whole range. The run key names the days,
    the cursor's new bound and the `part` of the conversations: the same window always asks for the same runs.
    """
    first_key, last_key = first_day.isoformat(), last_day.isoformat()
    run_key = f"late-changes:{first_key}...{last_key}:through:{as_text(changes_through)}{part}"
    run_config = scoped_run_config(conversation_ids) if conversation_ids else None
    if first_key == last_key:
        return dg.RunRequest(
            job_name=front_links_job.name,
            run_key=run_key,
            partition_key=first_key,
            run_config=run_config,
            tags=LATE_CHANGE_RUN_TAGS,
        )
    return dg.RunRequest(
        job_name=front_links_job.name,
        run_key=run_key,
        tags={**partition_range_tags(first_key, last_key), **LATE_CHANGE_RUN_TAGS},
        run_config=run_config,
    )


def scoped_run_config(conversation_ids: list[str], assets: tuple[str, ...] = FRONT_LINK_ASSETS) -> dict:
    """Run config that limits the link assets (both Front ones by default) to these conversations."""
    scope = {"config": {"only_conversation_ids": conversation_ids}}
    return {"ops": dict.fromkeys(assets, scope)}


def project_run_request(
    changes_through: datetime, part: str = "", conversation_ids: list[str] | None = None
) -> dg.RunRequest:
    """One project_links_job run: with `conversation_ids`, of the links of just those conversations (see
    ProjectLinksConfig.only_conversation_ids); without, of the whole table. Launched before the tick's Front
    runs (PRIORITY_TAG). The run key names the cursor's new bound and the `part` of the conversations: the same
    window always asks for the same runs."""
    return dg.RunRequest(
        job_name=project_links_job.name,
        run_key=f"late-changes:projects:through:{as_text(changes_through)}{part}",
        run_config=scoped_run_config(conversation_ids, PROJECT_LINK_ASSETS) if conversation_ids else None,
        tags={PRIORITY_TAG: PROJECT_RUN_PRIORITY, **LATE_CHANGE_RUN_TAGS},
    )


def fully_materialized_days(instance: dg.DagsterInstance) -> set[str]:
    """The partitions both Front link assets have been materialized for.

    A scoped run recomputes only the conversations the sensor names, so it is exact only on top of a
    partition that was whole before; a partition never materialized gets a whole-partition run instead,
    so a scoped run never makes a partly filled day look complete in Dagster.
    """
    keys = [instance.get_materialized_partitions(asset.key) for asset in FRONT_LINK_ASSETS_DEFS]
    return set.intersection(*keys)


def jobs_waiting_to_start(instance: dg.DagsterInstance) -> set[str]:
    """The sources (FRONT_SOURCE, PROJECT_SOURCE) whose job has a run this sensor requested still in the run queue."""
    return {
        source
        for source, job in ((FRONT_SOURCE, front_links_job.name), (PROJECT_SOURCE, project_links_job.name))
        if has_run_waiting_to_start(instance, LATE_CHANGES_SENSOR_NAME, job)
    }


def project_links_materialized(instance: dg.DagsterInstance) -> bool:
    """Whether project_conversations was ever materialized in this instance: a scoped run is exact only on top of
    a table a whole run made exact, so before that the sensor asks for the whole table."""
    return instance.get_latest_materialization_event(project_conversations.key) is not None


def days_all_in(first_day: date, last_day: date, days: set[str]) -> bool:
    return all(
        (first_day + timedelta(days=offset)).isoformat() in days for offset in range((last_day - first_day).days + 1)
    )
