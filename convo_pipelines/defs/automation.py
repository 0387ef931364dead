"""How the schedules and sensors start: their default status, the schedules' crons and the sensors' intervals from
settings; and the longest gap between two ticks of a cron, which the discovery's freshness window is built on."""

import inspect
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
from croniter import croniter

from convo_pipelines.lib.settings import get_settings

# A cron's gaps are measured from a fixed date (naive: calendar days), so every load builds the same policy.
PATTERN_START = datetime(2024, 1, 1)
# The daemon visits its sensors every MIN_SENSOR_SECONDS and starts a sensor's tick at the first visit at least the
# sensor's minimum interval after its previous tick began. A visit reaches a sensor a fraction of a second earlier or
# later than the visit before (the loop's own reads first, the thread's start): with an interval of exactly 5 s, a
# visit that comes a little short is skipped, and the sensor ticks every 5 or 10 s. Declaring this much less makes
# it tick at the first visit its interval reaches.
SENSOR_LOOP_JITTER_SECONDS = 1


def background_status(status_type: type[dg.DefaultScheduleStatus] | type[dg.DefaultSensorStatus]):
    """RUNNING when ENABLE_BACKGROUND_JOBS is true (the default), STOPPED otherwise, as a schedule's or
    a sensor's default status (`status_type` is dg.DefaultScheduleStatus or dg.DefaultSensorStatus)."""
    return status_type.RUNNING if get_settings().enable_background_jobs else status_type.STOPPED


# The tag Dagster puts on every run a sensor requested, naming the sensor.
SENSOR_NAME_TAG = "dagster/sensor_name"
# A run in these is still in the run queue, not launched yet. One launched (STARTING: its process loading Dagster and
# the definitions, seconds) holds nothing: the next tick's changes get a run of their own at once, instead of waiting
# for that start and another tick, and max_concurrent_runs (dagster.yaml) bounds how many runs start at once.
WAITING_IN_QUEUE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
]


def has_run_waiting_to_start(instance: dg.DagsterInstance, sensor_name: str, job_name: str | None = None) -> bool:
    """Whether a run this sensor requested (of `job_name`, when given) is still waiting in the run queue."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=job_name, tags={SENSOR_NAME_TAG: sensor_name}, statuses=WAITING_IN_QUEUE_STATUSES
        ),
        limit=1,
    )
    return bool(runs)


def sensor_minimum_interval(seconds: int) -> int:
    """The minimum_interval_seconds of a sensor meant to tick every `seconds` (a setting, at least MIN_SENSOR_SECONDS):
    it then ticks every `seconds` rounded up to the daemon's MIN_SENSOR_SECONDS loop (5 s: every visit; 10 s: every
    other one)."""
    return seconds - SENSOR_LOOP_JITTER_SECONDS


def cron_schedule_from_settings(
    cron: str, job: Any, name: str
) -> Callable[[Callable[..., object]], dg.ScheduleDefinition]:
    """@schedule on a cron read from settings, in SCHEDULE_TIMEZONE, started per ENABLE_BACKGROUND_JOBS.

    `job` is what define_asset_job returns (its class is not public in Dagster) or a JobDefinition.
    The function's docstring becomes the schedule's description in the UI.
    """

    def decorate(evaluation_fn: Callable[..., object]) -> dg.ScheduleDefinition:
        return dg.schedule(
            name=name,
            cron_schedule=cron,
            job=job,
            execution_timezone=get_settings().schedule_timezone,
            default_status=background_status(dg.DefaultScheduleStatus),
            description=inspect.getdoc(evaluation_fn),
        )(evaluation_fn)

    return decorate


def longest_cron_gap(cron: str, timezone_name: str) -> timedelta:
    """The longest time between two consecutive ticks of `cron` in `timezone_name`: the longest gap on a clock
    without DST, plus the zone's DST shift, by which a tick at a skipped or repeated wall time can move."""
    return longest_wall_clock_gap(cron) + largest_dst_shift(timezone_name)


def longest_wall_clock_gap(cron: str) -> timedelta:
    """The longest gap on a clock without DST: between two times of one firing day, or from a firing day's
    last time to the next firing day's first."""
    times = times_of_day(cron)
    within_a_day = max((later - earlier for earlier, later in itertools.pairwise(times)), default=timedelta(0))
    days = firing_days(cron)
    between_days = max(later - earlier for earlier, later in itertools.pairwise(days)) - (times[-1] - times[0])
    return max(within_a_day, between_days)


def times_of_day(cron: str) -> list[timedelta]:
    """The times of day (after midnight, sorted) at which `cron` ticks on the days it fires."""
    minutes, hours, *_ = croniter.expand(cron)[0]
    minutes = range(60) if minutes == ["*"] else minutes
    hours = range(24) if hours == ["*"] else hours
    return sorted(timedelta(hours=hour, minutes=minute) for hour in hours for minute in minutes)


def firing_days(cron: str) -> list[datetime]:
    """The days `cron` fires on over one period of its pattern of days, and the first day after it, from a
    fixed date so that every load of the definitions computes the same gaps."""
    day_fields = " ".join(cron.split()[2:])
    end = PATTERN_START + day_pattern_period(cron)
    ticks = croniter(f"0 0 {day_fields}", PATTERN_START - timedelta(minutes=1))
    days = [ticks.get_next(datetime)]
    while days[-1] < end:
        days.append(ticks.get_next(datetime))
    return days


def day_pattern_period(cron: str) -> timedelta:
    """After how long the days `cron` fires on repeat (from 1901 to 2099): a week when only the day of week
    is set, the four-year leap cycle when the day of week is not, else 28 years (weekdays and leap years)."""
    (_, _, days_of_month, months, days_of_week), nth_weekdays = croniter.expand(cron)[:2]
    if days_of_month == ["*"] and months == ["*"] and not nth_weekdays:
        return timedelta(weeks=1)
    if days_of_week == ["*"] and not nth_weekdays:
        return timedelta(days=4 * 365 + 1)
    return timedelta(days=28 * 365 + 7)


def largest_dst_shift(timezone_name: str) -> timedelta:
    """How far the zone's UTC offset moves over the year: an hour in most zones with DST, 30 minutes on
    Lord Howe Island, nothing in UTC or Asia/Kolkata."""
    zone = ZoneInfo(timezone_name)
    start = PATTERN_START.replace(tzinfo=UTC)
    offsets = [(start + timedelta(days=day)).astimezone(zone).utcoffset() for day in range(0, 4 * 366, 7)]
    return max(offsets) - min(offsets)
