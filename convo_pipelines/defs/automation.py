"""How the schedules and sensors start: their default status and the schedules' crons from settings."""

import inspect
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._utils.schedules import cron_string_iterator

from convo_pipelines.lib.settings import get_settings


def background_status(status_type: type[dg.DefaultScheduleStatus] | type[dg.DefaultSensorStatus]):
    """RUNNING when ENABLE_BACKGROUND_JOBS is true (the default), STOPPED otherwise, as a schedule's or
    a sensor's default status (`status_type` is dg.DefaultScheduleStatus or dg.DefaultSensorStatus)."""
    return status_type.RUNNING if get_settings().enable_background_jobs else status_type.STOPPED


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


def longest_cron_interval(cron: str, timezone_name: str) -> timedelta:
    """The longest gap between two consecutive ticks of `cron` over five weeks (at most 3,000 ticks), from a
    fixed date so the definitions are the same on every load: a weekly or business-hours cron gets the gap
    over its quiet days, a regular one its period."""
    start = datetime(2024, 1, 1, tzinfo=ZoneInfo(timezone_name))
    # Dagster's own cron iterator (the one its schedules step with): every process that loads the definitions
    # runs this, and croniter took 0.14 to 0.16 s for the 3,000 ticks of the default */5 where this takes 0.04 s.
    ticks = cron_string_iterator(start.timestamp(), cron, timezone_name)
    previous = next(ticks)
    longest = timedelta(minutes=1)
    for _, tick in zip(range(3_000), ticks):
        longest = max(longest, tick - previous)
        if tick - start > timedelta(weeks=5):
            break
        previous = tick
    return longest
