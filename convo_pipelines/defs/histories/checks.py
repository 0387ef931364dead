"""Checks of the histories analytics and their inputs: unique grains, summaries equal to their days,
readable histories tables (discovery freshness: discovery_checks.py), and one open conversation per lead in the source.

A SQL check of histories_sessions or conversation_summaries that follows their materialization in the same
run verifies what that run wrote: the grains and sessions of the rows it stamped (updated_at), read from the
stamps' indexes, so a discovery tick's checks cost its few rows, not its day. When the run deleted rows
(a full recompute can), deletions leave no stamp, so the check covers the run's window instead. Without a
materialization of its asset in the run, a SQL check covers the run's window, and run alone (no partition:
"Execute checks", a job of checks only) the whole table: the complete comparison, on demand or on a schedule.
The histories-table checks inspect every crew's table in the catalog and never read its rows; the
validity and freshness checks also read back which crews the latest discovery skipped (the
`skipped_crews` metadata of its materializations), since some problems show only at query time.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from convo_pipelines.defs.checks import CheckScope, build_sql_check
from convo_pipelines.defs.followed_run import materialization_in_run
from convo_pipelines.defs.histories.assets import conversation_summaries, histories_sessions
from convo_pipelines.defs.histories.crews import HistoriesTable, inspect_crews, load_crews
from convo_pipelines.defs.histories.discovery_checks import (
    discovery_fresh,
    latest_discovery_metadata,
    skipped_by_latest_discovery,
)
from convo_pipelines.defs.histories.run_metadata import ROWS_DELETED, WRITTEN_SINCE
from convo_pipelines.defs.histories.window import run_window
from convo_pipelines.defs.resources import APP_DATABASE_POOL, TRANSIENT_ERRORS_RETRY, PostgresResource
from convo_pipelines.defs.sources import conversations
from convo_pipelines.lib.postgres.timing import sql_seconds

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN


def histories_scope(context: dg.AssetCheckExecutionContext) -> CheckScope:
    """The run's message window (days and timestamps), or the whole table when the check runs alone."""
    window = run_window(context)
    label = "whole table" if window.unpartitioned else f"[{window.start.isoformat()}, {window.end.isoformat()})"
    return CheckScope(label=label, params=window.params())


@dataclass(frozen=True)
class ScopedRows:
    """What a check reads, as a sql/ file embedded at `placeholder`: `window` the rows of the run's window
    (the whole table when run alone), `written` those sharing a grain or a session with the rows a run wrote.
    `assets` are the tables whose writes the check verifies, the checked asset first."""

    placeholder: str
    window: str
    written: str
    assets: tuple[dg.AssetsDefinition, ...]


def written_since(context: dg.AssetCheckExecutionContext, assets: tuple[dg.AssetsDefinition, ...]) -> datetime | None:
    """When this run began writing `assets`, if it materialized the first and deleted no row of any: every
    row it changed then carries updated_at at or after it. None when it did not materialize the checked
    asset, or deleted rows (a deletion leaves no stamp), or recorded no stamp time."""
    materializations = [materialization_in_run(context, asset.key) for asset in assets]
    if materializations[0] is None:
        return None
    stamps = []
    for materialization in filter(None, materializations):
        metadata = materialization.metadata
        if WRITTEN_SINCE not in metadata or metadata.get(ROWS_DELETED, dg.MetadataValue.int(1)).value != 0:
            return None
        stamps.append(datetime.fromisoformat(metadata[WRITTEN_SINCE].value))
    return min(stamps)


def scope_to_written_rows(rows: ScopedRows) -> Callable[[dg.AssetCheckExecutionContext], CheckScope]:
    """The scope of a check after its asset's materialization: the rows the run wrote (see the module's text)."""

    def scope(context: dg.AssetCheckExecutionContext) -> CheckScope:
        window = histories_scope(context)
        since = written_since(context, rows.assets)
        if since is None:
            return CheckScope(label=window.label, params=window.params, fragments={rows.placeholder: rows.window})
        return CheckScope(
            label=f"{window.label}, rows written since {since.isoformat()}",
            params={**window.params, "written_since": since},
            fragments={rows.placeholder: rows.written},
        )

    return scope


@dataclass(frozen=True)
class InspectedTables:
    """Every crew's histories table as the catalog describes it, and the seconds its statements took in PostgreSQL
    (the check's `sql_seconds`, as a SQL check reports its own)."""

    tables: list[HistoriesTable]
    sql_seconds: float

    def sql_metadata(self) -> dict[str, dg.MetadataValue]:
        return {"sql_seconds": dg.MetadataValue.float(round(self.sql_seconds, 4))}


def inspect_all_histories_tables(postgres: PostgresResource) -> InspectedTables:
    """Every crew's histories table as the catalog describes it (read-only)."""
    with postgres.read_only_session() as session:
        tables = inspect_crews(session.conn, session.source_schema, load_crews(session.conn, session.source_schema))
        return InspectedTables(tables, sql_seconds(session.conn))


@dg.asset_check(
    asset=histories_sessions,
    name="histories_tables_valid",
    # In a run of both, it reads what conversation_summaries skipped in this run, not in the previous one.
    additional_deps=[conversation_summaries],
    blocking=False,
    pool=APP_DATABASE_POOL,
    retry_policy=TRANSIENT_ERRORS_RETRY,
)
def histories_tables_valid(context: dg.AssetCheckExecutionContext, postgres: PostgresResource) -> dg.AssetCheckResult:
    """Each crew's histories table has a valid name, exists and has id, session_id, message and created_at (or,
    without created_at, an integer id), and the latest discovery skipped no crew.

    Fails (ERROR) naming every crew the discovery had to skip, with the reason and the fix: those the
    catalog shows unusable now, and those the latest histories_sessions or conversation_summaries run
    skipped at query time (still registered in crews). Rows skipped by that run are listed, not failed on.
    """
    inspected = inspect_all_histories_tables(postgres)
    tables = inspected.tables
    registered = {table.crew.code for table in tables}
    bad = {table.crew.code: table.reason() for table in tables if not table.is_valid}
    skipped = {
        crew: reason for crew, reason in skipped_by_latest_discovery(context.instance).items() if crew in registered
    }
    for crew, reason in skipped.items():
        bad.setdefault(crew, f"skipped by the latest discovery run ({reason})")
    skipped_rows = latest_discovery_metadata(context.instance, histories_sessions).get("skipped_rows") or {}
    return dg.AssetCheckResult(
        passed=not bad,
        severity=ERROR,
        description=(
            f"{len(bad)} of {len(tables)} crews cannot be read or were skipped: {', '.join(sorted(bad))}"
            if bad
            else f"all {len(tables)} crews readable"
        ),
        metadata={
            "crews_checked": len(tables),
            "bad_crews_count": len(bad),
            "bad_crews": dg.MetadataValue.json(bad),
            "skipped_by_latest_discovery": dg.MetadataValue.json(skipped),
            "skipped_rows_by_latest_discovery": dg.MetadataValue.json(skipped_rows),
            **inspected.sql_metadata(),
        },
    )


@dg.asset_check(
    asset=histories_sessions,
    name="histories_tables_indexed",
    blocking=False,
    pool=APP_DATABASE_POOL,
    retry_policy=TRANSIENT_ERRORS_RETRY,
)
def histories_tables_indexed(postgres: PostgresResource) -> dg.AssetCheckResult:
    """WARN when a readable histories table has no index on created_at (without created_at: id), or session_id.

    Without it every discovery tick scans the whole table instead of the window's messages.
    """
    inspected = inspect_all_histories_tables(postgres)
    tables = [table for table in inspected.tables if table.is_valid]
    unindexed = {table.crew.code: list(table.warnings) for table in tables if table.warnings}
    return dg.AssetCheckResult(
        passed=not unindexed,
        severity=WARN,
        description=f"{len(unindexed)} histories tables lack an index"
        if unindexed
        else "every histories table is indexed",
        metadata={
            "tables_checked": len(tables),
            "unindexed_count": len(unindexed),
            "unindexed": dg.MetadataValue.json(unindexed),
            **inspected.sql_metadata(),
        },
    )


def no_duplicate_grains_check(
    asset: dg.AssetsDefinition, *, sql_file: str, grain: str, window_rows: str, written_rows: str
) -> dg.AssetChecksDefinition:
    """ERROR when a `grain` of `asset` is stored twice (sql/`sql_file`), among `window_rows` (the run's
    window, the whole table run alone), or after the asset's run `written_rows` (the grains it wrote)."""
    return build_sql_check(
        asset=asset,
        name="no_duplicate_grains",
        sql_file=sql_file,
        description=f"Each {grain} appears once in {asset.key.to_user_string()} (ERROR).",
        scope_of=scope_to_written_rows(
            ScopedRows(placeholder="scoped_rows", window=window_rows, written=written_rows, assets=(asset,))
        ),
    )


def build_histories_checks() -> list[dg.AssetChecksDefinition]:
    """The SQL checks of histories_sessions, conversation_summaries and the conversations source."""
    return [
        no_duplicate_grains_check(
            histories_sessions,
            sql_file="histories/checks/check_histories_sessions_duplicates.sql",
            grain="(crew_code, session_id, activity_date)",
            window_rows="histories/checks/select_histories_sessions_of_window_days.sql",
            written_rows="histories/checks/select_histories_sessions_of_written_grains.sql",
        ),
        no_duplicate_grains_check(
            conversation_summaries,
            sql_file="histories/checks/check_conversation_summaries_duplicates.sql",
            grain="(crew_code, session_id)",
            window_rows="histories/checks/select_conversation_summaries_overlapping_window.sql",
            written_rows="histories/checks/select_conversation_summaries_of_written_grains.sql",
        ),
        build_sql_check(
            asset=conversation_summaries,
            name="counts_match_histories_sessions",
            sql_file="histories/checks/check_summaries_match_histories_sessions.sql",
            description=(
                "Each summary's message, human and ai counts equal the sum of its session's days in "
                "histories_sessions, and every session with days has a summary (ERROR)."
            ),
            # A day the run wrote puts its session in scope even when the summary was left unchanged.
            scope_of=scope_to_written_rows(
                ScopedRows(
                    placeholder="scoped_sessions",
                    window="histories/checks/select_sessions_active_in_window.sql",
                    written="histories/checks/select_sessions_written_since.sql",
                    assets=(conversation_summaries, histories_sessions),
                )
            ),
        ),
        # A source check: no run writes conversations, and the discovery job (which selects the histories
        # assets, so their checks) does not run it; in a partitioned run it covers the leads with an open
        # conversation created in the window, run alone every lead.
        build_sql_check(
            asset=conversations,
            name="at_most_one_open_conversation_per_lead",
            sql_file="histories/checks/check_conversations_open_per_lead.sql",
            description="A lead has at most one open conversation (closed_at null); lists offending leads (WARN, source data quality).",
            severity=WARN,
            scope_of=histories_scope,
        ),
    ]


histories_checks = [histories_tables_valid, histories_tables_indexed, discovery_fresh, *build_histories_checks()]
