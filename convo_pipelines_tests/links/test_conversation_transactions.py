"""A conversation's links change in one transaction: a reader beside a range re-run that deletes and inserts thousands
of links, in many batches, never sees a conversation holding neither its old links nor its new ones."""

from __future__ import annotations

from collections import defaultdict

import dagster as dg
import psycopg

from convo_pipelines.defs.links.assets import clients_front_conversations
from convo_pipelines_tests.helpers import watch_while
from convo_pipelines_tests.source_data import expected_client_links, link_pairs
from convo_pipelines_tests.test_live_database import (
    FRONT_ASSETS,
    RANGE,
    SCHEMA,
    failure_of,
    materialize,
    seed_live_data,
)

CLIENTS = "clients_front_conversations"
# The app moves up to this many of its busiest people (all of the demo's) to another client: thousands of client
# links change.
MOVED_PEOPLE = 1_000
BATCH_ROWS = 200


def client_sets(pairs: set[tuple]) -> dict[object, frozenset]:
    """{conversation: its clients} of (client, conversation) pairs."""
    by_conversation: dict[object, set] = defaultdict(set)
    for client, conversation in pairs:
        by_conversation[conversation].add(client)
    return {conversation: frozenset(clients) for conversation, clients in by_conversation.items()}


def move_busiest_people_to_other_clients(db: psycopg.Connection, people: int) -> None:
    db.execute(
        """
        with clients as (
            select id, row_number() over (order by id) as number, count(*) over () as total from clients
        ),
        busiest as (
            select person_id from people_front_conversations group by person_id order by count(*) desc limit %s
        )
        update people as person
        set client_id = next_client.id, updated_at = now()
        from clients as current_client, clients as next_client
        where
            person.id in (select person_id from busiest)
            and current_client.id = person.client_id
            and next_client.number = current_client.number %% current_client.total + 1
        """,
        (people,),
    )


def test_a_reader_beside_a_range_rerun_never_sees_a_conversation_between_its_old_and_new_links(
    database_url, postgres, db
) -> None:
    seed_live_data(database_url, conversations=3_000, messages=100)
    filled = materialize(postgres, FRONT_ASSETS, RANGE)
    assert filled.success, failure_of(filled)
    before = client_sets(link_pairs(db, SCHEMA, CLIENTS))
    move_busiest_people_to_other_clients(db, MOVED_PEOPLE)
    after = client_sets(expected_client_links(db, SCHEMA))
    changed = sorted(c for c in before.keys() | after.keys() if before.get(c, frozenset()) != after.get(c, frozenset()))
    deleted = sum(len(before.get(c, frozenset()) - after.get(c, frozenset())) for c in changed)
    added = sum(len(after.get(c, frozenset()) - before.get(c, frozenset())) for c in changed)
    assert deleted >= 1_000 and added >= 1_000, (deleted, added)

    def held(watcher: psycopg.Connection) -> dict[object, frozenset]:
        rows = watcher.execute(
            "select front_conversation_id, array_agg(client_id) from clients_front_conversations"
            " where front_conversation_id = any(%s) group by front_conversation_id",
            (changed,),
        ).fetchall()
        return {conversation: frozenset(clients) for conversation, clients in rows}

    results: list[dg.ExecuteInProcessResult] = []
    config = {"ops": {CLIENTS: {"config": {"max_insert_batch_rows": BATCH_ROWS}}}}
    seen = watch_while(
        database_url,
        held,
        lambda: results.append(
            dg.materialize(
                [clients_front_conversations], resources={"postgres": postgres}, tags=RANGE, run_config=config
            )
        ),
    )

    assert results[0].success
    between = [
        (conversation, sorted(map(str, snapshot.get(conversation, frozenset()))))
        for snapshot in seen
        for conversation in changed
        if snapshot.get(conversation, frozenset())
        not in (before.get(conversation, frozenset()), after.get(conversation, frozenset()))
    ]
    assert between == [], f"{len(between)} reads of a conversation between states, e.g. {between[:3]}"
    # The reader watched the batches commit one by one: some reads saw part of the conversations changed.
    part_changed = [
        snapshot
        for snapshot in seen
        if 0
        < sum(snapshot.get(c, frozenset()) == after.get(c, frozenset()) != before.get(c) for c in changed)
        < len(changed)
    ]
    assert part_changed, f"{len(seen)} reads, none between two batches"
    assert link_pairs(db, SCHEMA, CLIENTS) == expected_client_links(db, SCHEMA)
