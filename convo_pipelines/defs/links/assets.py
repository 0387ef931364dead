"""The Front link assets: people and clients of each Front conversation.

Each run says which kind of run it is and reports what it did; each kind is one module read top to bottom:
first_fill.py (the table never filled), window_run.py (a window made exact: a range re-run, the nightly reconcile,
a catch-up) and scoped_run.py (the late-change sensor's named conversations). What the tables hold is
docs/contract.md.
"""

# No `from __future__ import annotations`: Dagster reads the config class from the real annotation.
import dagster as dg

from convo_pipelines.defs.links.config import FrontLinksConfig
from convo_pipelines.defs.links.first_fill import fill_front_table, first_fill_due
from convo_pipelines.defs.links.scoped_run import make_conversations_exact
from convo_pipelines.defs.links.tables import CLIENT_LINKS, PEOPLE_LINKS, FrontLinkTable, qualified_table_name
from convo_pipelines.defs.links.window_run import make_window_exact
from convo_pipelines.defs.links.windows import RunWindow
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.defs.table_asset import table_asset, table_schema

GROUP = "links"


def materialize_front_links(
    context: dg.AssetExecutionContext, postgres: PostgresResource, spec: FrontLinkTable, config: FrontLinksConfig
) -> dg.MaterializeResult:
    """Make the window's slice of `spec.table` exact: only the conversations the run names (a scoped run), else by a
    first fill while the table was never filled, else by diffing the window."""
    window = RunWindow.of(context)
    scope = config.conversation_scope()
    context.log.info(
        f"{spec.table}: conversations created in [{window.start_label}, {window.end_label})"
        + (f", only {len(scope):,} named by the run" if scope else "")
    )
    with postgres.session(autocommit=True) as session:
        if scope:
            run = make_conversations_exact(session, spec, window, scope, config)
        elif first_fill_due(session, spec):
            run = fill_front_table(session, spec, window, config)
        else:
            run = make_window_exact(session, spec, window, config)
    context.log.info(run.summary())
    return dg.MaterializeResult(metadata=run.metadata(window, f"{postgres.source_schema}.{spec.table}"))


def front_link_asset(spec: FrontLinkTable):
    """@asset for the Front link table `spec`: its table, columns and lineage from its description."""
    return table_asset(
        name=spec.table,
        group_name=GROUP,
        table_name=qualified_table_name(spec.table),
        schema=table_schema(spec.columns, spec.constraints),
        deps=spec.source_tables,
    )


@front_link_asset(PEOPLE_LINKS)
def people_front_conversations(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: FrontLinksConfig
) -> dg.MaterializeResult:
    """One row per (person, Front conversation) where one of the person's contact methods received a
    message of the conversation. Partitioned by the conversation's created_at day (UTC); recipients
    with no contact method, or whose contact method resolves to no existing person, link nobody."""
    return materialize_front_links(context, postgres, PEOPLE_LINKS, config)


@front_link_asset(CLIENT_LINKS)
def clients_front_conversations(
    context: dg.AssetExecutionContext, postgres: PostgresResource, config: FrontLinksConfig
) -> dg.MaterializeResult:
    """One row per (client, Front conversation): the CURRENT clients of the people linked to the
    conversation. A person whose client no longer exists keeps their people link but gives no client link."""
    return materialize_front_links(context, postgres, CLIENT_LINKS, config)


front_link_assets = [people_front_conversations, clients_front_conversations]
