"""Checks of the histories analytics and their inputs: unique grains, summaries equal to their days,
readable histories tables, discovery freshness, and one open conversation per lead in the source.

Inside a partitioned run a SQL check covers the run's window; run alone it covers the whole table.
The histories-table checks inspect every crew's table in the catalog and never read its rows.
"""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import dagster as dg
from croniter import croniter

from convo_pipelines.assets.histories import UNPARTITIONED_WINDOW, Window, run_window
from convo_pipelines.checks import CheckScope, build_sql_check
from convo_pipelines.crews import HistoriesTable, inspect_histories_table, load_crews
from convo_pipelines.resources import PostgresResource
from convo_pipelines.settings import get_settings

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN


def histories_scope(context: dg.AssetCheckExecutionContext) -> CheckScope:
    """The run's message window (days and timestamps), or the whole table when the check runs alone."""
    window = run_window(context)
    whole = window == Window(*UNPARTITIONED_WINDOW)
    label = "whole table" if whole else f"[{window.start.isoformat()}, {window.end.isoformat()})"
    return CheckScope(label=label, params=window.params())


def inspect_all_histories_tables(postgres: PostgresResource) -> list[HistoriesTable]:
    """Every crew's histories table as the catalog describes it (read-only)."""
    with postgres.connect() as conn:
        conn.read_only = True
        return [inspect_histories_table(conn, postgres.source_schema, crew) for crew in load_crews(conn, postgres.source_schema)]


@dg.asset_check(asset="histories_sessions", name="histories_tables_valid", blocking=False)
def histories_tables_valid(postgres: PostgresResource) -> dg.AssetCheckResult:
    """Each crew's histories table has a valid name, exists and has id, session_id, message, created_at.

    Fails (ERROR) naming every crew the discovery had to skip, with the reason and the fix.
    """
    tables = inspect_all_histories_tables(postgres)
    bad = {table.crew.code: table.reason() for table in tables if not table.is_valid}
    return dg.AssetCheckResult(
        passed=not bad,
        severity=ERROR,
        description=f"{len(bad)} of {len(tables)} crews cannot be read" if bad else f"all {len(tables)} crews readable",
        metadata={
            "crews_checked": len(tables),
            "bad_crews_count": len(bad),
            "bad_crews": dg.MetadataValue.json(bad),
        },
    )


@dg.asset_check(asset="histories_sessions", name="histories_tables_indexed", blocking=False)
def histories_tables_indexed(postgres: PostgresResource) -> dg.AssetCheckResult:
    """WARN when a readable histories table has no index on created_at (or session_id).

    Without it every discovery tick scans the whole table instead of the window's messages.
    """
    tables = [table for table in inspect_all_histories_tables(postgres) if table.is_valid]
    unindexed = {table.crew.code: list(table.warnings) for table in tables if table.warnings}
    return dg.AssetCheckResult(
        passed=not unindexed,
        severity=WARN,
        description=f"{len(unindexed)} histories tables lack an index" if unindexed else "every histories table is indexed",
        metadata={"tables_checked": len(tables), "unindexed_count": len(unindexed), "unindexed": dg.MetadataValue.json(unindexed)},
    )


def discovery_deadline(cron: str, timezone_name: str, now: datetime) -> datetime:
    """The cron tick two intervals before `now`: a success older than this means two missed ticks."""
    ticks = croniter(cron, now.astimezone(ZoneInfo(timezone_name)))
    ticks.get_prev(datetime)
    return ticks.get_prev(datetime).astimezone(timezone.utc)


def discovery_is_fresh(last_success: datetime | None, cron: str, timezone_name: str, now: datetime) -> bool:
    """True when the discovery succeeded at or after the tick two cron intervals back."""
    return last_success is not None and last_success >= discovery_deadline(cron, timezone_name, now)


@dg.asset_check(asset="histories_sessions", name="discovery_fresh", blocking=False)
def discovery_fresh(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Fails when histories_sessions was last materialized more than two CONVERSATION_DISCOVERY_CRON intervals ago."""
    settings = get_settings()
    now = datetime.now(timezone.utc)
    event = context.instance.get_latest_materialization_event(dg.AssetKey("histories_sessions"))
    last_success = datetime.fromtimestamp(event.timestamp, timezone.utc) if event else None
    deadline = discovery_deadline(settings.conversation_discovery_cron, settings.schedule_timezone, now)
    fresh = discovery_is_fresh(last_success, settings.conversation_discovery_cron, settings.schedule_timezone, now)
    return dg.AssetCheckResult(
        passed=fresh,
        severity=ERROR,
        description=(
            "discovery ran within two cron intervals"
            if fresh
            else f"no successful discovery since {deadline.isoformat()} (cron {settings.conversation_discovery_cron!r})"
        ),
        metadata={
            "last_success": last_success.isoformat() if last_success else "never",
            "deadline": deadline.isoformat(),
            "cron": settings.conversation_discovery_cron,
        },
    )


def build_histories_checks() -> list[dg.AssetChecksDefinition]:
    """The SQL checks of histories_sessions, conversation_summaries and the conversations source."""
    return [
        build_sql_check(
            asset="histories_sessions",
            name="no_duplicate_grains",
            sql_file="checks/check_histories_sessions_duplicates.sql",
            description="Each (crew_code, session_id, activity_date) appears once in histories_sessions (ERROR).",
            scope_of=histories_scope,
        ),
        build_sql_check(
            asset="conversation_summaries",
            name="no_duplicate_grains",
            sql_file="checks/check_conversation_summaries_duplicates.sql",
            description="Each (crew_code, session_id) appears once in conversation_summaries (ERROR).",
            scope_of=histories_scope,
        ),
        build_sql_check(
            asset="conversation_summaries",
            name="counts_match_histories_sessions",
            sql_file="checks/check_summaries_match_histories_sessions.sql",
            description=(
                "Each summary's message, human and ai counts equal the sum of its session's days in "
                "histories_sessions, and every session with days has a summary (ERROR)."
            ),
            scope_of=histories_scope,
        ),
        build_sql_check(
            asset="conversations",
            name="at_most_one_open_conversation_per_lead",
            sql_file="checks/check_conversations_open_per_lead.sql",
            description="A lead has at most one open conversation (closed_at null); lists offending leads (WARN, source data quality).",
            severity=WARN,
            scope_of=histories_scope,
        ),
    ]


histories_checks = [histories_tables_valid, histories_tables_indexed, discovery_fresh, *build_histories_checks()]
