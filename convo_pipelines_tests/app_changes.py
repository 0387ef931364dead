"""An application's changes to its source tables, each in one transaction on a connection of its own, and the poll
that tells when the link tables are right about it: what the late-change sensor exists to follow. The tests of
reading through Zero make them, and so does the bench's freshness part.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from psycopg import sql

from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.app_sql import render_sql

# Tries at a change whose randomly picked rows do not qualify (the person already linked, say).
PICK_TRIES = 50


@dataclass(frozen=True)
class ChangeKind:
    """One kind of app change: the statement that makes it (returning the pair to poll for), and where."""

    key: str
    label: str
    change_file: str
    pivots: tuple[str, ...]
    link_table: str
    owner_column: str
    conversation_column: str
    # Whether the change makes the pair appear (True) or go (False).
    appears: bool = True
    # What the change file binds besides its pivots.
    params: tuple[tuple[str, object], ...] = ()


CHANGE_KINDS = (
    ChangeKind(
        "new_recipient",
        "new recipient",
        "insert_recipient_of_unlinked_person.sql",
        ("conversation_pivot", "contact_method_pivot"),
        "people_front_conversations",
        "person_id",
        "front_conversation_id",
    ),
    RECIPIENT_REMOVED := ChangeKind(
        "recipient_removed",
        "recipients removed (their messages touched)",
        "delete_person_recipients.sql",
        ("conversation_pivot",),
        "people_front_conversations",
        "person_id",
        "front_conversation_id",
        appears=False,
        params=(("touch_messages", True),),
    ),
    ChangeKind(
        "contact_method_resolved",
        "contact method resolved to a person",
        "update_contact_method_resolving_it.sql",
        ("contact_method_pivot", "person_pivot"),
        "people_front_conversations",
        "person_id",
        "front_conversation_id",
    ),
    ChangeKind(
        "person_moved",
        "person moved to another client",
        "update_person_moving_to_another_client.sql",
        ("person_pivot", "client_pivot"),
        "clients_front_conversations",
        "client_id",
        "front_conversation_id",
    ),
    ChangeKind(
        "conversation_moved",
        "conversation moved to another project",
        "update_conversation_moving_to_another_project.sql",
        ("conversation_pivot", "project_pivot"),
        "project_conversations",
        "project_id",
        "conversation_id",
    ),
)


@dataclass(frozen=True)
class FreshnessTarget:
    """Where the changes go: a database and the schemas of its source tables and link tables."""

    url: str
    source_schema: str
    analytics_schema: str

    def render(self, name: str, **identifiers: str) -> sql.Composed:
        """convo_pipelines_tests/sql/app_changes/<name> bound to the target's schemas."""
        return render_sql(
            f"app_changes/{name}", source=self.source_schema, analytics=self.analytics_schema, **identifiers
        )


def make_change(target: FreshnessTarget, kind: ChangeKind) -> tuple:
    """One app change of `kind` on randomly picked rows, committed in a transaction of its own on a connection of
    its own; returns what its file returns: (owner_id, conversation_id[, contact_method_id])."""
    with connect(target.url) as app:
        for _ in range(PICK_TRIES):
            params = {**{pivot: uuid.uuid4() for pivot in kind.pivots}, **dict(kind.params)}
            pair = app.execute(target.render(kind.change_file), params).fetchone()
            if pair is not None:
                app.commit()
                return tuple(pair)
    raise RuntimeError(f"freshness: no rows qualify for a {kind.label} after {PICK_TRIES} tries")


def check_of(target: FreshnessTarget, kind: ChangeKind, pair: tuple) -> tuple[sql.Composed, dict]:
    """The poll of a sample: a change that names a contact method is right once the conversation is linked to
    whoever owns that contact method then (the app re-creates people, handing their contact methods over)."""
    owner_id, conversation_id, *contact_method = pair
    if contact_method:
        query = target.render("select_person_link_of_contact_method_exists.sql")
        return query, {"contact_method_id": contact_method[0], "conversation_id": conversation_id}
    query = target.render(
        "select_link_exists.sql",
        link_table=kind.link_table,
        owner_column=kind.owner_column,
        conversation_column=kind.conversation_column,
    )
    return query, {"owner_id": owner_id, "conversation_id": conversation_id}
