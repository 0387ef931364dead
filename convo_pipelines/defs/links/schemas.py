"""Column schemas of the link tables, and the source tables' asset keys, as the UI shows them."""

import dagster as dg

from convo_pipelines.lib.settings import get_settings


def _uuid_column(name: str, description: str, nullable: bool = False) -> dg.TableColumn:
    return dg.TableColumn(name, "uuid", description, dg.TableColumnConstraints(nullable=nullable))


def _timestamp_column(name: str, description: str) -> dg.TableColumn:
    return dg.TableColumn(name, "timestamptz", description, dg.TableColumnConstraints(nullable=False))


def _front_link_schema(owner_column: str, owner_description: str) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                "id",
                "uuid",
                "Link id; kept while the link exists.",
                dg.TableColumnConstraints(nullable=False, unique=True),
            ),
            _uuid_column(owner_column, owner_description),
            _uuid_column(
                "front_conversation_id", "The Front conversation (front_conversations.id, ON DELETE CASCADE)."
            ),
            _timestamp_column(
                "front_conversation_created_at",
                "The conversation's created_at, copied so an owner's newest conversations are one index range scan.",
            ),
            _timestamp_column("created_at", "When the link was first written."),
            _timestamp_column(
                "updated_at", "When something about the link last changed (its created_at copy, if ever)."
            ),
        ],
        constraints=dg.TableConstraints(
            other=[
                f"unique ({owner_column}, front_conversation_id)",
                f"index ({owner_column}, front_conversation_created_at desc, front_conversation_id desc)",
            ]
        ),
    )


def source_table_name(table: str) -> str:
    """schema.table of a link table: they live in SOURCE_SCHEMA, beside the tables they join."""
    return f"{get_settings().source_schema}.{table}"


PEOPLE_LINKS_SCHEMA = _front_link_schema("person_id", "The person (people.id, ON DELETE CASCADE).")
CLIENT_LINKS_SCHEMA = _front_link_schema("client_id", "The client (clients.id, ON DELETE CASCADE).")
PROJECT_LINKS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn(
            "id",
            "uuid",
            "Link id; kept while the conversation has a project.",
            dg.TableColumnConstraints(nullable=False, unique=True),
        ),
        _uuid_column("project_id", "The project (projects.id, ON DELETE CASCADE) = conversations.project_id."),
        dg.TableColumn(
            "conversation_id",
            "uuid",
            "The conversation (conversations.id, ON DELETE CASCADE); one project per conversation.",
            dg.TableColumnConstraints(nullable=False, unique=True),
        ),
        _timestamp_column(
            "added_at", "When the link to this project was first written (reset when the conversation moves)."
        ),
        _uuid_column(
            "added_by",
            "The project's user (users.id, ON DELETE SET NULL); NULL when the project has no existing user.",
            nullable=True,
        ),
    ],
    constraints=dg.TableConstraints(other=["unique (project_id, conversation_id)"]),
)
