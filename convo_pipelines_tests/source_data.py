"""Small deterministic source data with every edge case of the link tables, and an independent oracle.

Stable API (other test files use it):
- `build_source_data(conn, schema="public", seed=7, dangling_references=True) -> SourceData`
  inserts the rows (plain INSERTs, ~40 Front conversations over 2023-12-31 .. 2024-01-14) and
  returns the ids of every edge case so a test can change them.
- `expected_people_links(conn, schema, start=None, end=None)`,
  `expected_client_links(conn, schema, start=None, end=None)`: sets of (owner id, conversation id)
  pairs computed in Python from the fetched rows (not with the assets' SQL); `start`/`end` bound
  the conversation's created_at half-open, None meaning open. Client links are derived from the
  EXPECTED people links, so they do not depend on the people table being right.
- `expected_project_links(conn, schema)`: set of (project_id, conversation_id, added_by).
- `expected_array_inconsistencies(conn, schema)`: {"stale"|"mismatched"|"missing": set of (project_id, conversation_id)}.
- `link_pairs(conn, schema, table)`: the pairs in a link table; `link_rows(...)`: {pair: (id, created_at, updated_at)}.
- `assert_links_exact(conn, schema)`: asserts the three link tables equal the oracle.
- `source_checksums(conn, schema)`: {table: md5 of its sorted rows} for every source table.

Edge cases: people with 1-3 contact methods (several used in one conversation), recipients with
NULL contact_method_id, unresolved contact methods (person_id NULL), a contact method pointing at
a deleted person, a person whose client is deleted, conversations at 23:59:59.999999 and 00:00:00
UTC on a partition boundary, one created before PARTITIONS_START_DATE (2024-01-01) and one at its
first instant, a conversation with no messages and a message with no recipients, projects with a
stale, a mismatched, a missing and a NULL conversation_ids array, conversations with NULL
project_id, a project with no user and one whose user is deleted.

With `dangling_references=True` (the default) the source FKs contact_methods.person_id → people
and projects.user_id → users are dropped first, as in an application database without them, so
a deleted person / user can leave a dangling id behind instead of SET NULL / CASCADE.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
from psycopg import sql

from convo_pipelines.lib.postgres.source_tables import SOURCE_TABLES as LINKED_SOURCE_TABLES

UTC = UTC
# Every source table: those the link tables are computed from, plus the crews registry of the histories part.
SOURCE_TABLES = (*LINKED_SOURCE_TABLES, "crews")
# The source tables that carry created_at and updated_at (users has created_at only).
SOURCE_TABLES_WITH_TIMESTAMPS = tuple(table for table in LINKED_SOURCE_TABLES if table != "users")
# A moment after every generated row and before any cursor a test's sensor or daemon starts from.
BASELINE = "2024-02-01 00:00:00+00"
FIRST_DAY = datetime(2024, 1, 8, tzinfo=UTC)
DAYS = 7  # 2024-01-08 .. 2024-01-14


@dataclass
class SourceData:
    """Ids of the generated rows, with the edge cases named."""

    clients: list[UUID] = field(default_factory=list)
    people: list[UUID] = field(default_factory=list)
    contact_methods: dict[UUID, UUID | None] = field(default_factory=dict)  # id -> person_id
    front_conversations: dict[UUID, datetime] = field(default_factory=dict)  # id -> created_at
    users: list[UUID] = field(default_factory=list)
    projects: list[UUID] = field(default_factory=list)
    conversations: dict[UUID, UUID | None] = field(default_factory=dict)  # id -> project_id
    # edge cases
    deleted_client: UUID | None = None
    person_of_deleted_client: UUID | None = None
    deleted_person: UUID | None = None
    dangling_contact_method: UUID | None = None
    unresolved_contact_methods: list[UUID] = field(default_factory=list)
    last_instant_of_jan_9: UUID | None = None  # created 2024-01-09 23:59:59.999999
    first_instant_of_jan_10: UUID | None = None  # created 2024-01-10 00:00:00
    before_partitions_start: UUID | None = None  # created 2023-12-31 23:59:59
    first_instant_of_partitions: UUID | None = None  # created 2024-01-01 00:00:00
    front_conversation_without_messages: UUID | None = None
    stale_array_project: UUID | None = None
    mismatched_array_project: UUID | None = None
    null_array_project: UUID | None = None
    userless_project: UUID | None = None
    deleted_user_project: UUID | None = None
    deleted_user: UUID | None = None
    conversations_without_project: list[UUID] = field(default_factory=list)

    def front_conversations_on(self, day: datetime) -> list[UUID]:
        """Front conversations created on the UTC day starting at `day`."""
        end = day + timedelta(days=1)
        return [cid for cid, created in self.front_conversations.items() if day <= created < end]


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def new(self) -> UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)


def build_source_data(
    conn: psycopg.Connection, schema: str = "public", seed: int = 7, dangling_references: bool = True
) -> SourceData:
    """Insert the deterministic dataset into `schema` (autocommit or committed by the caller)."""
    rng = random.Random(seed)
    ids = _Ids(rng)
    data = SourceData()
    if dangling_references:
        _drop_foreign_key(conn, schema, "contact_methods", "contact_methods_person_id_fkey")
        _drop_foreign_key(conn, schema, "projects", "projects_user_id_fkey")
    _insert_people(conn, schema, rng, ids, data)
    _insert_front_conversations(conn, schema, rng, ids, data)
    _insert_projects(conn, schema, rng, ids, data)
    _apply_deletions(conn, schema, data)
    return data


def _drop_foreign_key(conn: psycopg.Connection, schema: str, table: str, constraint: str) -> None:
    conn.execute(
        sql.SQL("alter table {}.{} drop constraint if exists {}").format(
            sql.Identifier(schema), sql.Identifier(table), sql.Identifier(constraint)
        )
    )


def _insert(conn: psycopg.Connection, schema: str, table: str, columns: list[str], rows: list[tuple]) -> None:
    if not rows:
        return
    statement = sql.SQL("insert into {}.{} ({}) values ({})").format(
        sql.Identifier(schema),
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    with conn.cursor() as cursor:
        cursor.executemany(statement, rows)


def _insert_people(conn, schema, rng, ids, data: SourceData) -> None:
    clients = [(ids.new(), f"C{i}", f"Client {i}") for i in range(4)]
    _insert(conn, schema, "clients", ["id", "code", "name"], clients)
    data.clients = [row[0] for row in clients]

    people = []
    for index in range(16):
        people.append((ids.new(), data.clients[index % 4], f"Person {index}"))
    _insert(conn, schema, "people", ["id", "client_id", "name"], people)
    data.people = [row[0] for row in people]
    # Client 3 will be deleted: its people keep their people links but get no client link.
    data.deleted_client = data.clients[3]
    data.person_of_deleted_client = data.people[3]
    # Person 14 will be deleted after their contact method points at them.
    data.deleted_person = data.people[14]

    contact_methods = []
    for person in data.people:
        for number in range(rng.randint(1, 3)):
            contact_methods.append((ids.new(), person, "email", f"p{person.hex[:6]}-{number}@example.com"))
    for number in range(3):
        contact_methods.append((ids.new(), None, "phone", f"+1555000{number}"))
    _insert(conn, schema, "contact_methods", ["id", "person_id", "kind", "value"], contact_methods)
    data.contact_methods = {row[0]: row[1] for row in contact_methods}
    data.unresolved_contact_methods = [row[0] for row in contact_methods if row[1] is None]
    data.dangling_contact_method = next(row[0] for row in contact_methods if row[1] == data.deleted_person)


def _insert_front_conversations(conn, schema, rng, ids, data: SourceData) -> None:
    created: list[tuple[UUID, datetime]] = []
    for day in range(DAYS):
        for _ in range(4):
            seconds = rng.randint(0, 86_399)
            created.append((ids.new(), FIRST_DAY + timedelta(days=day, seconds=seconds)))
    specials = {
        "last_instant_of_jan_9": datetime(2024, 1, 9, 23, 59, 59, 999_999, tzinfo=UTC),
        "first_instant_of_jan_10": datetime(2024, 1, 10, tzinfo=UTC),
        "before_partitions_start": datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC),
        "first_instant_of_partitions": datetime(2024, 1, 1, tzinfo=UTC),
        "front_conversation_without_messages": datetime(2024, 1, 11, 12, tzinfo=UTC),
    }
    for name, moment in specials.items():
        conversation_id = ids.new()
        setattr(data, name, conversation_id)
        created.append((conversation_id, moment))
    _insert(
        conn,
        schema,
        "front_conversations",
        ["id", "subject", "created_at"],
        [(cid, f"Subject {index}", moment) for index, (cid, moment) in enumerate(created)],
    )
    data.front_conversations = dict(created)

    # Recipients draw from every contact method, resolved or not, plus NULLs; people with
    # several contact methods often appear through two of them in one conversation.
    contact_methods = list(data.contact_methods)
    messages, recipients = [], []
    for conversation_id, moment in created:
        if conversation_id == data.front_conversation_without_messages:
            continue
        for _ in range(rng.randint(1, 4)):
            message_id = ids.new()
            messages.append((message_id, conversation_id, moment))
            for _ in range(rng.randint(0, 4)):  # 0: a message with no recipients
                contact_method = None if rng.random() < 0.1 else rng.choice(contact_methods)
                recipients.append((ids.new(), message_id, contact_method, rng.choice(["to", "cc", "from"])))
    # The edge-case contact methods always appear somewhere on a known day.
    first_message_of_jan_10 = next(m for m in messages if m[1] == data.first_instant_of_jan_10)[0]
    for contact_method in [data.dangling_contact_method, *data.unresolved_contact_methods]:
        recipients.append((ids.new(), first_message_of_jan_10, contact_method, "cc"))
    recipients.append((ids.new(), first_message_of_jan_10, None, "cc"))
    person_of_deleted_client_method = next(
        cm for cm, person in data.contact_methods.items() if person == data.person_of_deleted_client
    )
    recipients.append((ids.new(), first_message_of_jan_10, person_of_deleted_client_method, "to"))
    # Every boundary conversation links at least person 0, so a test sees which window took it.
    person_zero_method = next(cm for cm, person in data.contact_methods.items() if person == data.people[0])
    for name in (
        "last_instant_of_jan_9",
        "first_instant_of_jan_10",
        "before_partitions_start",
        "first_instant_of_partitions",
    ):
        first_message = next(m for m in messages if m[1] == getattr(data, name))[0]
        recipients.append((ids.new(), first_message, person_zero_method, "from"))
    _insert(conn, schema, "front_messages", ["id", "front_conversation_id", "created_at"], messages)
    _insert(
        conn, schema, "front_message_recipients", ["id", "front_message_id", "contact_method_id", "role"], recipients
    )


def _insert_projects(conn, schema, rng, ids, data: SourceData) -> None:
    data.users = [ids.new() for _ in range(4)]
    _insert(conn, schema, "users", ["id"], [(user,) for user in data.users])
    data.deleted_user = data.users[3]
    projects = [ids.new() for _ in range(5)]
    data.projects = projects
    (
        data.stale_array_project,
        data.mismatched_array_project,
        data.null_array_project,
        data.userless_project,
        data.deleted_user_project,
    ) = projects
    owners = {
        projects[0]: data.users[0],
        projects[1]: data.users[1],
        projects[2]: data.users[2],
        projects[3]: None,
        projects[4]: data.deleted_user,
    }

    conversations: list[tuple[UUID, UUID | None, datetime]] = []
    for index in range(24):
        project = None if index % 6 == 5 else projects[index % 5]
        conversations.append((ids.new(), project, FIRST_DAY + timedelta(hours=index * 5)))
    data.conversations = {cid: project for cid, project, _ in conversations}
    data.conversations_without_project = [cid for cid, project, _ in conversations if project is None]

    arrays: dict[UUID, list[UUID] | None] = {project: [] for project in projects}
    for cid, project, _ in conversations:
        if project is not None:
            arrays[project].append(cid)
    arrays[data.null_array_project] = None
    arrays[data.stale_array_project].append(ids.new())  # a conversation that never existed
    arrays[data.stale_array_project].append(data.conversations_without_project[0])  # left every project
    arrays[data.stale_array_project].append(data.conversations_without_project[0])  # listed twice, one problem
    arrays[data.mismatched_array_project].append(arrays[data.stale_array_project][0])  # belongs to another project
    missing_from = arrays[data.userless_project]
    missing_from.pop()  # the last conversation of the user-less project is not listed
    _insert(
        conn,
        schema,
        "projects",
        ["id", "user_id", "name", "conversation_ids"],
        [(project, owners[project], f"Project {index}", arrays[project]) for index, project in enumerate(projects)],
    )
    _insert(
        conn,
        schema,
        "conversations",
        ["id", "user_id", "project_id", "lead_id", "created_at"],
        [(cid, data.users[0], project, None, moment) for cid, project, moment in conversations],
    )


def _apply_deletions(conn: psycopg.Connection, schema: str, data: SourceData) -> None:
    """Delete a client, a person and a user the way an application would, leaving their references behind."""
    for table, row_id in (
        ("clients", data.deleted_client),
        ("people", data.deleted_person),
        ("users", data.deleted_user),
    ):
        conn.execute(
            sql.SQL("delete from {}.{} where id = %s").format(sql.Identifier(schema), sql.Identifier(table)), (row_id,)
        )


# ---------------------------------------------------------------------------------------------
# Independent oracle: plain Python over the fetched rows.


def _fetch(conn: psycopg.Connection, schema: str, table: str, columns: list[str]) -> list[tuple]:
    statement = sql.SQL("select {} from {}.{}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema), sql.Identifier(table)
    )
    return conn.execute(statement).fetchall()


def _in_window(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment < end)


def expected_people_links(
    conn: psycopg.Connection, schema: str = "public", start: datetime | None = None, end: datetime | None = None
) -> set[tuple[UUID, UUID]]:
    """(person_id, front_conversation_id) the people link table should hold for conversations in [start, end)."""
    conversations = {
        cid
        for cid, created in _fetch(conn, schema, "front_conversations", ["id", "created_at"])
        if _in_window(created, start, end)
    }
    message_conversation = dict(_fetch(conn, schema, "front_messages", ["id", "front_conversation_id"]))
    contact_person = dict(_fetch(conn, schema, "contact_methods", ["id", "person_id"]))
    people = {row[0] for row in _fetch(conn, schema, "people", ["id"])}
    pairs = set()
    for message_id, contact_method_id in _fetch(
        conn, schema, "front_message_recipients", ["front_message_id", "contact_method_id"]
    ):
        conversation = message_conversation.get(message_id)
        person = contact_person.get(contact_method_id)
        if conversation in conversations and person in people:
            pairs.add((person, conversation))
    return pairs


def expected_client_links(
    conn: psycopg.Connection, schema: str = "public", start: datetime | None = None, end: datetime | None = None
) -> set[tuple[UUID, UUID]]:
    """(client_id, front_conversation_id): each expected people link's person's CURRENT client, if it exists."""
    person_client = dict(_fetch(conn, schema, "people", ["id", "client_id"]))
    clients = {row[0] for row in _fetch(conn, schema, "clients", ["id"])}
    return {
        (person_client[person], conversation)
        for person, conversation in expected_people_links(conn, schema, start, end)
        if person_client[person] in clients
    }


def expected_project_links(conn: psycopg.Connection, schema: str = "public") -> set[tuple[UUID, UUID, UUID | None]]:
    """(project_id, conversation_id, added_by) for every conversation whose project exists."""
    project_user = dict(_fetch(conn, schema, "projects", ["id", "user_id"]))
    users = {row[0] for row in _fetch(conn, schema, "users", ["id"])}
    links = set()
    for conversation, project in _fetch(conn, schema, "conversations", ["id", "project_id"]):
        if project in project_user:
            user = project_user[project]
            links.add((project, conversation, user if user in users else None))
    return links


def expected_array_inconsistencies(
    conn: psycopg.Connection, schema: str = "public"
) -> dict[str, set[tuple[UUID, UUID]]]:
    """Entries of projects.conversation_ids that disagree with conversations.project_id, by kind."""
    arrays = dict(_fetch(conn, schema, "projects", ["id", "conversation_ids"]))
    conversation_project = dict(_fetch(conn, schema, "conversations", ["id", "project_id"]))
    found: dict[str, set[tuple[UUID, UUID]]] = defaultdict(set)
    listed = set()
    for project, entries in arrays.items():
        for conversation in entries or []:
            if conversation is None:
                continue
            listed.add((project, conversation))
            actual = conversation_project.get(conversation)
            if actual is None:
                found["stale"].add((project, conversation))
            elif actual != project:
                found["mismatched"].add((project, conversation))
    for conversation, project in conversation_project.items():
        if project in arrays and (project, conversation) not in listed:
            found["missing"].add((project, conversation))
    return {kind: found[kind] for kind in ("stale", "mismatched", "missing")}


# ---------------------------------------------------------------------------------------------
# Reading link tables and fingerprinting the source


LINK_OWNER_COLUMNS = {
    "people_front_conversations": "person_id",
    "clients_front_conversations": "client_id",
}


def link_rows(
    conn: psycopg.Connection, schema: str, table: str
) -> dict[tuple[UUID, UUID], tuple[UUID, datetime, datetime]]:
    """{(owner id, conversation id): (id, created_at, updated_at)} of a Front link table."""
    owner = LINK_OWNER_COLUMNS[table]
    rows = _fetch(conn, schema, table, [owner, "front_conversation_id", "id", "created_at", "updated_at"])
    return {(row[0], row[1]): (row[2], row[3], row[4]) for row in rows}


def link_pairs(conn: psycopg.Connection, schema: str, table: str) -> set[tuple[UUID, UUID]]:
    """The (owner id, conversation id) pairs of a Front link table; asserts there is no duplicate."""
    owner = LINK_OWNER_COLUMNS[table]
    rows = _fetch(conn, schema, table, [owner, "front_conversation_id"])
    pairs = set(rows)
    assert len(pairs) == len(rows), f"{table} holds duplicate pairs"
    return pairs


def project_link_rows(
    conn: psycopg.Connection, schema: str = "public"
) -> dict[UUID, tuple[UUID, UUID, datetime, UUID | None]]:
    """{conversation_id: (id, project_id, added_at, added_by)} of project_conversations."""
    rows = _fetch(
        conn, schema, "project_conversations", ["conversation_id", "id", "project_id", "added_at", "added_by"]
    )
    return {row[0]: row[1:] for row in rows}


def assert_links_exact(conn: psycopg.Connection, schema: str = "public") -> None:
    """Assert that all three link tables hold exactly what the independent oracle computes."""
    assert link_pairs(conn, schema, "people_front_conversations") == expected_people_links(conn, schema)
    assert link_pairs(conn, schema, "clients_front_conversations") == expected_client_links(conn, schema)
    stored = {
        (project, conversation, added_by)
        for conversation, (_, project, _, added_by) in project_link_rows(conn, schema).items()
    }
    assert stored == expected_project_links(conn, schema)


def source_checksums(conn: psycopg.Connection, schema: str = "public") -> dict[str, str]:
    """{table: md5 over its rows in a fixed order}, to prove a run wrote nothing to the source."""
    sums = {}
    for table in SOURCE_TABLES:
        statement = sql.SQL(
            "select count(*), coalesce(md5(string_agg(row_text, '|' order by row_text)), '') "
            "from (select t::text as row_text from {}.{} as t) as rows_as_text"
        ).format(sql.Identifier(schema), sql.Identifier(table))
        count, digest = conn.execute(statement).fetchone()
        sums[table] = f"{count}:{digest}"
    return sums


def date_source_rows_at_baseline(conn: psycopg.Connection, schema: str) -> None:
    """Every source row of `schema` created (at the latest) and last changed at BASELINE, so that the late-change
    sensor sees only the changes a test makes afterwards."""
    for table in SOURCE_TABLES_WITH_TIMESTAMPS:
        conn.execute(
            sql.SQL("update {} set created_at = least(created_at, %(t)s), updated_at = %(t)s").format(
                sql.Identifier(schema, table)
            ),
            {"t": BASELINE},
        )
