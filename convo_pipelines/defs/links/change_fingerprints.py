"""The late-change sensor's fingerprints: per job and per stamp bucket, how many source rows of a tick's window
there are and a sum of their hashes, and the buckets whose fingerprint differs from the previous tick's."""

from dataclasses import dataclass
from datetime import datetime

from psycopg import sql

from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE

# Every tick reads the source rows stamped after its lower bound: the previous tick's moment less
# LATE_COMMIT_ALLOWANCE, so a row stamped before that tick but committed after it (a late commit, an app
# server whose clock is behind the database's) is still in the window. A fingerprint per job and per stamp
# bucket (CHANGE_BUCKET_SECONDS of stamps) tells which buckets had a row written since the previous tick,
# and only those buckets' rows are followed to the conversations they reach: a busy app's changes of the
# last two minutes are not recomputed at every tick, only the last seconds' and the late ones. A change older
# than the allowance, or a hard delete, is caught by the nightly sync. Each job has its own lower bound: a job
# whose previous run is still in the run queue keeps its bound and fingerprints, while the other job's changes go on.

# Short buckets keep a tick's re-read to the seconds since the previous tick; each holds one fingerprint per
# job in the cursor, which Dagster stores with every tick. Stamps after the tick's moment share its bucket, so
# 2 s gives at most 61 per job (the allowance's 120 s, and the moment's).
CHANGE_BUCKET_SECONDS = 2
# The fingerprint of no row: count 0, hash sum 0.
NO_ROWS = "0:0"
# The jobs select_change_fingerprints.sql fingerprints the source rows of, each with the watched tables whose
# changes it re-runs for.
FRONT_SOURCE = "front"
PROJECT_SOURCE = "project"
SOURCE_JOBS = (FRONT_SOURCE, PROJECT_SOURCE)
# The source tables the late-change sensor reads by their change stamp, greatest(created_at, updated_at), by the job
# a change to them re-runs (front_links_job, project_links_job); the late_change_indexes check names any unindexed.
FRONT_CHANGE_WATCHED_TABLES = (
    "people",
    "contact_methods",
    "front_message_recipients",
    "front_messages",
    "front_conversations",
)
PROJECT_CHANGE_WATCHED_TABLES = ("conversations", "projects")
CHANGE_WATCHED_TABLES = (*FRONT_CHANGE_WATCHED_TABLES, *PROJECT_CHANGE_WATCHED_TABLES)


CHANGE_INDEX_SUFFIX = "_changed_at_idx"


def change_index_name(table: str) -> str:
    """The name the late_change_indexes check gives the index it recommends on `table`."""
    return f"{table}{CHANGE_INDEX_SUFFIX}"


def change_index_params() -> dict[str, object]:
    """What check_late_change_indexes.sql binds besides the schema: the watched tables, the index names' suffix."""
    return {"watched_tables": list(CHANGE_WATCHED_TABLES), "index_suffix": CHANGE_INDEX_SUFFIX}


WATCHED_TABLES_OF_JOB = {FRONT_SOURCE: FRONT_CHANGE_WATCHED_TABLES, PROJECT_SOURCE: PROJECT_CHANGE_WATCHED_TABLES}


# Per job, the fingerprint of each stamp bucket holding a row in the window (bucket number as text).
BucketFingerprints = dict[str, dict[str, str]]


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


def job_param(job: str) -> str:
    """The name of the value that select_stamped_rows.sql binds as the job of `job`'s tables."""
    return f"{job}_job"


def change_fingerprints_query(session: Session, changes_after: datetime) -> tuple[sql.Composed, dict[str, object]]:
    """select_change_fingerprints.sql over the rows stamped after `changes_after`, and the values it binds: its
    stamped rows are one select_stamped_rows.sql per watched table, each table quoted as an identifier and its job
    bound as a value, so that each table keeps its own index range scan."""
    stamped_rows = sql.SQL("\n    union all\n").join(
        session.sql("links/sensor/select_stamped_rows.sql", job=sql.Placeholder(job_param(job)), watched_table=table)
        for job, tables in WATCHED_TABLES_OF_JOB.items()
        for table in tables
    )
    params = {
        "changed_after": changes_after,
        "allowance": LATE_COMMIT_ALLOWANCE,
        "bucket_seconds": CHANGE_BUCKET_SECONDS,
        **{job_param(job): job for job in WATCHED_TABLES_OF_JOB},
    }
    return session.sql("links/sensor/select_change_fingerprints.sql", stamped_rows=stamped_rows), params


def read_fingerprints(session: Session, changes_after: datetime) -> TickFingerprints:
    rows = session.execute(*change_fingerprints_query(session, changes_after)).fetchall()
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
