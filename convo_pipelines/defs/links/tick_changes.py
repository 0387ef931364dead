"""What one tick of the late-change sensor reads from the application database: per job, the stamp buckets whose
fingerprint changed since the previous tick, followed to the Front partition days and the conversations whose
project link they may change, and the next cursor."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from convo_pipelines.defs.links.change_fingerprints import (
    FRONT_SOURCE,
    PROJECT_SOURCE,
    SOURCE_JOBS,
    ChangedBuckets,
    read_fingerprints,
)
from convo_pipelines.defs.links.sensor_cursor import SensorCursor, write_cursor
from convo_pipelines.defs.links.windows import estimate_conversations
from convo_pipelines.defs.partitions import first_partition_start, partitions_timeline
from convo_pipelines.lib.postgres.session import Session

# A lower bound no row is stamped after: the first tick's window, empty, so that it only sets the cursor.
NO_ROW_STAMPED_AFTER = datetime(9999, 12, 31, tzinfo=UTC)
# A run names at most this many conversations in its config (the UI shows it whole); a tick that names more
# asks for several runs.
MAX_NAMED_CONVERSATIONS = 2_000
# Past the first run's, a named conversation costs as much as this many conversations of a whole range of days
# recomputed, or of the whole project table reconciled, mostly its share of another run's process start: a change
# reaching more than one in that many of a range's conversations recomputes the whole range instead, and one
# reaching more than that share of all conversations reconciles the whole project table.
WHOLE_RANGE_PER_NAMED_CONVERSATION = 60
WHOLE_TABLE_PER_NAMED_CONVERSATION = 300

# One changed range of days: (first day, last day, conversations, their ids when cheaper to name than the range).
DayRange = tuple[date, date, int, list[str] | None]


@dataclass(frozen=True)
class TickChanges:
    """What one tick read: the next cursor, the jobs with a row written (or gone) since the previous tick, the Front
    day ranges, and the conversations whose project link may have changed (their count, and ids when few)."""

    cursor: str
    moments: dict[str, datetime]
    changed_jobs: set[str]
    day_ranges: list[DayRange]
    project_conversations: tuple[int, list[str] | None]


def first_tick_cursor(session: Session) -> str:
    """The cursor of the sensor's first tick: every job's window starts at the database's now() less the allowance
    (the database's clock, not this process's: the stamps compared with it were written for the database), with the
    fingerprints of that window's rows."""
    first = read_fingerprints(session, NO_ROW_STAMPED_AFTER)
    return write_cursor(dict.fromkeys(SOURCE_JOBS, first.next_after), first.since_next)


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


def find_changed_project_conversations(session: Session, changed: ChangedBuckets) -> tuple[int, list[str] | None]:
    """How many conversations a change to conversations or projects stamped in the `changed` buckets may have
    changed the project link of, and their ids when naming them costs less than reconciling the whole table."""
    count, conversation_ids = session.execute(
        session.sql("links/sensor/find_late_changed_project_conversations.sql"),
        {
            **changed.params(),
            "max_named_conversations": MAX_NAMED_CONVERSATIONS,
            "whole_table_per_named_conversation": WHOLE_TABLE_PER_NAMED_CONVERSATION,
            "conversations_estimate": estimate_conversations(session, "conversations"),
        },
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
            "whole_range_per_named_conversation": WHOLE_RANGE_PER_NAMED_CONVERSATION,
        },
    ).fetchall()
    return [tuple(row) for row in rows]


def partition_bounds() -> tuple[datetime, datetime]:
    """Start of the first partition (the SQL puts earlier conversations in it, as the assets do: see
    PartitionWindow) and end of the last partition that exists now (later days are not partitions yet)."""
    return first_partition_start(), partitions_timeline().end
