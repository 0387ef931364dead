"""The conversation discovery schedule: one run per tick over
the days since the previous tick, so a message at 23:59:58 is discovered by the tick after midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from convo_pipelines.definitions import defs
from convo_pipelines.defs.histories.assets import DISCOVERY_LATENESS, histories_assets
from convo_pipelines.defs.histories.checks import histories_checks
from convo_pipelines.defs.histories.jobs import conversation_discovery_job
from convo_pipelines.defs.histories.schedules import (
    conversation_discovery_schedule,
    discovery_partition_range,
    discovery_tick_run_config,
)
from convo_pipelines_tests.histories_data import (
    HistoriesTableSpec,
    create_client,
    create_crew,
    create_histories_table,
    insert_messages,
    langchain,
    utc,
)

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def tick(moment: datetime, definitions: dg.Definitions = defs) -> dg.RunRequest:
    with dg.build_schedule_context(
        scheduled_execution_time=moment, repository_def=definitions.get_repository_def()
    ) as context:
        [request] = conversation_discovery_schedule.evaluate_tick(context).run_requests
    return request


def test_schedule_is_defined_from_the_settings_defaults() -> None:
    schedule = defs.resolve_schedule_def("conversation_discovery_schedule")
    assert schedule.cron_schedule == "*/5 * * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == "conversation_discovery_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_a_tick_just_after_midnight_covers_the_previous_day_too() -> None:
    request = tick(datetime(2024, 3, 2, 0, 2, tzinfo=UTC))
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2024-03-01", "2024-03-02")
    # Once a day both days are recomputed fully: that catches deletions and very late commits.
    assert not request.run_config


def test_a_tick_during_the_day_covers_only_today() -> None:
    request = tick(datetime(2024, 3, 2, 14, 0, tzinfo=UTC))
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2024-03-02", "2024-03-02")
    assert request.run_key == "conversation-discovery:2024-03-02T14:00:00+00:00"
    assert request.run_config == discovery_tick_run_config()
    assert {ops["config"]["only_new_messages"] for ops in request.run_config["ops"].values()} == {True}


def test_partition_range_follows_the_cron_and_the_schedule_time_zone() -> None:
    # Hourly in Paris: the 01:00 Paris tick (00:00 UTC) goes back to 00:00 Paris, i.e. 23:00 UTC the day before.
    assert discovery_partition_range("0 * * * *", "Europe/Paris", datetime(2024, 3, 2, 0, 0, tzinfo=UTC)) == (
        "2024-03-01",
        "2024-03-02",
    )
    # Daily at 02:00 UTC: the previous tick was yesterday.
    assert discovery_partition_range("0 2 * * *", "UTC", datetime(2024, 3, 2, 2, 0, tzinfo=UTC)) == (
        "2024-03-01",
        "2024-03-02",
    )
    # Never before PARTITIONS_START_DATE (2024-01-01), and nothing at all before it.
    assert discovery_partition_range("*/5 * * * *", "UTC", datetime(2024, 1, 1, 0, 1, tzinfo=UTC)) == (
        "2024-01-01",
        "2024-01-01",
    )
    assert discovery_partition_range("*/5 * * * *", "UTC", datetime(2023, 6, 1, tzinfo=UTC)) is None


def test_the_run_of_the_midnight_tick_discovers_the_2359_message(db, postgres) -> None:
    create_client(db, "acme")
    create_histories_table(db, HistoriesTableSpec("late_histories"))
    create_crew(db, "late", "acme", "late_histories")
    session = "99999999-9999-9999-9999-999999999999"
    insert_messages(
        db,
        "late_histories",
        [
            (session, utc(2024, 3, 1, 23, 59, 58), langchain("human", "still there?")),
            (session, utc(2024, 3, 2, 0, 0, 40), langchain("ai", "yes")),
        ],
    )
    local_defs = dg.Definitions(
        assets=histories_assets,
        asset_checks=histories_checks,
        jobs=[conversation_discovery_job],
        schedules=[conversation_discovery_schedule],
        resources={"postgres": postgres},
    )
    request = tick(datetime(2024, 3, 2, 0, 2, tzinfo=UTC), local_defs)
    job = local_defs.resolve_job_def("conversation_discovery_job")
    result = job.execute_in_process(
        tags=request.tags, run_config=request.run_config, instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    assert db.execute(
        "select activity_date, message_count from analytics.histories_sessions order by 1"
    ).fetchall() == [
        (date(2024, 3, 1), 1),
        (date(2024, 3, 2), 1),
    ]
    assert db.execute("select message_count, active_days from analytics.conversation_summaries").fetchall() == [(2, 2)]
    # The run also evaluated the histories checks.
    assert {e.check_name for e in result.get_asset_check_evaluations()} >= {"histories_tables_valid", "discovery_fresh"}

    # The next ticks cover today only and read just the new messages.
    insert_messages(db, "late_histories", [(session, utc(2024, 3, 2, 0, 6), langchain("human", "thanks"))])
    request = tick(datetime(2024, 3, 2, 0, 10, tzinfo=UTC), local_defs)
    result = job.execute_in_process(
        tags=request.tags, run_config=request.run_config, instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success

    def mode(asset: str) -> list[str]:
        return [m.metadata["mode"].value for m in result.asset_materializations_for_node(asset)]

    assert mode("histories_sessions") == ["incremental"]
    # The summaries' watermark counts only sessions begun today, and the only session began yesterday.
    assert mode("conversation_summaries") == ["full"]
    assert db.execute(
        "select activity_date, message_count from analytics.histories_sessions order by 1"
    ).fetchall() == [
        (date(2024, 3, 1), 1),
        (date(2024, 3, 2), 2),
    ]
    assert db.execute("select message_count, active_days from analytics.conversation_summaries").fetchall() == [(3, 2)]


def test_freshness_is_dagsters_policy_with_no_job_or_schedule_of_its_own() -> None:
    """Dagster evaluates histories_sessions' freshness itself: it fails once no discovery landed for the cron's
    longest gap plus the lateness a healthy run may have; no hand-made freshness job or schedule runs beside it."""
    repository = defs.get_repository_def()
    spec = next(iter(repository.assets_defs_by_key[dg.AssetKey("histories_sessions")].specs))
    policy = spec.freshness_policy
    assert isinstance(policy, dg.FreshnessPolicy)
    # One interval of the default */5 cron in UTC, plus 15 minutes for the run to land.
    assert policy.fail_window.to_timedelta() == timedelta(minutes=5) + DISCOVERY_LATENESS == timedelta(minutes=20)
    assert policy.warn_window is None
    assert not [s.name for s in repository.schedule_defs if "fresh" in s.name]
    assert not [job.name for job in repository.get_all_jobs() if "fresh" in job.name]
