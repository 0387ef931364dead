"""How the schedules and sensors start: their default status and the schedules' crons from settings."""

import inspect
from collections.abc import Callable
from typing import Any

import dagster as dg

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
