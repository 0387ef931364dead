"""What a link table is, described once: its name, columns, the source tables and SQL that define its rows, its
keys, and what the catalog proves about them.

The assets, checks, sensor and jobs of links/, the command line (cli/) and the benchmarks all read these; it
imports no Dagster, so a command that only needs a table's name stays light. The definitions themselves are in
docs/contract.md; the state a table is in (its lock, keys and indexes now) is table_state/.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg import sql

from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.settings import get_settings

# What the links' SQL binds for the unbounded ends of a PartitionWindow (defs/partitions.py): the first
# partition also covers conversations created before PARTITIONS_START_DATE, so a backfill of every
# partition equals the whole definition.
BEGINNING_OF_TIME = datetime(1, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


# The catalog lookups of the constraints PostgreSQL enforces that rule problems out: a valid unique index
# on exactly some columns, validated foreign keys with their triggers enabled (each file says what counts).
GUARANTEEING_UNIQUE_INDEX_SQL = "links/checks/select_guaranteeing_unique_index.sql"
GUARANTEEING_FOREIGN_KEYS_SQL = "links/checks/select_guaranteeing_foreign_keys.sql"


def qualified_table_name(table: str) -> str:
    """schema.table of a link table: they live in SOURCE_SCHEMA, beside the tables they join."""
    return f"{get_settings().source_schema}.{table}"


@dataclass(frozen=True)
class Column:
    """A column of a link table, as the UI's column schema shows it."""

    name: str
    type: str
    description: str
    nullable: bool = False
    unique: bool = False


def _front_link_columns(owner_column: str, owner_table: str, owner_kind: str) -> tuple[Column, ...]:
    return (
        Column("id", "uuid", "Link id; kept while the link exists.", unique=True),
        Column(owner_column, "uuid", f"The {owner_kind} ({owner_table}.id, ON DELETE CASCADE)."),
        Column("front_conversation_id", "uuid", "The Front conversation (front_conversations.id, ON DELETE CASCADE)."),
        Column(
            "front_conversation_created_at",
            "timestamptz",
            "The conversation's created_at, copied so an owner's newest conversations are one index range scan.",
        ),
        Column("created_at", "timestamptz", "When the link was first written."),
        Column(
            "updated_at", "timestamptz", "When something about the link last changed (its created_at copy, if ever)."
        ),
    )


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
    # The tables (and link tables) the definition reads: the asset's lineage.
    source_tables: tuple[str, ...]
    # The definition's join that a source foreign key can prove needless, if it has one.
    proven_join: ProvenJoin | None = None

    @property
    def columns(self) -> tuple[Column, ...]:
        return _front_link_columns(self.owner_column, self.owner_table, self.owner_kind)

    @property
    def constraints(self) -> tuple[str, ...]:
        return (
            f"unique ({self.owner_column}, front_conversation_id)",
            f"index ({self.owner_column}, front_conversation_created_at desc, front_conversation_id desc)",
        )

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
    def window_staged_table(self) -> str:
        """The unlogged table of the analytics schema where a window's diff stages its defined pairs, created and
        dropped inside the diff's transaction: no other session ever sees it."""
        return f"{self.table}_window_staged"

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
    source_tables=("front_conversations", "front_messages", "front_message_recipients", "contact_methods", "people"),
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
    source_tables=("people_front_conversations", "front_conversations", "people", "clients"),
)
FRONT_LINK_TABLES = (PEOPLE_LINKS, CLIENT_LINKS)

PROJECT_LINKS_TABLE = "project_conversations"
PROJECT_LINKS_FOREIGN_KEYS = (
    ForeignKey("project_conversations_project_id_fkey", "project_id", "projects", "cascade"),
    ForeignKey("project_conversations_conversation_id_fkey", "conversation_id", "conversations", "cascade"),
    ForeignKey("project_conversations_added_by_fkey", "added_by", "users", "set null"),
)
PROJECT_SOURCE_TABLES = ("conversations", "projects", "users")
PROJECT_LINK_COLUMNS = (
    Column("id", "uuid", "Link id; kept while the conversation has a project.", unique=True),
    Column("project_id", "uuid", "The project (projects.id, ON DELETE CASCADE) = conversations.project_id."),
    Column(
        "conversation_id",
        "uuid",
        "The conversation (conversations.id, ON DELETE CASCADE); one project per conversation.",
        unique=True,
    ),
    Column(
        "added_at",
        "timestamptz",
        "When the link to this project was first written (reset when the conversation moves).",
    ),
    Column(
        "added_by",
        "uuid",
        "The project's user (users.id, ON DELETE SET NULL); NULL when the project has no existing user.",
        nullable=True,
    ),
)
PROJECT_LINK_CONSTRAINTS = ("unique (project_id, conversation_id)",)

# Every link table, in the order they are filled (the clients links are computed from the people links).
LINK_TABLES = (*(spec.table for spec in FRONT_LINK_TABLES), PROJECT_LINKS_TABLE)

# ---------------------------------------------------------------------------------------------
# The definition as SQL, and what the catalog proves about it


def front_definition(
    session: Session, spec: FrontLinkTable, *, bulk: bool = True, joined: bool = False
) -> sql.Composed:
    """The definition of `spec`: the pairs its window should hold, DISTINCT; `joined`, as the join gives them, a pair
    once per row that supports it (a diff dedups only its differences). For a bulk read (a first fill, a window's
    diff), its ProvenJoin is left out when the source's validated foreign key proves it needless; a scoped
    run's few conversations keep it, which costs less than asking the catalog."""
    distinct = sql.SQL("" if joined else "distinct")
    join = spec.proven_join
    if join is None:
        return session.sql(spec.definition_file, distinct=distinct)
    proven = bulk and source_key_is_validated(session, join)
    # Proven: the join is bound to nothing, since the source's validated key proves every referenced row exists.
    bound = sql.SQL("") if proven else session.sql(join.join_sql)
    return session.sql(spec.definition_file, distinct=distinct, **{join.placeholder: bound})


def source_key_is_validated(session: Session, join: ProvenJoin) -> bool:
    """True when `join.source_table.column` has a validated foreign key to `join.referenced_table`'s id, its
    triggers enabled: PostgreSQL's own proof that every non-null value is an existing row's id."""
    keys = session.execute(
        session.sql(GUARANTEEING_FOREIGN_KEYS_SQL),
        {"trust_constraints": True, "source_schema": session.source_schema, "link_table_name": join.source_table},
    ).fetchall()
    # The lookup lists only keys to the referenced table's id.
    return any((column, table) == (join.column, join.referenced_table) for _, column, table in keys)


def front_link_guarantees(session: Session, spec: FrontLinkTable) -> dict[str, str]:
    """{problem: constraint} for each duplicate or orphan problem of `spec.table` its constraints rule out
    now: read once the run's writes and foreign keys are done, and recorded in its materialization
    (GUARANTEES_METADATA), so the duplicate and orphan checks that follow it need not read the catalog again."""
    statement = session.sql(
        "links/select_front_link_guarantees.sql",
        guaranteeing_index=session.sql(GUARANTEEING_UNIQUE_INDEX_SQL),
        guaranteeing_keys=session.sql(GUARANTEEING_FOREIGN_KEYS_SQL),
    )
    params = {"trust_constraints": True, "source_schema": session.source_schema, **spec.constraint_lookup_params()}
    return {problem: verified_by for problem, _, _, verified_by in session.execute(statement, params).fetchall()}
