"""The Rails application's own Front link tables: its migration's DDL, its rake task's fill, and its deletes.

An application may have created `people_front_conversations` and `clients_front_conversations` itself (a Rails
7.1 migration, run as the app's role, which then owns them) and filled them with a rake task before convo_pipelines
ever ran. Tests build such a database with these helpers, and compute the tables' definition with their own SQL
(`PEOPLE_DEFINITION`, `CLIENTS_DEFINITION`), never with the product's sql/ files.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import psycopg
from psycopg import sql

PEOPLE, CLIENTS = "people_front_conversations", "clients_front_conversations"


@dataclass(frozen=True)
class RailsLinkTable:
    table: str
    owner_column: str  # person_id / client_id
    owner_table: str  # people / clients
    owner_foreign_key: str
    conversation_foreign_key: str
    pair_index: str  # the unique (owner, conversation) index

    def create_statements(self, updated_at: bool = True) -> list[str]:
        """What `rails db:migrate` sends for the app's create_table with t.references and t.timestamps, and its
        add_index calls; `updated_at=False`: an app whose table has no such column."""
        stamps = '"created_at" timestamp(6) NOT NULL' + (', "updated_at" timestamp(6) NOT NULL' if updated_at else "")
        owner, table = self.owner_column, self.table
        return [
            f'CREATE TABLE "{table}" ("id" uuid DEFAULT gen_random_uuid() NOT NULL PRIMARY KEY, '
            f'"{owner}" uuid NOT NULL, "front_conversation_id" uuid NOT NULL, {stamps}, '
            f'CONSTRAINT "{self.owner_foreign_key}" FOREIGN KEY ("{owner}") REFERENCES "{self.owner_table}" ("id"), '
            f'CONSTRAINT "{self.conversation_foreign_key}" FOREIGN KEY ("front_conversation_id") '
            f'REFERENCES "front_conversations" ("id"))',
            f'CREATE INDEX "index_{table}_on_{owner}" ON "{table}" ("{owner}")',
            f'CREATE INDEX "index_{table}_on_front_conversation_id" ON "{table}" ("front_conversation_id")',
            f'CREATE UNIQUE INDEX "{self.pair_index}" ON "{table}" ("{owner}", "front_conversation_id")',
        ]


RAILS_TABLES = {
    PEOPLE: RailsLinkTable(
        PEOPLE, "person_id", "people", "fk_rails_5f2a1e0c11", "fk_rails_0b7e4c5d22", "idx_person_front_conversation"
    ),
    CLIENTS: RailsLinkTable(
        CLIENTS, "client_id", "clients", "fk_rails_7c3d9a4e33", "fk_rails_1e8b6f2a44", "idx_client_front_conversation"
    ),
}

# The definition (docs/contract.md, "Link tables"), written here for the tests: every distinct (person, conversation)
# where a recipient of a message of the conversation has a contact method of an existing person; and every distinct
# (current client of such a person, conversation) for clients that exist.
PEOPLE_DEFINITION = """
    select distinct contact_method.person_id as owner_id, message.front_conversation_id
    from public.front_message_recipients as recipient
    join public.front_messages as message on message.id = recipient.front_message_id
    join public.front_conversations as conversation on conversation.id = message.front_conversation_id
    join public.contact_methods as contact_method on contact_method.id = recipient.contact_method_id
    join public.people as person on person.id = contact_method.person_id
"""
CLIENTS_DEFINITION = f"""
    select distinct person.client_id as owner_id, link.front_conversation_id
    from ({PEOPLE_DEFINITION}) as link
    join public.people as person on person.id = link.owner_id
    join public.clients as client on client.id = person.client_id
"""
DEFINITIONS = {PEOPLE: PEOPLE_DEFINITION, CLIENTS: CLIENTS_DEFINITION}
# Rails writes its stamps in UTC into `timestamp` columns; the rake task ran a week before the tests' first run.
RAKE_TASK_STAMP = "(now() at time zone 'utc') - interval '7 days'"


def create_rails_link_tables(rails: psycopg.Connection, without_updated_at: tuple[str, ...] = ()) -> None:
    """Run the app's migration on `rails` (a connection as the app's role), in one transaction as Rails does."""
    with rails.transaction():
        for name, table in RAILS_TABLES.items():
            for statement in table.create_statements(updated_at=name not in without_updated_at):
                rails.execute(statement)


def fill_as_the_rake_task(rails: psycopg.Connection, without_updated_at: tuple[str, ...] = ()) -> None:
    """The app's rake task: one row per pair of the definition, a fresh uuid each, stamped by the app."""
    with rails.transaction():
        for name, table in RAILS_TABLES.items():
            stamps = ("created_at",) if name in without_updated_at else ("created_at", "updated_at")
            rails.execute(
                f"insert into public.{name} ({table.owner_column}, front_conversation_id, {', '.join(stamps)}) "
                f"select owner_id, front_conversation_id, {', '.join([RAKE_TASK_STAMP] * len(stamps))} "
                f"from ({DEFINITIONS[name]}) as defined"
            )


def defined_pairs(conn: psycopg.Connection, table: str) -> set[tuple[UUID, UUID]]:
    """The (owner id, conversation id) pairs `table` should hold, computed from the source by this module's SQL."""
    return set(conn.execute(DEFINITIONS[table]).fetchall())


def stored_links(conn: psycopg.Connection, table: str) -> dict[tuple[UUID, UUID], tuple]:
    """{(owner id, conversation id): (id, created_at, updated_at)}; asserts no pair is stored twice."""
    owner = RAILS_TABLES[table].owner_column
    rows = conn.execute(
        sql.SQL("select {}, front_conversation_id, id, created_at, updated_at from {}").format(
            sql.Identifier(owner), sql.Identifier("public", table)
        )
    ).fetchall()
    links = {(row[0], row[1]): row[2:] for row in rows}
    assert len(links) == len(rows), f"{table} holds a pair twice"
    return links


def delete_person_as_rails(rails: psycopg.Connection, person: UUID) -> None:
    """`person.destroy` with `has_many :people_front_conversations, dependent: :delete_all`: its links, then the
    person, in one transaction (the app's foreign key has no ON DELETE)."""
    with rails.transaction():
        rails.execute(f"delete from public.{PEOPLE} where person_id = %s", (person,))
        rails.execute("delete from public.people where id = %s", (person,))


def insert_link_as_rails(rails: psycopg.Connection, table: str, owner: UUID, conversation: UUID) -> UUID:
    """The app's own `create!` of a link: it names only its columns; returns the new row's id."""
    owner_column = RAILS_TABLES[table].owner_column
    return rails.execute(
        f"insert into public.{table} ({owner_column}, front_conversation_id, created_at, updated_at) "
        "values (%s, %s, now() at time zone 'utc', now() at time zone 'utc') returning id",
        (owner, conversation),
    ).fetchone()[0]
