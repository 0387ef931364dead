"""The late-change sensor's cursor, as JSON: per job, where the next tick's window starts and the fingerprints of
its stamp buckets. A cursor of another shape (one bound for every job, or `changes_through`) reads as the same
bounds, without fingerprints."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from convo_pipelines.defs.links.change_fingerprints import CHANGE_BUCKET_SECONDS, SOURCE_JOBS, BucketFingerprints

LOWER_BOUND_KEY = "changes_after"
FINGERPRINTS_KEY = "fingerprints"
BUCKET_SECONDS_KEY = "bucket_seconds"
# The key of a cursor holding one bound and no fingerprints: the bound through which every change had been handled.
THROUGH_BOUND_KEY = "changes_through"


@dataclass(frozen=True)
class SensorCursor:
    """Per job, where the next tick's window starts, and the fingerprints of its buckets as the previous tick saw
    them (None on the first tick, or after a cursor without them: every bucket then reads as changed)."""

    changes_after: dict[str, datetime]
    fingerprints: BucketFingerprints | None


def read_cursor(cursor: str | None) -> SensorCursor | None:
    if not cursor:
        return None
    fields = json.loads(cursor)
    if LOWER_BOUND_KEY in fields:
        bounds = fields[LOWER_BOUND_KEY]
        if isinstance(bounds, str):  # one bound for every job, in a cursor without a bound per job
            bounds = dict.fromkeys(SOURCE_JOBS, bounds)
        # Fingerprints of other buckets (or one per job, in a cursor without buckets) compare with nothing of this tick.
        same_buckets = fields.get(BUCKET_SECONDS_KEY) == CHANGE_BUCKET_SECONDS
        return SensorCursor(
            {job: datetime.fromisoformat(bound) for job, bound in bounds.items()},
            fields.get(FINGERPRINTS_KEY) if same_buckets else None,
        )
    # Everything through that bound was handled; rows after it are new to this tick.
    return SensorCursor(dict.fromkeys(SOURCE_JOBS, datetime.fromisoformat(fields[THROUGH_BOUND_KEY])), None)


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
