"""A diff that finds more changes than a transaction should hold (diff_batches.py): the changed conversations are
made exact by batches of whole conversations, each a committed transaction logged with its rate and ETA, and a diff
hands over a bounded number of them before the window is diffed again."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta

import dagster as dg

from convo_pipelines.defs.links import diff_batches, held_differences
from convo_pipelines.defs.links.assets import people_front_conversations
from convo_pipelines.defs.links.front_inserts import pending_slices
from convo_pipelines.defs.links.held_differences import DIFFERENCE_BYTES, NO_ID, HeldDifferences, conversation_batches
from convo_pipelines_tests.links.link_runs import (
    FRONT_ASSETS,
    FULL_RANGE,
    PEOPLE,
    SCHEMA,
    committed_counts_while,
    jan,
    link_foreign_keys,
    metadata_of,
    range_tags,
    run_assets,
)
from convo_pipelines_tests.source_data import build_source_data, expected_people_links, link_pairs

# The most links a batch of the emptied table's refill holds (max_insert_batch_rows).
BATCH_ROWS = 5


def batches_of_whole_conversations(links: Iterable[tuple[uuid.UUID, uuid.UUID]], batch_rows: int) -> int:
    """How many batches the links' conversations make when cut in id order into batches of at most `batch_rows`
    links, each conversation whole (one with more links is a batch of its own)."""
    batches, in_batch = 0, 0
    for _conversation, links_of_conversation in sorted(Counter(conversation for _, conversation in links).items()):
        if batches == 0 or in_batch + links_of_conversation > batch_rows:
            batches, in_batch = batches + 1, 0
        in_batch += links_of_conversation
    return batches


def test_a_table_emptied_by_hand_is_refilled_in_committed_batches_and_ends_exact(
    db, postgres, database_url, monkeypatch
) -> None:
    build_source_data(db)
    monkeypatch.setattr(diff_batches, "BATCH_PROGRESS_SECONDS", 0.0)  # a line per batch, to count them
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)  # the first fill: the tables get their foreign keys
    expected = len(expected_people_links(db))
    assert expected > 12
    db.execute(f"truncate {PEOPLE}")  # emptied by hand: the foreign keys stay, so this is a diff, not a first fill
    results: list[dg.ExecuteInProcessResult] = []
    instance = dg.DagsterInstance.ephemeral()
    config = {"ops": {PEOPLE: {"config": {"max_insert_batch_rows": BATCH_ROWS}}}}
    committed_counts = committed_counts_while(
        database_url,
        lambda: results.append(
            run_assets(postgres, [people_front_conversations], FULL_RANGE, run_config=config, instance=instance)
        ),
    )

    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    meta = metadata_of(results[0], PEOPLE)
    assert (meta["mode"], meta["rows_inserted_in_range"]) == ("diff", expected)
    assert list(link_foreign_keys(db, PEOPLE).values()) == [True, True]
    # The missing links go in by batches of whole conversations holding at most 5 of them, each a transaction logged
    # with rate and ETA: exactly as many batches as the data's conversations make, cut in id order.
    links = expected_people_links(db)
    conversations = len({conversation for _, conversation in links})
    messages = [entry.user_message for entry in instance.all_logs(results[0].run_id)]
    batch_lines = [m for m in messages if m.startswith(f"{PEOPLE}: changed conversations: ")]
    assert len(batch_lines) == batches_of_whole_conversations(links, BATCH_ROWS), batch_lines
    assert batch_lines[-1].startswith(
        f"{PEOPLE}: changed conversations: {conversations}/{conversations} conversations, {expected:,} rows"
    )
    assert "ETA" in batch_lines[-1]
    assert any(0 < count < expected for count in committed_counts), sorted(set(committed_counts))


def test_a_diff_hands_over_a_bounded_number_of_differences_and_diffs_again_for_the_rest(
    db, postgres, monkeypatch
) -> None:
    build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    expected = len(expected_people_links(db))
    db.execute(f"truncate {PEOPLE}")
    monkeypatch.setattr(held_differences, "DIFFERENCES_PER_HANDOVER", 3)
    instance = dg.DagsterInstance.ephemeral()
    config = {"ops": {PEOPLE: {"config": {"max_insert_batch_rows": 5}}}}
    result = run_assets(postgres, [people_front_conversations], FULL_RANGE, run_config=config, instance=instance)

    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    assert metadata_of(result, PEOPLE)["rows_inserted_in_range"] == expected
    # Each diff that finds more than a batch to change hands over the whole conversations of its first 3
    # differences, never more; then the window is diffed again, until one finds at most a batch to change and
    # changes it itself.
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    batch_lines = [m for m in messages if m.startswith(f"{PEOPLE}: changed conversations: ")]
    done = [line.split(": ")[2].split(" ")[0].split("/") for line in batch_lines]
    handovers = [int(total) for finished, total in done if finished == total]
    assert len(handovers) > 1 and max(handovers) <= 3, batch_lines


def test_a_window_changing_more_than_a_batch_changes_it_by_transactions_of_whole_conversations(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    gone = {data.deleted_person, data.person_of_deleted_client}
    contact_method, person = next(
        (method, person) for method, person in data.contact_methods.items() if person and person not in gone
    )
    # A shared address: the person joins twelve new conversations of Jan 15, one an hour.
    conversations = [uuid.uuid4() for _ in range(12)]
    for hour, conversation in enumerate(conversations):
        created = jan(15) + timedelta(hours=hour, minutes=30)
        message = uuid.uuid4()
        db.execute(
            "insert into front_conversations (id, subject, created_at) values (%s, 'shared', %s)",
            (conversation, created),
        )
        db.execute(
            "insert into front_messages (id, front_conversation_id, created_at) values (%s, %s, %s)",
            (message, conversation, created),
        )
        db.execute(
            "insert into front_message_recipients (id, front_message_id, contact_method_id, role)"
            " values (%s, %s, %s, 'to')",
            (uuid.uuid4(), message, contact_method),
        )
    config = {"ops": {PEOPLE: {"config": {"max_insert_batch_rows": 3}}}}
    run_assets(postgres, [people_front_conversations], range_tags("2024-01-15", "2024-01-15"), run_config=config)

    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    assert {(person, conversation) for conversation in conversations} <= link_pairs(db, SCHEMA, PEOPLE)
    # Rows written by one transaction (one savepoint of it) share their xmin: four batches of three conversations,
    # one new link each.
    per_transaction = db.execute(
        f"select count(*) from {PEOPLE} where front_conversation_id = any(%s) group by xmin::text",
        (conversations,),
    ).fetchall()
    assert sorted(count for (count,) in per_transaction) == [3, 3, 3, 3]


def test_conversation_batches_cut_the_held_differences_in_their_order_keeping_each_conversation_whole() -> None:
    conversations = sorted(uuid.uuid4() for _ in range(4))
    changes = [2, 1, 5, 1]
    packed = bytearray(
        b"".join(
            conversation.bytes + NO_ID.bytes + uuid.uuid4().bytes
            for conversation, count in zip(conversations, changes, strict=True)
            for _ in range(count)
        )
    )
    held = HeldDifferences(packed, 4, more=False, started=None)
    ids = [str(conversation) for conversation in conversations]
    assert len(held) == 4
    # A conversation with more changes than a batch is a batch of its own; the others add up to at most the batch.
    batches = list(conversation_batches(held, 3))
    assert [batch.conversations for batch in batches] == [ids[:2], [ids[2]], [ids[3]]]
    assert b"".join(batch.packed for batch in batches) == packed
    assert [len(batch.packed) // DIFFERENCE_BYTES for batch in batches] == [3, 5, 1]
    assert [batch.conversations for batch in conversation_batches(held, 9)] == [ids]
    assert list(conversation_batches(HeldDifferences(bytearray(), 0, more=False, started=None), 5)) == []


def test_missing_links_go_in_by_full_slices_with_no_empty_one_after_them(postgres) -> None:
    """A batch's missing links go in by slices of at most slice_rows, each ending where the next begins: a batch of
    exactly slice_rows of them is one insert, not one followed by an empty slice, a statement for nothing."""
    slice_rows = 5
    for missing, expected_slices in ((4, 1), (5, 1), (6, 2), (10, 2), (11, 3)):
        with postgres.session(autocommit=True) as session, session.conn.transaction():
            session.execute(
                "create temporary table front_link_differences (link_id uuid, defined_owner_id uuid,"
                " defined_front_conversation_id uuid) on commit drop"
            )
            # Links to delete or refresh (a stored link_id) are no slice's.
            session.execute(
                "insert into front_link_differences select case when n > %s then gen_random_uuid() end,"
                " gen_random_uuid(), gen_random_uuid() from generate_series(1, %s + 2) as n",
                (missing, missing),
            )
            pairs = sorted(
                session.execute(
                    "select defined_front_conversation_id, defined_owner_id from front_link_differences"
                    " where link_id is null"
                ).fetchall()
            )
            slices = pending_slices(session, slice_rows)
        sizes = [
            len([pair for pair in pairs if (after is None or pair > after) and (upto is None or pair <= upto)])
            for after, upto in slices
        ]
        assert len(slices) == expected_slices, (missing, sizes)
        assert sum(sizes) == missing and all(0 < size <= slice_rows for size in sizes), (missing, sizes)
