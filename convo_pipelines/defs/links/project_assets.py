"""The project asset: the project of each conversation. How a run makes it exact, top to bottom, is
project_reconcile.py; what the table holds is docs/contract.md."""

# No `from __future__ import annotations`: Dagster reads the config class from the real annotation.
import json

import dagster as dg

from convo_pipelines.defs.links.config import ProjectLinksConfig
from convo_pipelines.defs.links.project_reconcile import ProjectRun, reconcile_project_table
from convo_pipelines.defs.links.tables import (
    PROJECT_LINK_COLUMNS,
    PROJECT_LINK_CONSTRAINTS,
    PROJECT_LINKS_TABLE,
    PROJECT_SOURCE_TABLES,
    qualified_table_name,
)
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.defs.table_asset import table_asset, table_schema

GROUP = "links"
# Which projects the array figures of a project_conversations materialization cover: every one, or a scoped run's.
ARRAY_SCOPE_METADATA = "array_scope"


@table_asset(
    name=PROJECT_LINKS_TABLE,
    group_name=GROUP,
    table_name=qualified_table_name(PROJECT_LINKS_TABLE),
    schema=table_schema(PROJECT_LINK_COLUMNS, PROJECT_LINK_CONSTRAINTS),
    deps=PROJECT_SOURCE_TABLES,
    partitioned=False,
)
def project_conversations(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: ProjectLinksConfig
) -> dg.MaterializeResult:
    """One row per conversation whose project exists: (conversations.project_id, conversation), added_by
    the project's user. A run reconciles the whole table, or a scoped run (the late-change sensor's) only the
    conversations it names; a conversation that moves keeps its row id and gets the new project, added_by and
    added_at. Reports the deprecated projects.conversation_ids drift (of the projects a scoped run touched)."""
    with postgres.session(autocommit=True) as session:
        run = reconcile_project_table(session, config.conversation_scope())
    drifted = {kind: report["entries"] for kind, report in run.drift.items() if report["entries"]}
    if drifted:
        context.log.warning(f"projects.conversation_ids disagrees with conversations.project_id: {json.dumps(drifted)}")
    context.log.info(
        f"{PROJECT_LINKS_TABLE}: {run.mode}, {json.dumps(run.counts)}, "
        + (
            f"{run.row_count:,} in the table, "
            if run.row_count is not None
            else f"{len(run.scope):,} conversations named, "
        )
        + f"{run.clock.seconds:.2f}s"
    )
    return dg.MaterializeResult(metadata=project_run_metadata(run, f"{postgres.source_schema}.{PROJECT_LINKS_TABLE}"))


def project_run_metadata(run: ProjectRun, table_name: str) -> dict[str, object]:
    metadata: dict[str, object] = {
        "mode": run.mode,
        **run.counts,
        "foreign_keys_made_whole": len(run.keys.made_whole),
        "foreign_keys_pending": len(run.keys.pending),
        **(
            {"dagster/row_count": run.row_count}
            if run.row_count is not None
            else {"conversations_in_scope": len(run.scope)}
        ),
        "dagster/table_name": table_name,
        ARRAY_SCOPE_METADATA: "every project"
        if run.projects is None
        else f"the {len(run.projects):,} projects of the run's conversations",
        **run.clock.metadata(),
    }
    for kind, report in run.drift.items():
        metadata[f"array_{kind}_entries"] = report["entries"]
        metadata[f"array_{kind}_samples"] = dg.MetadataValue.json(report["samples"])
    return metadata
