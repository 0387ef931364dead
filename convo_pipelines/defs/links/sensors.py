"""The late-change sensor: re-materializes exactly the link-table partitions whose source changed."""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from convo_pipelines.defs.automation import (
    background_status,
    has_run_waiting_to_start,
    sensor_minimum_interval,
)
from convo_pipelines.defs.links.jobs import (
    FRONT_LINK_ASSETS,
    FRONT_LINK_ASSETS_DEFS,
    PROJECT_LINK_ASSETS,
    front_links_job,
    project_links_job,
)
from convo_pipelines.defs.links.project_assets import project_conversations
from convo_pipelines.defs.partitions import first_partition_start, partition_range_tags, partitions_timeline
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.settings import get_settings
from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE

# Every tick reads the source rows stamped after its lower bound: the previous tick's moment less
# LATE_COMMIT_ALLOWANCE, so a row stamped before that tick but committed after it (a late commit, an app
# server whose clock is behind the database's) is still in the window. A fingerprint per job and per stamp
# bucket (CHANGE_BUCKET_SECONDS of stamps) tells which buckets had a row written since the previous tick,
# and only those buckets' rows are followed to the conversations they reach: a busy app's changes of the
# last two minutes are not recomputed at every tick, only the last seconds' and the late ones. A change older
# than the allowance, or a hard delete, is caught by the nightly sync. Each job has its own lower bound: a job
# whose previous run is still in the run queue keeps its bound and fingerprints, while the other job's changes go on.
LOWER_BOUND_KEY = "changes_after"
FINGERPRINTS_KEY = "fingerprints"
BUCKET_SECONDS_KEY = "bucket_seconds"
# Short buckets keep a tick's re-read to the seconds since the previous tick; each holds one fingerprint per
# job in the cursor, which Dagster stores with every tick. Stamps after the tick's moment share its bucket, so
# 2 s gives at most 61 per job (the allowance's 120 s, and the moment's).
CHANGE_BUCKET_SECONDS = 2
# The cursor's key before fingerprints: the bound through which every change had been handled.
LEGACY_BOUND_KEY = "changes_through"
# A lower bound no row is stamped after: the first tick's window, empty, so that it only sets the cursor.
NO_ROW_STAMPED_AFTER = datetime(9999, 12, 31, tzinfo=UTC)
LATE_CHANGES_SENSOR_NAME = "link_tables_late_changes_sensor"
# The fingerprint of no row: count 0, hash sum 0.
NO_ROWS = "0:0"
# The jobs select_change_fingerprints.sql fingerprints the source rows of.
FRONT_SOURCE = "front"
PROJECT_SOURCE = "project"
SOURCE_JOBS = (FRONT_SOURCE, PROJECT_SOURCE)
# Up to this many changed conversations (in a range of days, or whose project link may change) are named in
# the run's config, so the run recomputes just them (milliseconds); a larger change recomputes the whole range,
# or the whole project table.
MAX_NAMED_CONVERSATIONS = 2_000
# Dagster's queue launches runs of higher priority first, and gives their steps the pool's slots first. A
# project run is one short step, while the same tick's Front runs each recompute a range: launched after
# them, its process only started once theirs had, on the same cores.
PRIORITY_TAG = "dagster/priority"
PROJECT_RUN_PRIORITY = "1"
# A tick requests each change once: a run of it that fails (its process killed, a step out of retries) is
# not requested again by later ticks, whose buckets no longer change. Dagster's run retries (run_retries in
# dagster.yaml, done by the daemon) launch it once more, from the step that failed, on the source as it is then.
LATE_CHANGE_RUN_TAGS = {"dagster/max_retries": "1"}


# Per job, the fingerprint of each stamp bucket holding a row in the window (bucket number as text).
BucketFingerprints = dict[str, dict[str, str]]


@dataclass(frozen=True)
class SensorCursor:
    """Per job, where the next tick's window starts, and the fingerprints of its buckets as the previous tick saw
    them (None on the first tick, or after a cursor of an older format: every bucket then reads as changed)."""

    changes_after: dict[str, datetime]
    fingerprints: BucketFingerprints | None


def read_cursor(cursor: str | None) -> SensorCursor | None:
    if not cursor:
        return None
    fields = json.loads(cursor)
    if LOWER_BOUND_KEY in fields:
        bounds = fields[LOWER_BOUND_KEY]
        if isinstance(bounds, str):  # one bound for every job, as the cursor had before
            bounds = dict.fromkeys(SOURCE_JOBS, bounds)
        # Fingerprints of other buckets (or one per job, as before buckets) compare with nothing of this tick.
        same_buckets = fields.get(BUCKET_SECONDS_KEY) == CHANGE_BUCKET_SECONDS
        return SensorCursor(
            {job: datetime.fromisoformat(bound) for job, bound in bounds.items()},
            fields.get(FINGERPRINTS_KEY) if same_buckets else None,
        )
    # Everything through the old bound was handled; rows after it are new to this tick.
    return SensorCursor(dict.fromkeys(SOURCE_JOBS, datetime.fromisoformat(fields[LEGACY_BOUND_KEY])), None)


def as_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def write_cursor(changes_after: dict[str, datetime], fingerprints: BucketFingerprints) -> str:
    """The cursor: per job its lower bound and its buckets' fingerprints."""
    return json.dumps(
        {
            LOWER_BOUND_KEY: {job: as_text(bound) for job, bound in changes_after.items()},
            BUCKET_SECONDS_KEY: CHANGE_BUCKET_SECONDS,
            FINGERPRINTS_KEY: fingerprints,
        }
    )


@dataclass(frozen=True)
class ChangedBuckets:
    """The stamp buckets of one job's window whose fingerprint changed since the previous tick: the window's lower
    bound, the tick's moment (a later stamp counts in the moment's bucket) and the buckets' numbers."""

    changed_after: datetime
    moment: datetime
    numbers: list[int]

    def params(self) -> dict[str, object]:
        return {
            "changed_after": self.changed_after,
            "newest_bucket_stamp": self.moment,
            "bucket_seconds": CHANGE_BUCKET_SECONDS,
            "changed_buckets": self.numbers,
        }


@dataclass(frozen=True)
class TickFingerprints:
    """One read of the window after `changed_after`: the tick's moment, the next window's lower bound, and per job
    the fingerprints of the buckets over this window (to compare with the cursor's) and over the next one (to
    store)."""

    changed_after: datetime
    moment: datetime
    next_after: datetime
    since_cursor: BucketFingerprints
    since_next: BucketFingerprints

    def changed_buckets(self, job: str, previous: BucketFingerprints | None) -> ChangedBuckets | None:
        """The buckets of `job` with a row written (or gone) since the previous tick, or None if none; without its
        fingerprints, every bucket holding a row."""
        now, before = self.since_cursor.get(job, {}), (previous or {}).get(job, {})
        numbers = sorted(
            int(bucket)
            for bucket in now.keys() | before.keys()
            if now.get(bucket, NO_ROWS) != before.get(bucket, NO_ROWS)
        )
        return ChangedBuckets(self.changed_after, self.moment, numbers) if numbers else None


def read_fingerprints(session: Session, changes_after: datetime) -> TickFingerprints:
    rows = session.execute(
        session.sql("links/sensor/select_change_fingerprints.sql"),
        {"changed_after": changes_after, "allowance": LATE_COMMIT_ALLOWANCE, "bucket_seconds": CHANGE_BUCKET_SECONDS},
    ).fetchall()
    moment, next_after = rows[0][0], rows[0][1]
    since_cursor: BucketFingerprints = {job: {} for job in SOURCE_JOBS}
    since_next: BucketFingerprints = {job: {} for job in SOURCE_JOBS}
    for _, _, job, bucket, in_window, in_next_window in rows:
        if job is None:  # no row in the window
            continue
        since_cursor[job][str(bucket)] = in_window
        if in_next_window != NO_ROWS:
            since_next[job][str(bucket)] = in_next_window
    return TickFingerprints(changes_after, moment, next_after, since_cursor, since_next)


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


def project_run_request(changes_through: datetime, conversation_ids: list[str] | None = None) -> dg.RunRequest:
    """One project_links_job run: with `conversation_ids`, of the links of just those conversations (see
    ProjectLinksConfig.only_conversation_ids); without, of the whole table. Launched before the tick's Front
    runs (PRIORITY_TAG). The run key names the cursor's new bound: the same window always asks for the same run."""
    return dg.RunRequest(
        job_name=project_links_job.name,
        run_key=f"late-changes:projects:through:{as_text(changes_through)}",
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


def partition_bounds() -> tuple[datetime, datetime]:
    """Start of the first partition (the SQL puts earlier conversations in it, as the assets do: see
    PartitionWindow) and end of the last partition that exists now (later days are not partitions yet)."""
    return first_partition_start(), partitions_timeline().end


# One changed range of days: (first day, last day, conversations, their ids when few enough to name).
DayRange = tuple[date, date, int, list[str] | None]


def find_changed_project_conversations(session: Session, changed: ChangedBuckets) -> tuple[int, list[str] | None]:
    """How many conversations a change to conversations or projects stamped in the `changed` buckets may have
    changed the project link of, and their ids when at most MAX_NAMED_CONVERSATIONS."""
    count, conversation_ids = session.execute(
        session.sql("links/sensor/find_late_changed_project_conversations.sql"),
        {**changed.params(), "max_named_conversations": MAX_NAMED_CONVERSATIONS},
    ).fetchone()
    return count, conversation_ids


def find_changed_day_ranges(session: Session, changed: ChangedBuckets) -> list[DayRange]:
    """The ranges of Front partition days touched by rows stamped in the `changed` buckets: the statement a tick
    runs for the buckets whose fingerprints differ, also what `convo-pipelines bench` times."""
    partitions_start, partitions_end = partition_bounds()
    rows = session.execute(
        session.sql("links/sensor/find_late_changed_front_day_ranges.sql"),
        {
            **changed.params(),
            "partitions_start": partitions_start,
            "partitions_end": partitions_end,
            "max_named_conversations": MAX_NAMED_CONVERSATIONS,
        },
    ).fetchall()
    return [tuple(row) for row in rows]


@dataclass(frozen=True)
class TickChanges:
    """What one tick read: the next cursor, the jobs with a row written (or gone) since the previous tick, the Front
    day ranges, and the conversations whose project link may have changed (their count, and ids when few)."""

    cursor: str
    moments: dict[str, datetime]
    changed_jobs: set[str]
    day_ranges: list[DayRange]
    project_conversations: tuple[int, list[str] | None]


def read_tick_changes(session: Session, cursor: SensorCursor, held: set[str]) -> TickChanges:
    """Read the windows of the jobs not `held`, one statement per distinct lower bound; a held job keeps its bound
    and fingerprints in the next cursor, so its next tick reads everything since. Only the buckets whose
    fingerprint changed are followed to the conversations they reach."""
    previous = cursor.fingerprints or {}
    bounds = dict(cursor.changes_after)
    fingerprints = {job: previous[job] for job in held if job in previous}
    moments: dict[str, datetime] = {}
    changed: dict[str, ChangedBuckets] = {}
    read = [job for job in SOURCE_JOBS if job not in held]
    for changes_after in sorted({cursor.changes_after[job] for job in read}):
        jobs = {job for job in read if cursor.changes_after[job] == changes_after}
        tick = read_fingerprints(session, changes_after)
        for job in jobs:
            if buckets := tick.changed_buckets(job, cursor.fingerprints):
                changed[job] = buckets
            moments[job] = tick.moment
            bounds[job] = tick.next_after
            fingerprints[job] = tick.since_next[job]
    day_ranges = find_changed_day_ranges(session, changed[FRONT_SOURCE]) if FRONT_SOURCE in changed else []
    project = (
        find_changed_project_conversations(session, changed[PROJECT_SOURCE]) if PROJECT_SOURCE in changed else (0, None)
    )
    return TickChanges(write_cursor(bounds, fingerprints), moments, set(changed), day_ranges, project)


@dg.sensor(
    name=LATE_CHANGES_SENSOR_NAME,
    jobs=[front_links_job, project_links_job],
    minimum_interval_seconds=sensor_minimum_interval(get_settings().late_changes_sensor_seconds),
    default_status=background_status(dg.DefaultSensorStatus),
    description="Re-materializes exactly the link-table partitions whose source rows changed (their "
    "greatest(created_at, updated_at)) since its previous tick, less the late-commit allowance (one run per "
    "range of days), and the project_conversations links of the conversations or projects that changed.",
)
def link_tables_late_changes_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource) -> dg.SensorResult:
    """Reads the source rows stamped after the cursor's lower bounds and requests runs for exactly the affected
    link-table partitions (one run per range of consecutive days), plus a project_conversations run for the
    conversations whose project link may have changed, as soon as a tick sees the change: a fingerprint of each
    job's window says whether anything in it was written since the previous tick. The first tick only sets the
    cursor: the nightly sync covers the past."""
    cursor = read_cursor(context.cursor)
    held = jobs_waiting_to_start(context.instance) if cursor is not None else set()
    if held == set(SOURCE_JOBS):
        # Its cursor stays: the first tick after the queue launches those runs reads every change since, for one run per
        # job, so runs never pile up in the queue when the app changes more than the runs keep up with.
        return dg.SensorResult(
            skip_reason="Waiting for this sensor's previous runs to leave the run queue.", cursor=context.cursor
        )
    with postgres.session() as session:
        session.conn.read_only = True
        # The database's clock, not this process's: the stamps compared with it were written for the database.
        if cursor is None:
            first = read_fingerprints(session, NO_ROW_STAMPED_AFTER)
            return dg.SensorResult(
                skip_reason="First tick: changes are tracked from now on.",
                cursor=write_cursor(dict.fromkeys(SOURCE_JOBS, first.next_after), first.since_next),
            )
        changes = read_tick_changes(session, cursor, held)
    run_requests = []
    project_count, project_ids = changes.project_conversations
    # A change that reaches no conversation (a project created empty, a row deleted: its links cascade) needs no run.
    if project_count:
        scoped = project_ids if project_ids and project_links_materialized(context.instance) else None
        run_requests.append(project_run_request(changes.moments[PROJECT_SOURCE], scoped))
    complete_days = fully_materialized_days(context.instance) if changes.day_ranges else set()
    run_requests += [
        front_range_run_request(
            first,
            last,
            changes.moments[FRONT_SOURCE],
            conversation_ids if days_all_in(first, last, complete_days) else None,
        )
        for first, last, _, conversation_ids in changes.day_ranges
    ]
    context.log.info(
        f"Rows stamped after {', '.join(f'{job} {as_text(bound)}' for job, bound in cursor.changes_after.items())}: "
        f"written since the previous tick for {sorted(changes.changed_jobs) or 'no job'}; "
        f"{len(changes.day_ranges)} Front day ranges; "
        f"{changes.project_conversations[0]} conversations whose project link may have changed"
        + (f"; waiting for the previous {sorted(held)} run to leave the run queue" if held else "")
        + "."
    )
    if not run_requests:
        return dg.SensorResult(skip_reason="No source change since the last tick.", cursor=changes.cursor)
    return dg.SensorResult(run_requests=run_requests, cursor=changes.cursor)


link_sensors = [link_tables_late_changes_sensor]
