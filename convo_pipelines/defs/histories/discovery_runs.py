"""One run of histories_sessions or conversation_summaries: each crew merged for the run's window
(crew_processing.py), the window's rows of crews no longer registered dropped, and what the run did recorded.
Partitions are UTC message days; a range arrives as one window.
"""

import dagster as dg

from convo_pipelines.defs.histories.config import DiscoveryConfig
from convo_pipelines.defs.histories.crew_merges import MergeStatements, WindowMerge
from convo_pipelines.defs.histories.crew_processing import crews_metadata, process_crews, summed
from convo_pipelines.defs.histories.crews_to_read import previous_read
from convo_pipelines.defs.histories.run_metadata import (
    CREWS_SELECTED,
    ROWS_DELETED,
    WRITTEN_SINCE,
    newest_rows,
    row_count_metadata,
)
from convo_pipelines.defs.histories.window import messages_timeline, run_window
from convo_pipelines.defs.previews import preview_table
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.postgres.timing import StepClock
from convo_pipelines.lib.writing.statistics import refresh_statistics_after_bulk_write
from convo_pipelines.lib.writing.transactions import pipeline_transaction


def merge_every_crew(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    config: DiscoveryConfig,
    *,
    relation: str,
    statements: MergeStatements,
    delete_removed_crews_sql: str,
    figures: dict[str, str],
    preview_sql: str | None = None,
) -> dg.MaterializeResult:
    """Merge each crew's slice of `relation` for the run's window, then drop the window's rows of
    crews no longer registered; `figures` names extra metadata summed from the crews' counts."""
    window = run_window(context)
    incremental = config.applies_to(window)
    # Fixed for the whole run, so every crew (and a run crossing midnight) skips the same dates.
    timeline = messages_timeline()
    clock = StepClock()
    with postgres.session() as session:
        # The database's clock before any crew's transaction: every row this run changes is stamped
        # updated_at = now() at or after it, which is how the checks after the run find those rows.
        with session.conn.transaction():
            written_since = session.execute(session.sql("histories/select_database_clock.sql")).fetchone()[0]
        only_crews = frozenset(config.only_crews) if config.only_crews is not None else None
        work = WindowMerge(
            session, statements, window, incremental, timeline, config.max_days_per_transaction, only_crews
        )
        processed = process_crews(context, session, work, previous_read(context, window) if incremental else None)
        outcomes = processed.outcomes
        removed = 0
        # Finding removed crews' rows reads the whole window (tens of ms on a busy day), so incremental
        # ticks leave them to the next full recompute, as they leave deleted messages.
        if not incremental:
            with pipeline_transaction(session.conn):
                removed = session.execute(session.sql(delete_removed_crews_sql), window.params()).rowcount
        written = sum(summed(outcomes, key) for key in ("rows_inserted", "rows_updated", "rows_deleted")) + removed
        analyzed = refresh_statistics_after_bulk_write(session, session.analytics_schema, relation, written)
        counts = row_count_metadata(session, relation, window, incremental)
        preview = newest_rows(session, preview_sql, window) if preview_sql else None
        clock.read_sql(session.conn)
    return dg.MaterializeResult(
        metadata={
            **counts,
            # Totals of the run's window (Dagster copies a range run's metadata onto each of its partitions).
            "rows_inserted_in_window": summed(outcomes, "rows_inserted"),
            "rows_updated_in_window": summed(outcomes, "rows_updated"),
            ROWS_DELETED: summed(outcomes, "rows_deleted") + removed,
            **{
                figure: summed(outcomes, count)
                for figure, count in figures.items()
                if all(count in outcome.counts for outcome in outcomes if outcome.ok)
            },
            "window": window.label(),
            "statistics_refreshed": analyzed,
            WRITTEN_SINCE: dg.MetadataValue.text(written_since.isoformat()),
            CREWS_SELECTED: (
                dg.MetadataValue.json(sorted(only_crews)) if only_crews is not None else dg.MetadataValue.text("all")
            ),
            **({"newest_rows": preview_table(preview)} if preview is not None else {}),
            **crews_metadata(processed),
            **clock.metadata(),
        }
    )
