"""Any valid cron, in any SCHEDULE_TIMEZONE, loads the code location: for CONVERSATION_DISCOVERY_CRON and for
LINK_TABLES_SYNC_CRON (with LINK_TABLES_AUDIT_CRON), each case loads the real definitions in a process of its
own with the variables set, and checks the schedules' crons and time zones, their run requests at a real tick,
and that the discovery's freshness policy never fails a schedule that runs every tick but does fail one that
stopped.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

# The ticks Dagster's daemon fires a schedule at: no public API lists them, and the policy must hold for them.
from dagster._utils.schedules import cron_string_iterator

from convo_pipelines.defs.partitions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from convo_pipelines.lib.errors import ConfigError
from convo_pipelines.lib.settings import Settings
from convo_pipelines_tests.cron_loads import Case, describe_in_subprocesses
from convo_pipelines_tests.helpers import PROJECT_VARIABLES, environment_without
from convo_pipelines_tests.test_layout import PACKAGE, imported_modules

DISCOVERY = ("CONVERSATION_DISCOVERY_CRON",)
LINK_SYNC = ("LINK_TABLES_SYNC_CRON", "LINK_TABLES_AUDIT_CRON")
# Two of them with DST (Europe/London's 1:00 change, America/New_York's 2:00), one with a 30-minute DST
# shift, one whose offset is not whole hours.
ZONES = ("UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata")
CRONS = (
    # uneven: steps that do not divide the hour, working hours (no cron policy can cover their longest gap)
    "*/7 * * * *",
    "0 9-17 * * 1-5",
    "*/10 8-18 * * *",
    "*/13 * * * *",
    "*/45 * * * *",
    "*/25 * * * *",
    # regular ones
    "* * * * *",
    "*/5 * * * *",
    "0 * * * *",
    "30 * * * *",
    "15 */2 * * *",
    # business hours and weekdays
    "*/15 9-17 * * mon-fri",
    "0 22 * * 1-5",
    "0 6 * 6-8 1-5",
    # lists and ranges, some in the hours a DST change skips or repeats
    "0,20,45 * * * *",
    "0 6,18 * * *",
    "0 0,12 1,15 * *",
    "30 1-5 * * *",
    "*/10 0-5 * * *",
    "0 1-3 * * *",
    # daily, at times a DST change skips or repeats
    "0 2 * * *",
    "30 2 * * *",
    "30 1 * * *",
    "45 23 * * *",
    # weekly
    "0 4 * * 0",
    "5 4 * * sun",
    "45 23 * * 5",
    "0 2 * * 0",
    "20 4 1-7 * 1",
    # monthly
    "0 0 1 * *",
    "30 3 15 * *",
    "0 0 31 * *",
    "0 8 * * 1#1",
    # quarterly and yearly
    "0 12 1 */3 *",
    "0 0 1 1 *",
    "59 23 31 12 *",
    "0 0 29 2 *",
)
EVALUATED_FROM = datetime(2024, 3, 4, 12, 0)  # away from every DST change of ZONES
PARTITIONS_START = date(2024, 1, 1)  # the default PARTITIONS_START_DATE


def ticks_from(cron: str, zone: str, start: datetime) -> Iterator[datetime]:
    """Dagster's ticks of `cron` in `zone` from `start` (a naive local time, or an aware one)."""
    aware = start if start.tzinfo else start.replace(tzinfo=ZoneInfo(zone))
    return cron_string_iterator(aware.timestamp(), cron, zone)


def two_ticks(cron: str, zone: str) -> tuple[datetime, datetime]:
    """Two consecutive ticks of `cron` after EVALUATED_FROM: the schedule is evaluated at the second."""
    previous, tick = itertools.islice(ticks_from(cron, zone, EVALUATED_FROM), 2)
    return previous, tick


def case_at_second_tick(variables: tuple[str, ...], cron: str, zone: str) -> Case:
    return Case(variables, cron, zone, tick=two_ticks(cron, zone)[1])


# Each cron in another zone for each variable, so that every zone meets every kind of cron.
CASES = [
    *(case_at_second_tick(DISCOVERY, cron, ZONES[index % len(ZONES)]) for index, cron in enumerate(CRONS)),
    *(case_at_second_tick(LINK_SYNC, cron, ZONES[(index + 2) % len(ZONES)]) for index, cron in enumerate(CRONS)),
]


@functools.cache
def dst_changes(zone: str) -> list[datetime]:
    """The moments (UTC) of 2024 and 2025 at which `zone`'s UTC offset changes."""
    moments = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=30 * step) for step in range(35_088)]
    offsets = [moment.astimezone(ZoneInfo(zone)).utcoffset() for moment in moments]
    return [moment for moment, before, after in zip(moments[1:], offsets, offsets[1:], strict=False) if before != after]


def ticks_across(cron: str, zone: str, moment: datetime) -> list[datetime]:
    """Dagster's ticks from the last one before `moment` to a few after it (three hours past it at least)."""
    backs = (timedelta(hours=2), timedelta(days=1), timedelta(days=8), timedelta(days=40), timedelta(days=4000))
    start = next(moment - back for back in backs if next(ticks_from(cron, zone, moment - back)) <= moment)
    ticks = []
    for tick in ticks_from(cron, zone, start):
        ticks.append(tick)
        if tick > moment + timedelta(hours=3) and len(ticks) > 3:
            return ticks
    return ticks


def longest_gap(cron: str, zone: str) -> timedelta:
    """The longest time between two of Dagster's consecutive ticks over the first 3,000 from 2024 (a few days
    of a frequent cron, decades of a yearly one) and across every DST change of 2024 and 2025."""
    first_ticks = itertools.islice(ticks_from(cron, zone, datetime(2024, 1, 1)), 3000)
    stretches = [
        list(itertools.takewhile(lambda tick: tick.year < 2052, first_ticks)),
        *(ticks_across(cron, zone, moment) for moment in dst_changes(zone)),
    ]
    return max(later - earlier for ticks in stretches for earlier, later in itertools.pairwise(ticks))


@pytest.fixture(scope="module")
def described(tmp_path_factory) -> dict[Case, dict]:
    """Every case's description (cron_loads.describe), each case loaded in a process of its own."""
    folder = tmp_path_factory.mktemp("crons")
    environment = environment_without(PROJECT_VARIABLES | {"DAGSTER_HOME"}, CONVO_HOME=str(folder / "convo_home"))
    return dict(zip(CASES, describe_in_subprocesses(CASES, environment, folder), strict=False))


def case_id(case: Case) -> str:
    return f"{case.variables[0]}={case.cron}@{case.timezone}"


@pytest.mark.parametrize("case", [each for each in CASES if each.variables == DISCOVERY], ids=case_id)
def test_the_discovery_cron_loads_ticks_and_has_a_true_freshness_policy(described, case: Case) -> None:
    description = described[case]
    assert "error" not in description, description.get("error")
    schedule = description["schedules"]["conversation_discovery_schedule"]
    assert (schedule["cron"], schedule["timezone"]) == (case.cron, case.timezone)

    previous, tick = two_ticks(case.cron, case.timezone)
    [request] = schedule["requests"]
    first_day = max(previous.astimezone(UTC).date(), PARTITIONS_START).isoformat()
    last_day = tick.astimezone(UTC).date().isoformat()
    tags = request["tags"]
    assert (tags[PARTITION_RANGE_START_TAG], tags[PARTITION_RANGE_END_TAG]) == (first_day, last_day)
    # A tick over one day reads only the new messages; one over two days or more recomputes them fully.
    assert bool(request["run_config"]) == (first_day == last_day)

    freshness = description["freshness"]
    assert freshness["kind"] == "TimeWindowFreshnessPolicy"
    fail_window, gap = timedelta(seconds=freshness["fail_window"]), longest_gap(case.cron, case.timezone)
    # Never failed by a schedule that runs every tick, its runs landing up to 10 minutes after their ticks...
    assert fail_window >= gap + timedelta(minutes=10), (fail_window, gap)
    # ...and failed by one that stopped, at most 90 minutes after the cron's longest gap.
    assert fail_window <= gap + timedelta(minutes=90), (fail_window, gap)


@pytest.mark.parametrize("case", [each for each in CASES if each.variables == LINK_SYNC], ids=case_id)
def test_the_link_tables_crons_load_and_tick(described, case: Case) -> None:
    description = described[case]
    assert "error" not in description, description.get("error")
    schedules = description["schedules"]
    assert {name: (s["cron"], s["timezone"]) for name, s in schedules.items()} == {
        "front_link_tables_sync_schedule": (case.cron, case.timezone),
        "project_link_tables_sync_schedule": (case.cron, case.timezone),
        "link_tables_audit_schedule": (case.cron, case.timezone),
    }

    [front] = schedules["front_link_tables_sync_schedule"]["requests"]
    # Every partition up to the tick's UTC day, as one run.
    last_day = case.tick.astimezone(UTC).date().isoformat()
    tags = front["tags"]
    assert (tags[PARTITION_RANGE_START_TAG], tags[PARTITION_RANGE_END_TAG]) == (PARTITIONS_START.isoformat(), last_day)
    for name in ("project_link_tables_sync_schedule", "link_tables_audit_schedule"):
        [request] = schedules[name]["requests"]
        assert PARTITION_RANGE_START_TAG not in request["tags"], name


@pytest.mark.parametrize("variable", [*DISCOVERY, *LINK_SYNC])
@pytest.mark.parametrize("cron", ["0 0 31 4 *", "0 0 30,31 2 *"])
def test_a_cron_that_never_fires_is_refused_naming_the_variable(variable: str, cron: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{variable}={cron!r} never fires")):
        Settings.from_env({variable: cron})


def test_the_package_imports_only_dagsters_public_api() -> None:
    private = [
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for module in sorted(imported_modules(path))
        if module.startswith("dagster._")
    ]
    assert not private
