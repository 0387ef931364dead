"""The app's read path end to end: a real Zero client (npm @rocicorp/zero 1.9 in Node, in-memory store), connected
over Zero's sync protocol to a real zero-cache on the test's database, asks the app's questions through the link
tables with the Zero schema of convo_pipelines_tests/zero/schema.ts, and every answer equals the contract's
definition computed here in SQL from the source tables alone (not from the link tables):

- a Front conversation's people and its clients (relationships through the two Front link tables);
- a person's and a client's newest 50 conversations (the link table itself ordered by
  front_conversation_created_at and limited, each row related to its conversation: Zero 1.9 refuses `orderBy`
  and `limit` inside a relationship through a junction table);
- a project's conversations (a relationship through project_conversations).

They must hold after a first fill, after each late change the late-change sensor handles (its real runs), and
after the app deletes a person, a Front conversation and a conversation: the links the cascade removes at once,
and, after the nightly sync's runs, a client link the deleted person alone supported; and across migration 0008 on
the filled tables, rolled back and applied again (indexes built concurrently, unique constraints swapped). zero-cache
keeps running throughout (docs/reading-through-zero.md).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from convo_pipelines.lib.migrations.runner import migrate
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.app_changes import CHANGE_KINDS, FreshnessTarget, make_change
from convo_pipelines_tests.helpers import roll_back_through, wait_until
from convo_pipelines_tests.postgres_clusters import ANALYTICS_SCHEMA, SOURCE_SCHEMA
from convo_pipelines_tests.replication_steps import (
    Application,
    NoConsumer,
    first_fill,
    run_the_late_change_sensor,
    run_the_nightly_sync,
)
from convo_pipelines_tests.source_data import BASELINE
from convo_pipelines_tests.zero_processes import ZeroCacheProcess, client_answers, deploy_permissions

pytestmark = pytest.mark.slow

NEWEST = 50
# The migration that moves a filled deployment's Front link tables to the unique pair led by the conversation.
CONVERSATION_KEY_MIGRATION = 8
ANSWER_TIMEOUT = 60
QUESTIONS = ("conversation_people", "conversation_clients", "person_newest", "client_newest", "project_conversations")
# What a hard delete's foreign-key cascade keeps exact at once; a client link the deleted person alone supported
# waits for the nightly sync (docs/contract.md, "Hard deletes").
CASCADE_QUESTIONS = ("conversation_people", "person_newest", "project_conversations")

# The contract's definitions over the source tables, answer by answer: (asked id, answered id) rows, in the
# order of the answer (newest first for the newest 50, else any).
PEOPLE_OF_CONVERSATIONS = sql.SQL("""
    select distinct message.front_conversation_id::text, person.id::text
    from {messages} as message
    inner join {recipients} as recipient on recipient.front_message_id = message.id
    inner join {contact_methods} as contact_method on contact_method.id = recipient.contact_method_id
    inner join {people} as person on person.id = contact_method.person_id
""")
# Each person's CURRENT client, for clients that exist.
CLIENTS_OF_CONVERSATIONS = sql.SQL("""
    select distinct pair.front_conversation_id, client.id::text
    from ({people_pairs}) as pair (front_conversation_id, person_id)
    inner join {people} as person on person.id::text = pair.person_id
    inner join {clients} as client on client.id = person.client_id
""")
# An owner's newest conversations, from the (conversation, owner) pairs of one of the definitions above.
NEWEST_OF_OWNERS = sql.SQL("""
    with pair (front_conversation_id, owner_id) as ({pairs}),
    ranked as (
        select
            pair.owner_id,
            conversation.id,
            row_number() over (
                partition by pair.owner_id order by conversation.created_at desc, conversation.id desc
            ) as rank
        from pair
        inner join {front_conversations} as conversation on conversation.id::text = pair.front_conversation_id
    )
    select owner_id, id::text from ranked where rank <= %(newest)s order by owner_id, rank
""")
CONVERSATIONS_OF_PROJECTS = sql.SQL("""
    select project.id::text, conversation.id::text
    from {conversations} as conversation
    inner join {projects} as project on project.id = conversation.project_id
""")
# The ids each question is asked about (ASKED_ABOUT's names for them).
ASKED = {
    "conversation_people": "conversations",
    "conversation_clients": "conversations",
    "person_newest": "people",
    "client_newest": "clients",
    "project_conversations": "projects",
}
# The table of each kind of id the client is asked about, and the kind's name.
ASKED_ABOUT = {"front_conversations": "conversations", "people": "people", "clients": "clients", "projects": "projects"}


def tables() -> dict[str, sql.Identifier]:
    return {
        "messages": sql.Identifier(SOURCE_SCHEMA, "front_messages"),
        "recipients": sql.Identifier(SOURCE_SCHEMA, "front_message_recipients"),
        **{
            name: sql.Identifier(SOURCE_SCHEMA, name)
            for name in ("contact_methods", "people", "clients", "front_conversations", "projects", "conversations")
        },
    }


def ids_of_every_row(conn: psycopg.Connection) -> dict[str, list[str]]:
    """What the client is asked about: every Front conversation, person, client and project there is now."""
    return {
        asked: [row[0] for row in conn.execute(sql.SQL("select id::text from {} order by id").format(tables()[table]))]
        for table, asked in ASKED_ABOUT.items()
    }


def definitions() -> dict[str, sql.Composed]:
    """Each question's statement, the newest 50 ranking the (conversation, owner) pairs of the first two."""
    names = tables()
    people = PEOPLE_OF_CONVERSATIONS.format(**names)
    clients = CLIENTS_OF_CONVERSATIONS.format(people_pairs=people, **names)
    return {
        "conversation_people": people,
        "conversation_clients": clients,
        "person_newest": NEWEST_OF_OWNERS.format(pairs=people, **names),
        "client_newest": NEWEST_OF_OWNERS.format(pairs=clients, **names),
        "project_conversations": CONVERSATIONS_OF_PROJECTS.format(**names),
    }


def defined_answers(conn: psycopg.Connection, ids: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    """Each question's answer for every asked id, by the contract's definition over the source tables."""
    answers = {}
    for question, statement in definitions().items():
        answer: dict[str, list[str]] = {owner: [] for owner in ids[ASKED[question]]}
        for owner, answered in conn.execute(statement, {"newest": NEWEST}):
            if owner in answer:
                answer[owner].append(answered)
        ordered = question.endswith("_newest")
        answers[question] = {owner: rows if ordered else sorted(rows) for owner, rows in answer.items()}
    return answers


def assert_the_client_answers_as_defined(
    app: Application, zero: ZeroCacheProcess, step: str, questions: tuple[str, ...] = QUESTIONS
) -> dict[str, dict[str, list[str]]]:
    """A new Zero client's answers about every row equal the definitions, once zero-cache has caught up (polled);
    returns the defined answers."""
    ids = ids_of_every_row(app.conn)
    expected = {
        question: answer for question, answer in defined_answers(app.conn, ids).items() if question in questions
    }

    def answered() -> dict[str, dict[str, list[str]]]:
        return {
            question: answer
            for question, answer in client_answers(zero.cache_url, ids).items()
            if question in questions
        }

    matches = wait_until(lambda: answered() == expected or not zero.is_alive(), timeout=ANSWER_TIMEOUT, interval=1)
    assert zero.is_alive(), f"after {step}, zero-cache exited or failed:\n{zero.failure_lines()}"
    if not matches:
        got = answered()
        differences = {
            question: {
                owner: (expected[question][owner], got[question].get(owner))
                for owner in expected[question]
                if expected[question][owner] != got[question].get(owner)
            }
            for question in questions
        }
        raise AssertionError(f"after {step}, the Zero client's answers differ from the definitions: {differences}")
    return expected


# Front conversations of one person beyond the generated data's handful, two by two created at the same instant:
# the newest 50 are a limit and a tie-break (newest first, then the highest id), not the person's every link.
BUSY_CONVERSATIONS = 2 * NEWEST + 10
ADD_BUSY_CONVERSATIONS = sql.SQL("""
    with busy as (
        insert into {front_conversations} (subject, created_at, updated_at)
        select 'busy ' || number, timestamptz '2024-01-11' + (number / 2) * interval '7 minutes', %(stamp)s
        from generate_series(1, %(count)s) as number
        returning id, created_at
    ),
    message as (
        insert into {messages} (front_conversation_id, created_at, updated_at)
        select busy.id, busy.created_at, %(stamp)s from busy
        returning id, created_at
    )
    insert into {recipients} (front_message_id, contact_method_id, created_at, updated_at)
    select message.id, %(contact_method)s, message.created_at, %(stamp)s from message
""")


def give_a_person_many_conversations(app: Application) -> None:
    """BUSY_CONVERSATIONS Front conversations, each with one message to a contact method of one existing person,
    stamped in the past as the rest of the source rows (the late-change sensor sees only the tests' changes)."""
    contact_method = next(
        cm
        for cm, person in app.source.contact_methods.items()
        if person is not None and person in app.source.people and person != app.source.deleted_person
    )
    app.conn.execute(
        ADD_BUSY_CONVERSATIONS.format(**tables()),
        {"count": BUSY_CONVERSATIONS, "contact_method": contact_method, "stamp": BASELINE},
    )


@pytest.fixture
def zero(app: Application, tmp_path: Path) -> Iterator[ZeroCacheProcess]:
    """A person given many conversations, the link tables filled, the schema's permissions deployed, then
    zero-cache started on the database."""
    give_a_person_many_conversations(app)
    first_fill(app, NoConsumer())
    deploy_permissions(app.url)
    with ZeroCacheProcess.running(app.url, tmp_path) as running:
        yield running


def test_zero_cache_starts_on_another_port_when_its_port_was_taken_after_the_draw(
    app: Application, tmp_path: Path
) -> None:
    """Another process (here the test) listens on the port drawn for zero-cache before zero-cache binds it: the
    start fails with EADDRINUSE, and is made again on another port, where the client reads the links."""
    first_fill(app, NoConsumer())
    deploy_permissions(app.url)
    zero = ZeroCacheProcess(app.url, tmp_path)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", zero.port))
        taken.listen()
        try:
            zero.start()
            assert zero.port != taken.getsockname()[1]
            assert_the_client_answers_as_defined(app, zero, "a start on another port")
        finally:
            zero.stop()


def late_change_target(app: Application) -> FreshnessTarget:
    return FreshnessTarget(app.url, SOURCE_SCHEMA, ANALYTICS_SCHEMA)


def test_a_zero_client_answers_as_defined_after_the_first_fill_and_each_late_change(
    app: Application, zero: ZeroCacheProcess
) -> None:
    first = assert_the_client_answers_as_defined(app, zero, "the first fill")
    # Every question has answers to compare, and one person's newest 50 leave some of their conversations out.
    assert all(any(answer.values()) for answer in first.values()), first
    assert max(len(conversations) for conversations in first["person_newest"].values()) == NEWEST
    for kind in CHANGE_KINDS:
        since = app.now()
        make_change(late_change_target(app), kind)
        run_the_late_change_sensor(app, since=since)
        assert_the_client_answers_as_defined(app, zero, f"a late change ({kind.label})")


# A person who alone brings their client into a Front conversation (no other person of that client is in it), by
# the source tables: deleting the person takes the client out of the conversation's defined clients, which the
# client link keeps until the nightly sync. The first by name, so every run deletes the same person.
SOLE_PERSON_OF_A_CLIENT = sql.SQL("""
    with pair (front_conversation_id, person_id) as ({people_pairs}),
    client_pair as (
        select pair.front_conversation_id, pair.person_id, person.client_id::text as client_id, person.name
        from pair
        inner join {people} as person on person.id::text = pair.person_id
        inner join {clients} as client on client.id = person.client_id
    )
    select client_pair.person_id, client_pair.front_conversation_id, client_pair.client_id
    from client_pair
    inner join {front_conversations} as conversation on conversation.id::text = client_pair.front_conversation_id
    where not exists (
        select from client_pair as other
        where other.front_conversation_id = client_pair.front_conversation_id
            and other.client_id = client_pair.client_id
            and other.person_id <> client_pair.person_id
    )
    order by client_pair.name, conversation.subject, conversation.id
    limit 1
""")
# Another Front conversation with people, the first by subject, and a conversation in a project, the first by id.
ANOTHER_FRONT_CONVERSATION = sql.SQL("""
    select distinct conversation.subject, conversation.id::text
    from ({people_pairs}) as pair (front_conversation_id, person_id)
    inner join {front_conversations} as conversation on conversation.id::text = pair.front_conversation_id
    where conversation.id::text <> %(kept)s
    order by conversation.subject, conversation.id::text
    limit 1
""")
A_PROJECT_CONVERSATION = sql.SQL("""
    select conversation.id::text
    from {conversations} as conversation
    inner join {projects} as project on project.id = conversation.project_id
    order by conversation.id
    limit 1
""")


def rows_the_app_deletes(app: Application) -> tuple[str, str, str, str, str]:
    """(a person to delete, the client they alone bring into a Front conversation, that Front conversation, a Front
    conversation and a conversation to delete), chosen from the source tables."""
    names = tables()
    people_pairs = PEOPLE_OF_CONVERSATIONS.format(**names)
    person, front_conversation, client = app.conn.execute(
        SOLE_PERSON_OF_A_CLIENT.format(people_pairs=people_pairs, **names)
    ).fetchone()
    _, deleted_front_conversation = app.conn.execute(
        ANOTHER_FRONT_CONVERSATION.format(people_pairs=people_pairs, **names), {"kept": front_conversation}
    ).fetchone()
    [conversation] = app.conn.execute(A_PROJECT_CONVERSATION.format(**names)).fetchone()
    return person, client, front_conversation, deleted_front_conversation, conversation


def clients_defined_for(app: Application, front_conversation: str) -> set[str]:
    """The Front conversation's clients by the definition over the source tables."""
    return set(defined_answers(app.conn, ids_of_every_row(app.conn))["conversation_clients"][front_conversation])


def clients_the_zero_client_reads(zero: ZeroCacheProcess, front_conversation: str) -> set[str]:
    """The Front conversation's clients as a new Zero client reads them (through the client link table)."""
    asked: dict[str, list[str]] = {kind: [] for kind in ASKED_ABOUT.values()}
    return set(
        client_answers(zero.cache_url, {**asked, "conversations": [front_conversation]})["conversation_clients"][
            front_conversation
        ]
    )


def test_a_zero_client_answers_as_defined_after_the_app_deletes(app: Application, zero: ZeroCacheProcess) -> None:
    person, client, front_conversation, deleted_front_conversation, conversation = rows_the_app_deletes(app)
    assert client in clients_defined_for(app, front_conversation)
    for table, row in (
        ("people", person),
        ("front_conversations", deleted_front_conversation),
        ("conversations", conversation),
    ):
        deleted = app.conn.execute(
            sql.SQL("delete from {} where id = %s").format(sql.Identifier(SOURCE_SCHEMA, table)), (row,)
        )
        assert deleted.rowcount == 1, (table, row)
    assert_the_client_answers_as_defined(app, zero, "the app's deletes (the cascade)", CASCADE_QUESTIONS)
    # Until the nightly sync the client link stays: the conversation's clients the app reads differ from the
    # definition by the deleted person's client alone.
    defined = clients_defined_for(app, front_conversation)
    read = clients_the_zero_client_reads(zero, front_conversation)
    assert client not in defined and read == defined | {client}, (read, defined)
    run_the_nightly_sync(app)
    assert_the_client_answers_as_defined(app, zero, "the app's deletes and the nightly sync")


def test_a_zero_client_answers_as_defined_across_the_conversation_key_migration(
    app: Application, zero: ZeroCacheProcess
) -> None:
    """Migration 0008 on filled tables under a running zero-cache: rolled back, then applied again, as an existing
    deployment takes it (its indexes built concurrently, its unique constraints swapped in a short transaction).
    It changes no row: the client's answers stay the definitions', and a late change after it still reaches them."""
    assert_the_client_answers_as_defined(app, zero, "the first fill")
    with connect(app.url) as conn:
        undone = roll_back_through(conn, CONVERSATION_KEY_MIGRATION, SOURCE_SCHEMA, ANALYTICS_SCHEMA)
    assert_the_client_answers_as_defined(app, zero, "migration 0008 rolled back")
    with connect(app.url) as conn:
        applied = migrate(conn, SOURCE_SCHEMA, ANALYTICS_SCHEMA)
    assert [migration.version for migration in applied] == undone
    assert_the_client_answers_as_defined(app, zero, "migration 0008 applied again")
    since = app.now()
    make_change(late_change_target(app), CHANGE_KINDS[0])
    run_the_late_change_sensor(app, since=since)
    assert_the_client_answers_as_defined(app, zero, f"a late change after the migration ({CHANGE_KINDS[0].label})")
