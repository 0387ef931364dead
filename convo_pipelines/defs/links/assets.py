"""The link assets: people and clients of each Front conversation, and the project of each conversation.

How each run writes its tables is links/writes.py (with the modules it calls); what they hold is docs/contract.md.
"""

# No `from __future__ import annotations`: Dagster reads the config class from the real annotation.
import json

import dagster as dg

from convo_pipelines.defs import sources
from convo_pipelines.defs.checks import GUARANTEES_METADATA
from convo_pipelines.defs.links.config import FrontLinksConfig, ProjectLinksConfig
from convo_pipelines.defs.links.link_definitions import front_link_guarantees
from convo_pipelines.defs.links.link_storage import (
    ensure_foreign_keys,
    link_foreign_keys,
    link_table_is_empty,
)
from convo_pipelines.defs.links.link_transactions import end_first_fill, in_retried_transaction
from convo_pipelines.defs.links.project_writes import (
    fill_project_links,
    project_array_inconsistencies,
    reconcile_project_scope,
)
from convo_pipelines.defs.links.schemas import (
    CLIENT_LINKS_SCHEMA,
    PEOPLE_LINKS_SCHEMA,
    PROJECT_LINKS_SCHEMA,
    source_table_name,
)
from convo_pipelines.defs.links.tables import (
    BEGINNING_OF_TIME,
    CLIENT_LINKS,
    END_OF_TIME,
    PEOPLE_LINKS,
    PROJECT_LINKS_FOREIGN_KEYS,
    PROJECT_LINKS_TABLE,
    FrontLinkTable,
)
from convo_pipelines.defs.links.window_diffs import make_front_window_exact
from convo_pipelines.defs.links.windows import Chunk
from convo_pipelines.defs.links.writes import plan_front_writes, write_front_chunks
from convo_pipelines.defs.partitions import partition_window
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.defs.table_asset import table_asset
from convo_pipelines.lib.postgres.db import count_rows
from convo_pipelines.lib.postgres.timing import StepClock

GROUP = "links"
# Which projects the array figures of a project_conversations materialization cover: every one, or a scoped run's.
ARRAY_SCOPE_METADATA = "array_scope"


def materialize_front_links(
    context: dg.AssetExecutionContext, postgres: PostgresResource, spec: FrontLinkTable, config: FrontLinksConfig
) -> dg.MaterializeResult:
    """Make the window's slice of `spec.table` exact; fill it in place when it was never filled.

    A scoped run (the late-change sensor's) recomputes only the conversations it names, which is as
    exact as a whole-window run for every change the sensor can see, at a fraction of the cost.
    """
    clock = StepClock()
    partition = partition_window(context)
    # The conversations' created_at window [start, end) the run covers, in UTC: the first partition also
    # links those created before PARTITIONS_START_DATE, and the last one, today's, those created after it.
    owning = partition.owning_later_dates()
    start, end = owning.bounds(BEGINNING_OF_TIME, END_OF_TIME)
    scope = config.conversation_scope()
    context.log.info(
        f"{spec.table}: conversations created in [{owning.start_label}, {owning.end_label})"
        + (f", only {len(scope):,} named by the run" if scope else "")
    )
    with postgres.session(autocommit=True) as session:
        if scope:
            window = Chunk(start, end, len(scope))
            counts = make_front_window_exact(
                session, spec, window, context.log.info, config.max_insert_batch_rows, scope
            )
            mode, chunk_count = "scoped", 1
        else:
            plan = plan_front_writes(session, spec, start, end, config)
            counts = write_front_chunks(session, spec, plan, context.log.info)
            mode, chunk_count = plan.mode, len(plan.chunks)
            # A first fill ends here, or a window with no chunk takes over from a killed one (a scoped run's
            # transaction already did).
            end_first_fill(session, spec, context.log.info)
        keys = ensure_foreign_keys(session, spec.table, spec.foreign_keys, context.log.info)
        guarantees = front_link_guarantees(session, spec)
        # Counting the whole table would cost more than a scoped run itself; its next full run counts.
        row_count = None if scope else count_rows(session.conn, session.source_schema, spec.table)
        clock.read_sql(session.conn)
    seconds = clock.seconds
    context.log.info(
        f"{spec.table}: {mode}, {counts.rows_inserted:,} inserted, {counts.rows_updated:,} updated, "
        f"{counts.rows_deleted:,} deleted, "
        f"{counts.rows_in_window:,} in range, "
        + (f"{row_count:,} in the table, " if row_count is not None else "")
        + f"{seconds:.2f}s"
    )
    return dg.MaterializeResult(
        metadata={
            "mode": mode,
            "window_start": owning.start_label,
            "window_end": owning.end_label,
            "chunks": chunk_count,
            "foreign_keys_made_whole": len(keys.made_whole),
            "foreign_keys_pending": len(keys.pending),
            GUARANTEES_METADATA: dg.MetadataValue.json(guarantees),
            # Totals of the run's whole window: Dagster copies a range run's metadata onto every partition
            # of the range, so they are named for the range they count, not taken for one day's figures.
            "rows_inserted_in_range": counts.rows_inserted,
            "rows_updated_in_range": counts.rows_updated,
            "rows_deleted_in_range": counts.rows_deleted,
            "rows_in_range": counts.rows_in_window,
            # A one-day run's window is its partition: that count is the partition's own (today's also owns
            # the conversations dated after it).
            **({"dagster/partition_row_count": counts.rows_in_window} if partition.one_day and not scope else {}),
            **({"dagster/row_count": row_count} if row_count is not None else {"conversations_in_scope": len(scope)}),
            "dagster/table_name": f"{postgres.source_schema}.{spec.table}",
            **clock.metadata(),
        }
    )


# ---------------------------------------------------------------------------------------------
# Assets


@table_asset(
    name=PEOPLE_LINKS.table,
    group_name=GROUP,
    table_name=source_table_name(PEOPLE_LINKS.table),
    schema=PEOPLE_LINKS_SCHEMA,
    deps=[
        sources.front_conversations,
        sources.front_messages,
        sources.front_message_recipients,
        sources.contact_methods,
        sources.people,
    ],
)
def people_front_conversations(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: FrontLinksConfig
) -> dg.MaterializeResult:
    """One row per (person, Front conversation) where one of the person's contact methods received a
    message of the conversation. Partitioned by the conversation's created_at day (UTC); recipients
    with no contact method, or whose contact method resolves to no existing person, link nobody."""
    return materialize_front_links(context, postgres, PEOPLE_LINKS, config)


@table_asset(
    name=CLIENT_LINKS.table,
    group_name=GROUP,
    table_name=source_table_name(CLIENT_LINKS.table),
    schema=CLIENT_LINKS_SCHEMA,
    deps=[people_front_conversations, sources.front_conversations, sources.people, sources.clients],
)
def clients_front_conversations(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: FrontLinksConfig
) -> dg.MaterializeResult:
    """One row per (client, Front conversation): the CURRENT clients of the people linked to the
    conversation. A person whose client no longer exists keeps their people link but gives no client link."""
    return materialize_front_links(context, postgres, CLIENT_LINKS, config)


@table_asset(
    name=PROJECT_LINKS_TABLE,
    group_name=GROUP,
    table_name=source_table_name(PROJECT_LINKS_TABLE),
    schema=PROJECT_LINKS_SCHEMA,
    deps=[sources.conversations, sources.projects, sources.users],
    partitioned=False,
)
def project_conversations(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: ProjectLinksConfig
) -> dg.MaterializeResult:
    """One row per conversation whose project exists: (conversations.project_id, conversation), added_by
    the project's user. A run reconciles the whole table, or a scoped run (the late-change sensor's) only the
    conversations it names; a conversation that moves keeps its row id and gets the new project, added_by and
    added_at. Reports the deprecated projects.conversation_ids drift (of the projects a scoped run touched)."""
    clock = StepClock()
    scope = config.conversation_scope()
    with postgres.session(autocommit=True) as session:
        # Without its foreign keys the table is being filled: its missing links go in by bounded transactions
        # first, and the reconcile after them finds only what the app changed meanwhile. A scoped run is exact
        # only on top of a whole table, so a table not filled yet gets the whole reconcile instead.
        keyed = bool(link_foreign_keys(session, PROJECT_LINKS_TABLE))
        if scope and not keyed:
            context.log.info(f"{PROJECT_LINKS_TABLE}: not filled yet, so the whole table instead of the run's scope")
            scope = None
        if scope:
            mode = "scoped"
        else:
            mode = "bulk" if not keyed and link_table_is_empty(session, PROJECT_LINKS_TABLE) else "diff"
        filled = 0 if keyed else fill_project_links(session, context.log.info)
        counts, projects = in_retried_transaction(
            session, PROJECT_LINKS_TABLE, lambda: reconcile_project_scope(session, scope), context.log.info
        )
        counts["rows_inserted"] += filled
        keys = ensure_foreign_keys(session, PROJECT_LINKS_TABLE, PROJECT_LINKS_FOREIGN_KEYS, context.log.info)
        # Counting the whole table, or comparing every project's array, would cost more than a scoped run itself.
        row_count = None if scope else count_rows(session.conn, session.source_schema, PROJECT_LINKS_TABLE)
        drift = project_array_inconsistencies(session, projects)
        clock.read_sql(session.conn)
    seconds = clock.seconds
    drifted = {kind: report["entries"] for kind, report in drift.items() if report["entries"]}
    if drifted:
        context.log.warning(f"projects.conversation_ids disagrees with conversations.project_id: {json.dumps(drifted)}")
    context.log.info(
        f"{PROJECT_LINKS_TABLE}: {mode}, {json.dumps(counts)}, "
        + (f"{row_count:,} in the table, " if row_count is not None else f"{len(scope):,} conversations named, ")
        + f"{seconds:.2f}s"
    )
    metadata: dict[str, object] = {
        "mode": mode,
        **counts,
        "foreign_keys_made_whole": len(keys.made_whole),
        "foreign_keys_pending": len(keys.pending),
        **({"dagster/row_count": row_count} if row_count is not None else {"conversations_in_scope": len(scope)}),
        "dagster/table_name": f"{postgres.source_schema}.{PROJECT_LINKS_TABLE}",
        ARRAY_SCOPE_METADATA: "every project"
        if projects is None
        else f"the {len(projects):,} projects of the run's conversations",
        **clock.metadata(),
    }
    for kind, report in drift.items():
        metadata[f"array_{kind}_entries"] = report["entries"]
        metadata[f"array_{kind}_samples"] = dg.MetadataValue.json(report["samples"])
    return dg.MaterializeResult(metadata=metadata)


link_assets = [people_front_conversations, clients_front_conversations, project_conversations]
