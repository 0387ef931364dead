"""The link checks run through Dagster on a real PostgreSQL, their evaluations read, and the SQL that arranges a
table corrupted on purpose."""

import re

import dagster as dg
import psycopg
from psycopg import sql

from convo_pipelines.defs.links.checks import link_checks
from convo_pipelines.defs.links.jobs import link_assets
from convo_pipelines.defs.partitions import partition_range_tags
from convo_pipelines.defs.resources import PostgresResource

SCHEMA = "public"
FRONT_TABLES = ("people_front_conversations", "clients_front_conversations")
OWNER = {"people_front_conversations": ("person_id", "people"), "clients_front_conversations": ("client_id", "clients")}
UNIQUE_PAIR = {
    "people_front_conversations": "people_front_conversations_conversation_person_key",
    "clients_front_conversations": "clients_front_conversations_conversation_client_key",
}
WARN_CHECKS = {"array_consistency", "late_change_indexes"}
# How Dagster fails the step of a table's checks when blocking ones among them fail with ERROR.
BLOCKING_FAILURE = re.compile(r"\d+ blocking asset checks? failed with ERROR severity")


assets_by_name = {asset.key.to_user_string(): asset for asset in link_assets}
front_assets = [assets_by_name[name] for name in FRONT_TABLES]
project_asset = assets_by_name["project_conversations"]


def checks_of(*tables: str) -> list[dg.AssetChecksDefinition]:
    """The check definitions of `tables`: each holds the checks of one table (one step per table)."""
    return [
        check for check in link_checks if {key.asset_key.to_user_string() for key in check.check_keys} <= set(tables)
    ]


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


# Every Front conversation of the dataset is in these partitions (the first one also takes those created
# before PARTITIONS_START_DATE). A range up to today would cost Dagster ~1,000 partitions of events per run.
DATA_RANGE = ("2024-01-01", "2024-01-15")
DATA_RANGE_SCOPE = "conversations created in [-infinity, 2024-01-16T00:00:00+00:00)"


def materialize_links(postgres: PostgresResource) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """Build all three link tables (the Front ones over the data's partitions as one run) with their checks."""
    front = dg.materialize(
        [*front_assets, *checks_of(*FRONT_TABLES)],
        resources={"postgres": postgres},
        tags=partition_range_tags(*DATA_RANGE),
    )
    project = dg.materialize([project_asset, *checks_of("project_conversations")], resources={"postgres": postgres})
    assert front.success and project.success
    return {**evaluations(front), **evaluations(project)}


def run_checks_alone(postgres: PostgresResource, *tables: str) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """Run only the checks of `tables` (no asset step, so a corrupted table stays corrupted)."""
    result = dg.materialize(
        [*link_assets, *link_checks],
        selection=dg.AssetSelection.checks_for_assets(*tables),
        resources={"postgres": postgres},
        raise_on_error=False,
    )
    # A failing blocking check (people_front_conversations') fails its step, and so the run; nothing else may.
    failures = [event.event_specific_data.error.message for event in result.all_events if event.is_step_failure]
    assert all(BLOCKING_FAILURE.search(failure) for failure in failures), failures
    found = evaluations(result)
    assert {table for table, _ in found} == set(tables)
    return found


def count(evaluation: dg.AssetCheckEvaluation, problem: str) -> int:
    return evaluation.metadata[f"{problem}_count"].value


def samples(evaluation: dg.AssetCheckEvaluation, problem: str) -> list[dict]:
    return evaluation.metadata[f"{problem}_samples"].value


def execute(db: psycopg.Connection, statement: str, *identifiers: str, params: tuple = ()) -> psycopg.Cursor:
    """Run test-arrangement SQL with identifiers quoted ({} placeholders) and values bound."""
    return db.execute(sql.SQL(statement).format(*map(sql.Identifier, identifiers)), params)


def insert_link(db: psycopg.Connection, table: str, owner_column: str, pair: tuple) -> None:
    """Store the (owner, conversation, created_at) link `pair` in `table` behind the pipeline's back."""
    execute(
        db,
        "insert into public.{} ({}, front_conversation_id, front_conversation_created_at) values (%s, %s, %s)",
        table,
        owner_column,
        params=pair,
    )


def fix_project_arrays(db: psycopg.Connection) -> None:
    """Make every projects.conversation_ids agree with conversations.project_id (test arrangement)."""
    db.execute(
        "update public.projects as p set conversation_ids = coalesce("
        "(select array_agg(c.id order by c.id) from public.conversations as c where c.project_id = p.id), '{}')"
    )
