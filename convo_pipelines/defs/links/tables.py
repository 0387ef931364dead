"""The link tables, described once: name, owner column, the SQL that defines their rows, foreign keys.

The assets, checks, sensor and jobs of links/, the command line (cli/) and the benchmarks all read these;
it imports neither Dagster nor a database driver, so a command that only needs a table's name stays light.
The definitions themselves are in docs/contract.md.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

# What the links' SQL binds for the unbounded ends of a PartitionWindow (defs/partitions.py): the first
# partition also covers conversations created before PARTITIONS_START_DATE, so a backfill of every
# partition equals the whole definition.
BEGINNING_OF_TIME = datetime(1, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


# The catalog lookups of the constraints PostgreSQL enforces that rule problems out: a valid unique index
# on exactly some columns, validated foreign keys with their triggers enabled (each file says what counts).
GUARANTEEING_UNIQUE_INDEX_SQL = "links/checks/select_guaranteeing_unique_index.sql"
GUARANTEEING_FOREIGN_KEYS_SQL = "links/checks/select_guaranteeing_foreign_keys.sql"


@dataclass(frozen=True)
class ForeignKey:
    """One foreign key of a link table to a source table's id; the table's first fill adds it."""

    name: str
    column: str
    referenced_table: str
    on_delete: str  # "cascade" or "set null"

    def orphans_statement(self) -> str:
        """The SQL file that removes links whose referenced row is gone, the way the key's ON DELETE would."""
        return (
            "links/clear_link_orphan_references.sql"
            if self.on_delete == "set null"
            else "links/delete_link_orphans.sql"
        )


@dataclass(frozen=True)
class ProvenJoin:
    """A join of a link table's definition that only drops rows whose owner does not exist, which a validated
    foreign key of the source can prove instead: the definition file names it `{placeholder}`, bound to
    `join_sql`, or, when `source_table.column` has a validated key to `referenced_table`, to nothing. On a
    large first fill the people definition's join to people is a hash join over every recipient row in every
    process, a noticeable share of the fill's CREATE TABLE AS.
    A writer that bypasses the key (session_replication_role = replica, triggers disabled for a restore)
    can still leave a contact method pointing nowhere: the link table's own foreign key then stops its link
    (a fill's validation removes it, a diff's insert skips it), so the table stays exact."""

    placeholder: str
    join_sql: str
    source_table: str
    column: str
    referenced_table: str


@dataclass(frozen=True)
class FrontLinkTable:
    """A Front link table: (owner, Front conversation) pairs, the owner being a person or a client."""

    table: str
    owner_column: str
    # "person" or "client": how the checks name an owner in their samples.
    owner_kind: str
    # The pairs of a window of conversations, as the asset writes them.
    definition_file: str
    # The same pairs as the exactness check computes them on its own, so a bug in one shows against the other.
    expected_links_sql: str
    foreign_keys: tuple[ForeignKey, ...]
    # The definition's join that a source foreign key can prove needless, if it has one.
    proven_join: ProvenJoin | None = None

    @property
    def owner_table(self) -> str:
        """The source table the owner column references (people or clients)."""
        return next(key.referenced_table for key in self.foreign_keys if key.column == self.owner_column)

    @property
    def conversation_key(self) -> str:
        """The unique pair led by the conversation: it keeps the pairs unique and serves the app's "people / clients of
        a conversation", a window's links and the cascade of a conversation's delete."""
        return f"{self.table}_conversation_{self.owner_kind}_key"

    @property
    def newest_index(self) -> str:
        """The index by owner, conversations newest first: "the newest conversations of a person / client"; the one
        index a first fill builds after its rows are in."""
        return f"{self.table}_{self.owner_kind}_newest_idx"

    @property
    def first_fill_table(self) -> str:
        """The unlogged table of the analytics schema where a first fill stages its pairs while it owns the table."""
        return f"{self.table}_first_fill"

    @property
    def duplicate_problems(self) -> tuple[str, ...]:
        """The problems the duplicate check reports, as its SQL names them."""
        return ("duplicate_pairs",)

    @property
    def orphan_problems(self) -> tuple[str, ...]:
        """The problems the orphan check reports, as its SQL names them."""
        return (f"missing_{self.owner_kind}", "missing_front_conversation")

    def constraint_lookup_params(self) -> dict[str, object]:
        """What the catalog lookups of the constraints that rule out duplicates and orphans bind: the
        table, its owner column and table as values, and the pair a unique index must cover."""
        return {
            "link_table_name": self.table,
            "owner_column_name": self.owner_column,
            "owner_kind": self.owner_kind,
            "owner_table_name": self.owner_table,
            "unique_columns": [self.owner_column, "front_conversation_id"],
        }


PEOPLE_LINKS = FrontLinkTable(
    table="people_front_conversations",
    owner_column="person_id",
    owner_kind="person",
    definition_file="links/select_people_links_window.sql",
    expected_links_sql="links/checks/select_expected_people_links.sql",
    foreign_keys=(
        ForeignKey("people_front_conversations_person_id_fkey", "person_id", "people", "cascade"),
        ForeignKey(
            "people_front_conversations_front_conversation_id_fkey",
            "front_conversation_id",
            "front_conversations",
            "cascade",
        ),
    ),
    proven_join=ProvenJoin(
        "existing_people", "links/join_existing_people.sql", "contact_methods", "person_id", "people"
    ),
)
CLIENT_LINKS = FrontLinkTable(
    table="clients_front_conversations",
    owner_column="client_id",
    owner_kind="client",
    definition_file="links/select_client_links_window.sql",
    expected_links_sql="links/checks/select_expected_client_links.sql",
    foreign_keys=(
        ForeignKey("clients_front_conversations_client_id_fkey", "client_id", "clients", "cascade"),
        ForeignKey(
            "clients_front_conversations_front_conversation_id_fkey",
            "front_conversation_id",
            "front_conversations",
            "cascade",
        ),
    ),
)
FRONT_LINK_TABLES = (PEOPLE_LINKS, CLIENT_LINKS)

PROJECT_LINKS_TABLE = "project_conversations"
PROJECT_LINKS_FOREIGN_KEYS = (
    ForeignKey("project_conversations_project_id_fkey", "project_id", "projects", "cascade"),
    ForeignKey("project_conversations_conversation_id_fkey", "conversation_id", "conversations", "cascade"),
    ForeignKey("project_conversations_added_by_fkey", "added_by", "users", "set null"),
)

# Every link table, in the order they are filled (the clients links are computed from the people links).
LINK_TABLES = (*(spec.table for spec in FRONT_LINK_TABLES), PROJECT_LINKS_TABLE)

# The source tables the late-change sensor reads by their change stamp, greatest(created_at, updated_at):
# the late_change_indexes check names each one without an index on it.
CHANGE_WATCHED_TABLES = (
    "people",
    "contact_methods",
    "front_message_recipients",
    "front_messages",
    "front_conversations",
    "conversations",
    "projects",
)


CHANGE_INDEX_SUFFIX = "_changed_at_idx"


def change_index_name(table: str) -> str:
    """The name the late_change_indexes check gives the index it recommends on `table`."""
    return f"{table}{CHANGE_INDEX_SUFFIX}"


def change_index_params() -> dict[str, object]:
    """What check_late_change_indexes.sql binds besides the schema: the watched tables, the index names' suffix."""
    return {"watched_tables": list(CHANGE_WATCHED_TABLES), "index_suffix": CHANGE_INDEX_SUFFIX}
