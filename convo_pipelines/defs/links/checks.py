"""Checks of the three link tables: no duplicate pairs, no orphans, exact against the source.

The two Front link tables share the duplicate, orphan and exactness SQL (the table and owner column
are bound as identifiers); the exactness SQL embeds each table's own expected pairs. Inside a
partitioned run a Front check covers only the run's window; run alone, or over every partition,
it covers the whole table. Each table's checks run in one step (build_sql_checks), the people links'
between the two Front assets, since they block the clients links.
"""

import secrets
from collections.abc import Callable

import dagster as dg

from convo_pipelines.defs.checks import CheckScope, Guarantee, SqlCheck, build_sql_checks
from convo_pipelines.defs.followed_run import materialization_record_in_run, snapshot_start
from convo_pipelines.defs.links.assets import clients_front_conversations, people_front_conversations
from convo_pipelines.defs.links.change_fingerprints import change_index_params
from convo_pipelines.defs.links.project_assets import project_conversations
from convo_pipelines.defs.links.project_reconcile import ARRAY_DRIFT_KINDS
from convo_pipelines.defs.links.tables import (
    CLIENT_LINKS,
    GUARANTEEING_FOREIGN_KEYS_SQL,
    GUARANTEEING_UNIQUE_INDEX_SQL,
    PEOPLE_LINKS,
    PROJECT_LINKS_TABLE,
    FrontLinkTable,
)
from convo_pipelines.defs.partitions import partition_window

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN


# Conversations the exactness check that follows a run compares, drawn at random in the run's window: a
# fault that puts wrong rows in 1% of the conversations escapes one run's sample with probability 0.7%
# (0.99 ** 500), for a few thousand index probes whatever the window holds (about a second at 1,000,000
# conversations). A check run on its own, and the weekly audit, compare every conversation.
SAMPLE_CONVERSATIONS = 500
WINDOW_CONVERSATIONS_SQL = "links/checks/scope_window_front_conversations.sql"
SAMPLED_CONVERSATIONS_SQL = "links/checks/scope_sampled_front_conversations.sql"
# The validated constraints that make a duplicate or orphan scan needless after a run.
GUARANTEEING_INDEX = {"guaranteeing_index": GUARANTEEING_UNIQUE_INDEX_SQL}
GUARANTEEING_KEYS = {"guaranteeing_keys": GUARANTEEING_FOREIGN_KEYS_SQL}
# Where the duplicate and orphan checks that follow a run take their answer from (front_link_guarantees).
CONSTRAINTS_IN_FORCE = "guaranteed by the constraints this run's materialization found in force"


def front_check_scope(
    asset_key: dg.AssetKey, sampled: bool = False
) -> Callable[[dg.AssetCheckExecutionContext], CheckScope]:
    """The scope of a Front link check on `asset_key`: links of the Front conversations created in the
    run's window, or the whole table.

    Same window rule as the assets: the first partition also covers conversations created before
    PARTITIONS_START_DATE (open start), the last one (today's) those created after it (open end), and a
    run over every partition, or an unpartitioned run (a check launched alone), checks the whole table,
    orphans of deleted conversations included.
    After a materialization in the same run, the duplicate and orphan checks report what the constraints
    the run found in force rule out (Guarantee), and otherwise trust the table's validated constraints
    (trust_constraints) for what they cover; when `sampled`, the check compares the conversations the run
    was scoped to or a random sample of the window's. Launched on its own it scans and compares everything
    in its window.
    """

    def scope_of(context: dg.AssetCheckExecutionContext) -> CheckScope:
        followed = materialization_record_in_run(context, asset_key)
        after_run = followed is not None
        window = partition_window(context).owning_later_dates()
        params: dict[str, object] = {"changed_since": snapshot_start(context, followed), "trust_constraints": after_run}
        if window.whole:
            params.update(window_start=None, window_end=None)
            where = "whole table"
        else:
            params.update(window_start=window.start, window_end=window.end)
            where = f"conversations created in [{window.start_label}, {window.end_label})"
        if not sampled:
            return CheckScope(label=where, params=params, single_process=after_run)
        if not after_run:
            return CheckScope(label=where, params=params, fragments={"scoped_conversations": WINDOW_CONVERSATIONS_SQL})
        named = conversations_named_by_run(context, asset_key)
        # One draw per check: its statements compare the same conversations, another check another sample.
        params.update(
            only_conversation_ids=named,
            sample_conversations=None if named else SAMPLE_CONVERSATIONS,
            sample_seed=secrets.randbits(63),
        )
        label = (
            f"the {len(named):,} conversations the run recomputed"
            if named
            else f"a random sample of up to {SAMPLE_CONVERSATIONS:,} conversations"
        ) + f" ({where})"
        return CheckScope(
            label=label,
            params=params,
            fragments={"scoped_conversations": SAMPLED_CONVERSATIONS_SQL},
            single_process=after_run,
        )

    return scope_of


def project_check_scope(sampled: bool = False) -> Callable[[dg.AssetCheckExecutionContext], CheckScope]:
    """The scope of a project_conversations check: the whole table. After a materialization in the same run
    the check trusts the table's validated constraints and, when `sampled`, compares the conversations a scoped
    run named, or else a random sample of conversations; launched on its own it scans and compares every row."""

    def scope_of(context: dg.AssetCheckExecutionContext) -> CheckScope:
        followed = materialization_record_in_run(context, project_conversations.key)
        after_run = followed is not None
        params: dict[str, object] = {"trust_constraints": after_run}
        if not sampled:
            return CheckScope(label="whole table", params=params, single_process=after_run)
        named = conversations_named_by_run(context, project_conversations.key) if after_run else None
        params["changed_since"] = snapshot_start(context, followed)
        params["only_conversation_ids"] = named
        params["sample_conversations"] = SAMPLE_CONVERSATIONS if after_run and not named else None
        if named:
            label = f"the {len(named):,} conversations the run reconciled"
        elif after_run:
            label = f"a random sample of up to {SAMPLE_CONVERSATIONS:,} conversations (whole table)"
        else:
            label = "whole table"
        return CheckScope(label=label, params=params, single_process=after_run)

    return scope_of


def conversations_named_by_run(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> list[str] | None:
    """The conversation ids a scoped run (the late-change sensor's) gave the asset, or None for a whole run."""
    op_config = (context.run.run_config.get("ops") or {}).get(asset_key.to_python_identifier()) or {}
    named = (op_config.get("config") or {}).get("only_conversation_ids") or []
    return sorted(set(named)) or None


# The clients links are computed from the people links: a wrong people table makes them wrong too,
# so the people checks are blocking (an ERROR keeps clients_front_conversations of the same run from
# running on it). Nothing is computed from the other link tables.
FEEDS_DOWNSTREAM = (
    "ERROR, blocking: clients_front_conversations is computed from this table, so a failure stops it in the same run."
)
NOTHING_DOWNSTREAM = "ERROR, non-blocking: the data is already committed when the check runs."


def front_link_checks(asset: dg.AssetsDefinition, table: FrontLinkTable, blocking: bool = False) -> list[SqlCheck]:
    """Duplicates, orphans and exactness checks of one Front link table, the asset `asset` (ERROR;
    `blocking` when another asset is computed from the table)."""
    owner = {"link_table": table.table, "owner_column": table.owner_column}
    severity_note = FEEDS_DOWNSTREAM if blocking else NOTHING_DOWNSTREAM
    # The duplicate and orphan checks see the same scoped links.
    scoped_links = {"scoped_links": "links/checks/select_scoped_front_links.sql"}
    return [
        SqlCheck(
            name="no_duplicate_pairs",
            sql_file="links/checks/check_front_links_duplicates.sql",
            identifiers=owner,
            fragments={**scoped_links, **GUARANTEEING_INDEX},
            values=table.constraint_lookup_params(),
            scope_of=front_check_scope(asset.key),
            reported_by_run=Guarantee(table.duplicate_problems).rows_recorded_by,
            reported_as=CONSTRAINTS_IN_FORCE,
            blocking=blocking,
            description=f"Each ({table.owner_column}, front_conversation_id) pair of {table.table} is stored once; after "
            f"a run, a valid unique index on the pair guarantees it without a scan. {severity_note}",
        ),
        SqlCheck(
            name="no_orphans",
            sql_file="links/checks/check_front_links_orphans.sql",
            identifiers={**owner, "owner_table": table.owner_table},
            fragments={**scoped_links, **GUARANTEEING_KEYS},
            values=table.constraint_lookup_params(),
            scope_of=front_check_scope(asset.key),
            reported_by_run=Guarantee(table.orphan_problems).rows_recorded_by,
            reported_as=CONSTRAINTS_IN_FORCE,
            blocking=blocking,
            description=f"Every {table.table} row points at an existing {table.owner_kind} and Front conversation; after "
            f"a run, validated foreign keys guarantee it without a scan. {severity_note}",
        ),
        SqlCheck(
            name="matches_source",
            sql_file="links/checks/check_front_links_exactness.sql",
            identifiers=owner,
            fragments={
                "expected": table.expected_links_sql,
                "scoped_conversations": WINDOW_CONVERSATIONS_SQL,
                "unsettled": "links/checks/select_unsettled_front_conversations.sql",
            },
            first_pass_fragments={"unsettled": "links/checks/excuse_no_front_conversations.sql"},
            scope_of=front_check_scope(asset.key, sampled=True),
            blocking=blocking,
            description=f"{table.table} holds exactly the pairs the source defines: counts and samples of missing "
            f"and extra pairs. After a run it compares the conversations the run was scoped to, or "
            f"{SAMPLE_CONVERSATIONS:,} drawn at random in its window; launched on its own (or by "
            f"link_tables_audit_job) every conversation of its window. Differences in conversations the app changed since the run started are the app "
            f"moving on after the run's snapshot, left to the next run. {severity_note}",
        ),
    ]


def project_link_checks() -> list[SqlCheck]:
    """Duplicates, orphans and exactness (ERROR) plus the deprecated array's consistency (WARN)."""
    return [
        SqlCheck(
            name="no_duplicate_pairs",
            sql_file="links/checks/check_project_links_duplicates.sql",
            fragments=GUARANTEEING_INDEX,
            values={"link_table_name": PROJECT_LINKS_TABLE, "unique_columns": ["conversation_id"]},
            scope_of=project_check_scope(),
            description="Each conversation appears once in project_conversations (one project per conversation). "
            "ERROR, non-blocking: the data is already committed when the check runs.",
        ),
        SqlCheck(
            name="no_orphans",
            sql_file="links/checks/check_project_links_orphans.sql",
            fragments=GUARANTEEING_KEYS,
            values={"link_table_name": PROJECT_LINKS_TABLE},
            scope_of=project_check_scope(),
            description="Every project_conversations row points at an existing project, conversation and, when "
            "set, added_by user. ERROR, non-blocking: the data is already committed when the check runs.",
        ),
        SqlCheck(
            name="matches_source",
            sql_file="links/checks/check_project_links_exactness.sql",
            scope_of=project_check_scope(sampled=True),
            description="project_conversations equals (conversations.project_id, conversations.id) for existing "
            "projects, added_by being the project's user: missing, extra and wrong added_by rows. After a run it "
            f"compares the conversations a scoped run reconciled, or {SAMPLE_CONVERSATIONS:,} drawn at random; "
            "launched on its own (or by link_tables_audit_job) every row. Differences in conversations the app "
            "changed since the run started (the conversation or its project) are left to the next run. "
            "ERROR, non-blocking: the data is already committed when the check runs.",
        ),
        SqlCheck(
            name="array_consistency",
            sql_file="links/checks/check_project_array_consistency.sql",
            values={"only_project_ids": None},
            severity=WARN,
            reported_by_run=array_drift_of_materialization,
            description="The deprecated projects.conversation_ids arrays agree with conversations.project_id: "
            "stale, mismatched and missing entries. After a run it reports what the run itself measured with "
            "the same SQL (recorded in its materialization: every array, or after a scoped run the arrays of the "
            "projects its conversations left or joined); launched on its own it compares every array. "
            "WARN: the arrays are a cache the pipeline never writes.",
        ),
    ]


def array_drift_of_materialization(materialization: dg.AssetMaterialization) -> list[tuple[str, int, object]] | None:
    """The array_consistency rows a project_conversations materialization recorded (it runs the check's own
    SQL: project_array_inconsistencies), or None when it recorded none."""
    metadata = materialization.metadata
    if not all(f"array_{kind}_entries" in metadata for kind in ARRAY_DRIFT_KINDS):
        return None
    return [
        (kind, int(metadata[f"array_{kind}_entries"].value), metadata[f"array_{kind}_samples"].value)
        for kind in ARRAY_DRIFT_KINDS
    ]


# Checked with the people links, which every late-change run refreshes; what it names slows the sensor, not the data.
late_change_indexes_check = SqlCheck(
    name="late_change_indexes",
    sql_file="links/checks/check_late_change_indexes.sql",
    values=change_index_params(),
    severity=WARN,
    description="Each source table the late-change sensor reads has an index on greatest(created_at, updated_at), "
    "so a tick reads only what changed; the metadata names each table without one and the CREATE INDEX "
    "CONCURRENTLY statement a DBA runs (the pipeline never indexes a source table). WARN: ticks stay exact "
    "without them, but read those tables in full at every tick (every LATE_CHANGES_SENSOR_SECONDS).",
)

# One step per table: its checks run one after another on one connection (defs/checks.py: build_sql_checks). Not
# one step for both Front tables: the people checks block the clients links, so they run between the two assets.
link_checks = [
    build_sql_checks(
        asset=people_front_conversations,
        name="people_front_conversations_checks",
        checks=[*front_link_checks(people_front_conversations, PEOPLE_LINKS, blocking=True), late_change_indexes_check],
    ),
    build_sql_checks(
        asset=clients_front_conversations,
        name="clients_front_conversations_checks",
        checks=front_link_checks(clients_front_conversations, CLIENT_LINKS),
    ),
    build_sql_checks(asset=project_conversations, name="project_conversations_checks", checks=project_link_checks()),
]
