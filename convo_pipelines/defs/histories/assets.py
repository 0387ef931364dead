"""The discovery assets: sessions per day, summaries and daily stats from the crews' chat histories.

How a run merges each crew is histories/discovery_runs.py; what the tables hold is docs/contract.md.
"""

from datetime import timedelta

import dagster as dg
import psycopg

from convo_pipelines.defs.automation import longest_cron_gap
from convo_pipelines.defs.histories.config import DiscoveryConfig
from convo_pipelines.defs.histories.crew_merges import CONVERSATION_SUMMARIES_MERGE, HISTORIES_SESSIONS_MERGE
from convo_pipelines.defs.histories.discovery_runs import merge_every_crew
from convo_pipelines.defs.histories.run_metadata import row_count_metadata
from convo_pipelines.defs.histories.schemas import (
    CONVERSATION_SUMMARIES_SCHEMA,
    DAILY_CONVERSATION_STATS_LINEAGE,
    DAILY_CONVERSATION_STATS_SCHEMA,
    HISTORIES_SESSIONS_SCHEMA,
)
from convo_pipelines.defs.histories.tables import CONVERSATION_SUMMARIES, DAILY_CONVERSATION_STATS, HISTORIES_SESSIONS
from convo_pipelines.defs.histories.window import run_window
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.defs.sources import clients, crews
from convo_pipelines.defs.table_asset import table_asset
from convo_pipelines.lib.postgres.timing import StepClock
from convo_pipelines.lib.settings import get_settings

GROUP = "histories"
# How long after its tick a healthy discovery may land (the daemon's tick, the run's queue and launch, the
# discovery itself): the freshness window adds it to the cron's longest gap, so such a run is never stale.
DISCOVERY_LATENESS = timedelta(minutes=15)


def discovery_freshness_policy() -> dg.FreshnessPolicy:
    """Fails histories_sessions' freshness (Dagster's daemon evaluates it) once no discovery landed for the cron's
    longest gap plus DISCOVERY_LATENESS. A time window: a cron policy's window may not exceed the cron's shortest
    gap, so on an uneven cron (*/7, business hours, any cron across a DST change) it would fail a healthy schedule."""
    settings = get_settings()
    longest_gap = longest_cron_gap(settings.conversation_discovery_cron, settings.schedule_timezone)
    return dg.FreshnessPolicy.time_window(fail_window=longest_gap + DISCOVERY_LATENESS)


def analytics_table_asset(
    table: str,
    schema: dg.TableSchema,
    deps: list[dg.AssetsDefinition | dg.AssetSpec],
    freshness_policy: dg.FreshnessPolicy | None = None,
    column_lineage: dg.TableColumnLineage | None = None,
):
    """The decorator of a daily-partitioned asset materialized as analytics.<table>, named as its table."""
    return table_asset(
        name=table,
        group_name=GROUP,
        table_name=f"{get_settings().analytics_schema}.{table}",
        schema=schema,
        deps=deps,
        freshness_policy=freshness_policy,
        column_lineage=column_lineage,
    )


# Reads every crew's histories table (represented by crews) and the crews' clients for client_code.
@analytics_table_asset(
    HISTORIES_SESSIONS, HISTORIES_SESSIONS_SCHEMA, deps=[crews, clients], freshness_policy=discovery_freshness_policy()
)
def histories_sessions(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: DiscoveryConfig
) -> dg.MaterializeResult:
    """One row per chat session per UTC day with messages, per crew (analytics.histories_sessions).

    A full run replaces each crew's slice of the window's days from a created_at range scan of its
    table. An incremental run (only_new_messages, a tick over today) reads the crew's messages since
    the newest last_message_at of its rows that day (less LATE_COMMIT_ALLOWANCE), and recomputes
    exactly the session-days they touch from all their messages, read by session_id. It cannot see
    deleted messages: the full recompute removes them (any manual run or backfill, and the first
    tick after midnight, which recomputes yesterday and today fully).
    """
    return merge_every_crew(
        context,
        postgres,
        config,
        relation=HISTORIES_SESSIONS,
        statements=HISTORIES_SESSIONS_MERGE,
        delete_removed_crews_sql="histories/delete_histories_sessions_of_removed_crews_window.sql",
        figures={
            "sessions_in_window": "sessions",
            "messages_in_window": "messages",
            "malformed_messages_in_window": "malformed_messages",
        },
    )


# Reads the crews' histories tables itself; histories_sessions is a dependency because its check
# counts_match_histories_sessions compares the two, so sessions must be written first in a run.
@analytics_table_asset(CONVERSATION_SUMMARIES, CONVERSATION_SUMMARIES_SCHEMA, deps=[histories_sessions, crews, clients])
def conversation_summaries(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: DiscoveryConfig
) -> dg.MaterializeResult:
    """One row per chat session over all its days, per crew (analytics.conversation_summaries).

    Recomputes exactly the sessions the window touches (a message in the window, or a summary
    overlapping it), reading all their messages by session_id. An incremental run
    (only_new_messages, a tick over today) recomputes only the sessions with a message since the
    newest ended_at of the crew's summaries of sessions begun that day (less LATE_COMMIT_ALLOWANCE).
    It cannot see deleted messages: the full recompute catches them (any manual run or backfill,
    and the first tick after midnight).
    """
    return merge_every_crew(
        context,
        postgres,
        config,
        relation=CONVERSATION_SUMMARIES,
        statements=CONVERSATION_SUMMARIES_MERGE,
        delete_removed_crews_sql="histories/delete_conversation_summaries_of_removed_crews_window.sql",
        figures={"sessions_recomputed": "sessions_touched"},
        preview_sql="histories/select_newest_conversation_summaries_window.sql",
    )


@analytics_table_asset(
    DAILY_CONVERSATION_STATS,
    DAILY_CONVERSATION_STATS_SCHEMA,
    deps=[histories_sessions],
    column_lineage=DAILY_CONVERSATION_STATS_LINEAGE,
)
def daily_conversation_stats(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: DiscoveryConfig
) -> dg.MaterializeResult:
    """One row per UTC day, client and crew: sessions and messages (analytics.daily_conversation_stats).

    A view over histories_sessions (created by migration 0002), so it is always current; a run
    verifies the view is there and records its rows for the window, except a tick (only_new_messages),
    for which aggregating the whole day would cost more than the tick's own work.
    """
    window = run_window(context)
    clock = StepClock()
    with postgres.session() as session:
        _require_view(session.conn, session.analytics_schema, DAILY_CONVERSATION_STATS)
        counts = row_count_metadata(session, DAILY_CONVERSATION_STATS, window, config.applies_to(window))
        clock.read_sql(session.conn)
    return dg.MaterializeResult(
        metadata={
            **counts,
            "window": window.label(),
            **clock.metadata(),
        }
    )


def _require_view(conn: psycopg.Connection, schema: str, view: str) -> None:
    found = conn.execute(
        "select 1 from pg_catalog.pg_views where schemaname = %s and viewname = %s", (schema, view)
    ).fetchone()
    if not found:
        raise dg.Failure(
            f"view {schema}.{view} is missing: apply the migrations (migration 0002 creates it)", allow_retries=False
        )


# The histories' assets, each of which takes DiscoveryConfig.
histories_assets = (histories_sessions, conversation_summaries, daily_conversation_stats)
