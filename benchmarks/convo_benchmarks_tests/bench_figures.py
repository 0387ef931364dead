"""The figures a `convo-pipelines bench` run reports, by part of the bench: what its tests expect in the JSON."""

from __future__ import annotations

from convo_benchmarks.bench_wal_kinds import WAL_KINDS

FRESHNESS_MEASUREMENTS = {
    "freshness_p50",
    "freshness_p95",
    "freshness_max",
    "freshness_new_recipient",
    "freshness_recipient_removed",
    "freshness_contact_method_resolved",
    "freshness_person_moved",
    "freshness_conversation_moved",
    "freshness_recipient_deleted",
    "freshness_app_longest_statement",
}
# A Zero client's live query beside the same daemon (bench_client_freshness.py), on a server at wal_level = logical.
CLIENT_FRESHNESS_MEASUREMENTS = {
    "client_freshness_p50",
    "client_freshness_p95",
    "client_freshness_max",
    "client_freshness_new_recipient",
    "client_freshness_recipient_removed",
    "client_freshness_contact_method_resolved",
    "client_freshness_person_moved",
    "client_freshness_conversation_moved",
    *(
        f"client_freshness_part_{part}_{share}"
        for part in ("sensor", "queue", "run_to_table", "table_to_client")
        for share in ("p50", "p95")
    ),
}


def wal_by_kind(key: str) -> set[str]:
    """The WAL of `key` (a WAL figure) by kind of record, as a bench on a server whose WAL it reads records it."""
    return {f"{key}_{kind}" for kind in WAL_KINDS}


LINK_MEASUREMENTS = {
    *wal_by_kind("full_backfill_wal"),
    *wal_by_kind("matview_build_wal"),
    "seed",
    "full_backfill_sql",
    "full_backfill_wal",
    "full_backfill_checks",
    "full_backfill_overhead",
    "full_backfill_whole",
    "peak_rss",
    "disk_used",
    "rerun_sql",
    "rerun_rows_written",
    "one_day_sql",
    "one_day_rows_written",
    "scoped_sql",
    "scoped_rows_written",
    "scoped_overhead",
    "scoped_stock_overhead",
    "read_side",
    "plain_floor",
    "seeds_batches",
    "round_trip",
    "matview_build",
    "matview_build_wal",
    "matview_refresh_unchanged",
    "matview_refresh_after_change",
    "dbt_build",
    "dbt_build_whole",
    "dbt_build_wal",
    "dbt_merge_rerun",
    "dbt_merge_rerun_wal",
    "dbt_delete_insert_rerun",
    "dbt_delete_insert_rerun_wal",
    "sensor_tick_sql",
    "sensor_tick_indexed_sql",
    "full_backfill_checks_sql",
    "rerun_checks_sql",
    "one_day_checks_sql",
    "scoped_checks_sql",
    "project_reconcile_sql",
    "project_reconcile_checks_sql",
    "project_scoped_sql",
    "project_scoped_rows_written",
    "project_scoped_checks_sql",
    "scoped_run_dagster_wall",
    "full_backfill_steps",
}
SUBSCRIBER_MEASUREMENTS = {
    "subscriber_full_backfill_sql",
    "subscriber_catch_up_after_first_fill",
    "subscriber_peak_lag_during_first_fill",
    "subscriber_peak_lag_wal_during_first_fill",
}
READ_QUESTIONS = {
    "conversation_people",
    "conversation_clients",
    "person_newest_conversations",
    "client_newest_conversations",
    "project_conversations",
}
# The catch-up re-run after a first fill beside the app: the range re-run beside the app, or alone after --one-first-fill.
CATCH_UP_MEASUREMENTS = {"rerun_after_app_sql", "rerun_after_app_rows_written"}
APP_RUN_KINDS = {"first_fill", "first_fill_with_subscriber", "range_rerun", "project_reconcile", "histories_backfill"}
APP_MEASUREMENTS = {
    "app_baseline_longest_statement",
    *(f"app_{kind}_{figure}" for kind in APP_RUN_KINDS for figure in ("longest_statement", "pipeline_wait")),
}
HISTORIES_MEASUREMENTS = {
    *wal_by_kind("histories_full_backfill_wal"),
    "seed_histories",
    "histories_full_backfill_sql",
    "histories_full_backfill_wal",
    "histories_full_backfill_checks",
    "histories_full_backfill_overhead",
    "histories_full_backfill_whole",
    "histories_peak_rss",
    "histories_rerun_sql",
    "histories_rerun_rows_written",
    "tick_sql",
    "tick_steps",
    "tick_checks",
    "tick_overhead",
    "tick_stock_overhead",
    "tick_rows_written",
    "tick_sessions_found",
    "histories_full_backfill_checks_sql",
    "histories_rerun_checks_sql",
    "tick_checks_sql",
    "seed_many_crews",
    "discovery_full_1000_crews_sql",
    "discovery_tick_1000_crews_sql",
    "discovery_tick_1000_crews_steps",
    "discovery_tick_1000_crews_checks_sql",
    "discovery_tick_1000_crews_peak_rss",
    "discovery_tick_1000_crews_sessions_found",
    "histories_full_backfill_steps",
}


CONTENDER_MEASUREMENTS = {
    "plain_floor",
    "seeds_batches",
    "matview_build",
    "matview_build_wal",
    *wal_by_kind("matview_build_wal"),
    "matview_refresh_unchanged",
    "matview_refresh_after_change",
    *(key for key in LINK_MEASUREMENTS if key.startswith("dbt_")),
}


MANY_CREWS_MEASUREMENTS = {key for key in HISTORIES_MEASUREMENTS if "1000_crews" in key} | {"seed_many_crews"}
