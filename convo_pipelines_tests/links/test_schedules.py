"""The link-table sync schedules: their run requests, and the runs they request executed for real."""

from datetime import UTC, datetime

import dagster as dg

from convo_pipelines.defs.partitions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from convo_pipelines_tests.source_data import assert_links_exact, build_source_data, link_pairs, source_checksums

SCHEMA = "public"
UTC = UTC


def tick(definitions: dg.Definitions, name: str, at: datetime) -> list[dg.RunRequest]:
    schedule = definitions.get_repository_def().get_schedule_def(name)
    context = dg.build_schedule_context(scheduled_execution_time=at, repository_def=definitions.get_repository_def())
    data = schedule.evaluate_tick(context)
    return list(data.run_requests or [])


def execute(definitions: dg.Definitions, request: dg.RunRequest, job_name: str) -> dg.ExecuteInProcessResult:
    """Run the requested job in process with the request's tags, as the daemon would launch it."""
    job = definitions.resolve_job_def(job_name)
    result = job.execute_in_process(tags=request.tags, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    return result


def test_front_sync_requests_every_partition_as_one_run(definitions):
    at = datetime(2024, 3, 5, 2, 0, tzinfo=UTC)
    requests = tick(definitions, "front_link_tables_sync_schedule", at)
    assert len(requests) == 1
    request = requests[0]
    assert request.tags[PARTITION_RANGE_START_TAG] == "2024-01-01"
    assert request.tags[PARTITION_RANGE_END_TAG] == "2024-03-05"  # today's partition exists (end_offset=1)
    assert request.partition_key is None
    # Deterministic: the same tick asks for the same run key, another tick for another.
    assert tick(definitions, "front_link_tables_sync_schedule", at)[0].run_key == request.run_key
    assert (
        tick(definitions, "front_link_tables_sync_schedule", datetime(2024, 3, 6, 2, tzinfo=UTC))[0].run_key
        != request.run_key
    )


def test_project_sync_requests_one_unpartitioned_run(definitions):
    requests = tick(definitions, "project_link_tables_sync_schedule", datetime(2024, 3, 5, 2, 0, tzinfo=UTC))
    assert len(requests) == 1
    assert requests[0].partition_key is None
    assert PARTITION_RANGE_START_TAG not in requests[0].tags
    repository = definitions.get_repository_def()
    assert repository.get_schedule_def("project_link_tables_sync_schedule").job_name == "project_links_job"
    assert repository.get_schedule_def("front_link_tables_sync_schedule").job_name == "front_links_job"


def test_sync_runs_make_the_tables_exact_and_catch_hard_deletes(definitions, db):
    source = build_source_data(db, SCHEMA)
    at = datetime(2024, 1, 20, 2, 0, tzinfo=UTC)
    before = source_checksums(db, SCHEMA)
    for schedule_name, job_name in (
        ("front_link_tables_sync_schedule", "front_links_job"),
        ("project_link_tables_sync_schedule", "project_links_job"),
    ):
        (request,) = tick(definitions, schedule_name, at)
        execute(definitions, request, job_name)
    assert_links_exact(db)
    assert source_checksums(db, SCHEMA) == before
    people_before = link_pairs(db, SCHEMA, "people_front_conversations")

    # Hard deletes leave no updated_at behind: only the nightly reconcile can see them.
    conversation = source.first_instant_of_jan_10
    db.execute(
        "delete from public.front_message_recipients where front_message_id in "
        "(select id from public.front_messages where front_conversation_id = %s)",
        (conversation,),
    )
    db.execute(
        "delete from public.conversations where id = (select min(id::text)::uuid from public.conversations where project_id is not null)"
    )
    db.execute(
        "update public.conversations set project_id = null where id = (select max(id::text)::uuid from public.conversations where project_id is not null)"
    )
    next_tick = datetime(2024, 1, 21, 2, 0, tzinfo=UTC)
    (front_request,) = tick(definitions, "front_link_tables_sync_schedule", next_tick)
    (project_request,) = tick(definitions, "project_link_tables_sync_schedule", next_tick)
    execute(definitions, front_request, "front_links_job")
    result = execute(definitions, project_request, "project_links_job")

    assert_links_exact(db)
    assert not any(pair[1] == conversation for pair in link_pairs(db, SCHEMA, "people_front_conversations"))
    assert any(pair[1] == conversation for pair in people_before)
    assert all(e.passed for e in result.get_asset_check_evaluations() if e.severity == dg.AssetCheckSeverity.ERROR)


def test_sync_tick_now_covers_every_partition_up_to_today(definitions):
    now = datetime.now(UTC)
    (request,) = tick(definitions, "front_link_tables_sync_schedule", now)
    assert request.tags[PARTITION_RANGE_START_TAG] == "2024-01-01"
    assert request.tags[PARTITION_RANGE_END_TAG] == now.date().isoformat()


def test_no_run_before_the_first_partition(definitions):
    requests = tick(definitions, "front_link_tables_sync_schedule", datetime(2023, 6, 1, 2, tzinfo=UTC))
    assert requests == []
