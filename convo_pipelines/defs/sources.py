"""The application's tables the pipelines read, as external assets (group `source`): Dagster neither
materializes nor observes them, they give the asset graph its parents. Columns relied on: docs/contract.md
section 1. The crews' histories tables, one per crew and known only at run time, are represented by `crews`.
"""

import dagster as dg

from convo_pipelines.defs.table_asset import OWNERS
from convo_pipelines.lib.settings import get_settings


def source_table(table: str, description: str) -> dg.AssetSpec:
    """An application table in SOURCE_SCHEMA, read-only for the project."""
    return dg.AssetSpec(
        key=table,
        description=f"The application's {table} table (source, read-only): {description}",
        group_name="source",
        kinds={"postgres"},
        owners=OWNERS,
        metadata={"dagster/table_name": f"{get_settings().source_schema}.{table}"},
    )


clients = source_table("clients", "one row per client, with its code.")
people = source_table("people", "one row per person, with their current client.")
contact_methods = source_table(
    "contact_methods", "an address a message reaches; person_id when it resolves to a person."
)
front_conversations = source_table(
    "front_conversations", "one row per Front conversation; created_at is its partition day."
)
front_messages = source_table("front_messages", "the messages of each Front conversation.")
front_message_recipients = source_table(
    "front_message_recipients", "who (which contact method) received each Front message."
)
users = source_table("users", "the application's users; a project's user is added_by of its links.")
projects = source_table("projects", "one row per project, with its user and the deprecated conversation_ids array.")
conversations = source_table(
    "conversations", "one row per conversation with a lead; project_id is the source of truth for projects."
)
crews = source_table(
    "crews",
    "one row per agent crew: its client and the name of its chat-histories table, which the histories assets read too.",
)

source_assets = [
    clients,
    people,
    contact_methods,
    front_conversations,
    front_messages,
    front_message_recipients,
    users,
    projects,
    conversations,
    crews,
]
