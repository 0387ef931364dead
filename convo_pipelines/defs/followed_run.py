"""The run a check follows: the one whose materialization of the checked asset the check verifies, and when that run
started. A check that follows a run covers what the run could have written, at a fraction of the run's cost;
launched on its own (the UI's "Execute checks", an audit job) it covers everything its scope holds."""

import time
from datetime import UTC, datetime

import dagster as dg


def materialization_in_run(
    context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey
) -> dg.AssetMaterialization | None:
    """The materialization of `asset_key` this check follows (materialization_record_in_run), or None."""
    record = materialization_record_in_run(context, asset_key)
    return None if record is None else record.asset_materialization


def materialization_record_in_run(
    context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey
) -> dg.EventLogRecord | None:
    """The latest materialization of `asset_key` by this run or, in a re-execution that did not run the asset's
    step (a retry from a failed check step), by the run it re-executes; None for a check launched alone, or in
    a run of other assets. (The run's asset_selection cannot say it: an in-process materialize records an empty
    one, a whole job None.) Not the asset's latest materialization: late-change runs overlap, and a check that
    took another run's for no materialization of its own would compare the whole table, failing on the changes
    that runs still in the queue will write."""
    for run_id in runs_of_this_execution(context.run):
        record = latest_materialization_by_run(context.instance, run_id, asset_key)
        if record is not None:
            return record
    return None


def runs_of_this_execution(run: dg.DagsterRun) -> list[str]:
    """This run's id, then the runs it re-executes: its parent, then the first of the chain."""
    return list(dict.fromkeys(run_id for run_id in (run.run_id, run.parent_run_id, run.root_run_id) if run_id))


# Materializations read per page of a run's events, newest first: the checked asset's latest is near the top.
RUN_EVENTS_PAGE = 100


def latest_materialization_by_run(
    instance: dg.DagsterInstance, run_id: str, asset_key: dg.AssetKey
) -> dg.EventLogRecord | None:
    """The latest materialization of `asset_key` the run `run_id` recorded (of any of its partitions), or None."""
    cursor = None
    while True:
        page = instance.get_records_for_run(
            run_id, cursor, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=RUN_EVENTS_PAGE, ascending=False
        )
        found = next((record for record in page.records if record.asset_key == asset_key), None)
        if found is not None or not page.has_more:
            return found
        cursor = page.cursor


def snapshot_start(context: dg.AssetCheckExecutionContext, followed: dg.EventLogRecord | None) -> datetime:
    """When the run whose materialization the check follows started (this run, for a check launched alone): the
    asset took its snapshot after that, so a source change stamped later may be missing from it. (An app
    transaction stamps its rows with its own start, so one that began before the run and committed during it can
    still show as a difference.) A re-executed check step follows its parent's materialization, and its start."""
    record = context.instance.get_run_record_by_id(followed.run_id if followed else context.run.run_id)
    started = record.start_time if record is not None and record.start_time else time.time()
    return datetime.fromtimestamp(started, tz=UTC)
