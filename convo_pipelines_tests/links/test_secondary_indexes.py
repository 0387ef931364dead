"""A Front link table's first fill stages the pairs of its whole range in an unlogged table of the analytics
schema, and writes the table without its index by owner newest first, built once after (table_state/indexes.py); the
table's state is read from the catalog, so a killed fill, a run beside the fill and a scoped run all leave the
table with its indexes, as its migrations defined them, without staged pairs, and exact.
"""

from __future__ import annotations

from collections import Counter

import psycopg

from convo_pipelines.defs.links.assets import people_front_conversations
from convo_pipelines.defs.links.config import FrontLinksConfig
from convo_pipelines.defs.links.first_fill import (
    insert_first_fill_slices,
    never_filled,
    resume_first_fill,
    stage_first_fill,
)
from convo_pipelines.defs.links.front_inserts import insert_first_fill_links
from convo_pipelines.defs.links.table_state.indexes import StagedPairs, first_fill_staged, in_front_transaction
from convo_pipelines.defs.links.tables import BEGINNING_OF_TIME, END_OF_TIME, PEOPLE_LINKS, front_definition
from convo_pipelines.defs.links.window_run import make_chunks_exact
from convo_pipelines.defs.links.windows import Chunk, day_chunks, window_params
from convo_pipelines_tests.helpers import watch_while
from convo_pipelines_tests.links.link_runs import (
    CLIENTS,
    FRONT_ASSETS,
    FULL_RANGE,
    PEOPLE,
    SCHEMA,
    assert_front_tables_exact,
    jan,
    link_foreign_keys,
    metadata_of,
    run_assets,
    table_definitions,
)
from convo_pipelines_tests.source_data import build_source_data, expected_people_links, link_pairs

NEWEST_INDEXES = {
    PEOPLE: "people_front_conversations_person_newest_idx",
    CLIENTS: "clients_front_conversations_client_newest_idx",
}
CONVERSATION_KEYS = {
    PEOPLE: "people_front_conversations_conversation_person_key",
    CLIENTS: "clients_front_conversations_conversation_client_key",
}
SECONDARY_INDEXES = {table: {CONVERSATION_KEYS[table], NEWEST_INDEXES[table]} for table in (PEOPLE, CLIENTS)}


ANALYTICS = "analytics"


def first_fill_table(db: psycopg.Connection, table: str) -> tuple[bool, bool]:
    """(whether the first fill's staged pairs of `table` exist, whether analysts could read them)."""
    name = f"{ANALYTICS}.{table}_first_fill"
    return db.execute(
        "select to_regclass(%(name)s) is not null,"
        " to_regclass(%(name)s) is not null and has_table_privilege('analytics_reader', %(name)s, 'SELECT')",
        {"name": name},
    ).fetchone()


def secondary_index_names(db: psycopg.Connection, table: str) -> set[str]:
    rows = db.execute(
        "select indexname from pg_indexes where schemaname = %s and tablename = %s", (SCHEMA, table)
    ).fetchall()
    return {name for (name,) in rows} & SECONDARY_INDEXES[table]


def drop_newest_index_by_hand(db: psycopg.Connection, table: str) -> None:
    db.execute(psycopg.sql.SQL("drop index {}").format(psycopg.sql.Identifier(NEWEST_INDEXES[table])))


def drop_foreign_keys_by_hand(db: psycopg.Connection, table: str) -> None:
    for name in link_foreign_keys(db, table):
        db.execute(
            psycopg.sql.SQL("alter table {} drop constraint {}").format(
                psycopg.sql.Identifier(table), psycopg.sql.Identifier(name)
            )
        )


def without_foreign_keys(definitions: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(name, definition) for name, definition in definitions if not name.endswith("_fkey")}


def test_a_first_fill_goes_without_the_secondary_indexes_and_ends_with_them_as_migrated(
    db, postgres, database_url
) -> None:
    build_source_data(db)
    migrated = {table: table_definitions(db, table) for table in (PEOPLE, CLIENTS)}
    links_per_conversation = Counter(conversation for _, conversation in expected_people_links(db, SCHEMA))

    def indexes_and_rows(watcher: psycopg.Connection) -> tuple[frozenset[str], int, tuple[bool, bool], int]:
        held = watcher.execute(f"select front_conversation_id, count(*) from {PEOPLE} group by 1").fetchall()
        return (
            frozenset(secondary_index_names(watcher, PEOPLE)),
            sum(count for _, count in held),
            first_fill_table(watcher, PEOPLE),
            sum(1 for conversation, count in held if count != links_per_conversation[conversation]),
        )

    seen = watch_while(
        database_url,
        indexes_and_rows,
        lambda: run_assets(
            postgres,
            FRONT_ASSETS,
            FULL_RANGE,
            run_config={"ops": {table: {"config": {"max_fill_slice_links": 3}} for table in (PEOPLE, CLIENTS)}},
        ),
    )

    # Another session saw the slices commit into a table with its unique pair led by the conversation but not its
    # index by owner, and never a part of the rows with both: it was dropped before the first slice and built after
    # the last. The pairs were staged before the first slice too, where analysts cannot read them, and dropped
    # after the last. No conversation ever held part of its links: a slice ends where a conversation does.
    total = len(link_pairs(db, SCHEMA, PEOPLE))
    by_conversation_only = SECONDARY_INDEXES[PEOPLE] - {NEWEST_INDEXES[PEOPLE]}
    partly_filled = [(indexes, staging) for indexes, rows, staging, _ in seen if 0 < rows < total]
    assert partly_filled, sorted(set(seen))
    assert max(links_per_conversation.values()) > 3  # some conversation is larger than a slice of 3 links
    assert all(partial == 0 for *_, partial in seen), sorted(set(seen))
    assert all(indexes == by_conversation_only for indexes, _ in partly_filled), sorted(set(seen))
    assert all(staging == (True, False) for _, staging in partly_filled), sorted(set(seen))
    for table in (PEOPLE, CLIENTS):
        assert first_fill_table(db, table) == (False, False), table
        assert without_foreign_keys(table_definitions(db, table)) == migrated[table], table
        assert list(link_foreign_keys(db, table).values()) == [True, True], table
    assert_front_tables_exact(db)


def test_a_run_after_a_fill_killed_without_its_indexes_builds_them_and_ends_exact(db, postgres) -> None:
    """The state a fill killed between its chunks leaves: some rows, no index by owner, no foreign key, its staged
    pairs (here an empty table of that name)."""
    build_source_data(db)
    migrated = table_definitions(db, PEOPLE)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    for table in (PEOPLE, CLIENTS):
        drop_foreign_keys_by_hand(db, table)
        drop_newest_index_by_hand(db, table)
        db.execute(f"create unlogged table {ANALYTICS}.{table}_first_fill (like {table})")
    db.execute(f"delete from {PEOPLE} where front_conversation_created_at >= %s", (jan(12),))

    day = run_assets(postgres, FRONT_ASSETS, {"dagster/partition": "2024-01-12"})

    assert metadata_of(day, PEOPLE)["mode"] == "diff"  # not empty: another fill's chunks are there
    assert metadata_of(day, PEOPLE)["rows_inserted_in_range"] > 0
    for table in (PEOPLE, CLIENTS):
        assert secondary_index_names(db, table) == SECONDARY_INDEXES[table], table
        assert first_fill_table(db, table) == (False, False), table
    assert without_foreign_keys(table_definitions(db, PEOPLE)) == migrated
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    assert_front_tables_exact(db)


def fill_chunks(session, start=BEGINNING_OF_TIME, end=END_OF_TIME) -> list[Chunk]:
    """The chunks a first fill of [start, end) (by default every conversation) stages the pairs of."""
    max_conversations = FrontLinksConfig().max_fill_chunk_conversations
    return day_chunks(session, "front_conversations", start, end, max_conversations)


def fill_killed_after_one_slice(session) -> tuple[StagedPairs, int]:
    """What a fill of FULL_RANGE (from the beginning of time: its first partition holds the days before it) killed
    during its second slice of 2 links leaves: its staged pairs, its first slice committed; and how many links that
    slice inserted."""
    killed = stage_first_fill(session, PEOPLE_LINKS, fill_chunks(session, end=jan(21)), 2)
    first_slice = {"after_position": 0, "slice_links": 2}
    inserted = in_front_transaction(
        session, PEOPLE_LINKS, lambda _owns: insert_first_fill_links(session, PEOPLE_LINKS, first_slice), staged=killed
    )
    return killed, inserted


def test_the_next_fill_of_a_killed_fills_window_goes_on_with_its_slices_and_diffs_what_the_app_wrote_since(
    db, postgres
) -> None:
    """A killed fill leaves its committed slices and its staged pairs: the next fill of the same window inserts only
    the pairs the table lacks, then diffs the window once for what the app wrote since they were staged."""
    data = build_source_data(db)
    with postgres.session(autocommit=True) as session:
        killed, inserted = fill_killed_after_one_slice(session)
    assert 2 <= inserted < killed.pairs
    # The app writes after the staging: person 5 joins the conversation whose links the first slice inserted.
    (conversation,) = {row[0] for row in db.execute(f"select front_conversation_id from {PEOPLE}")}
    person_five_method = next(cm for cm, person in data.contact_methods.items() if person == data.people[5])
    assert (data.people[5], conversation) not in link_pairs(db, SCHEMA, PEOPLE)
    db.execute(
        "insert into front_message_recipients (front_message_id, contact_method_id) "
        "select id, %s from front_messages where front_conversation_id = %s limit 1",
        (person_five_method, conversation),
    )

    run = run_assets(postgres, [people_front_conversations], FULL_RANGE)

    assert metadata_of(run, PEOPLE)["mode"] == "bulk"
    assert metadata_of(run, PEOPLE)["rows_inserted_in_range"] == killed.pairs - inserted + 1
    assert metadata_of(run, PEOPLE)["rows_deleted_in_range"] == 0
    assert first_fill_table(db, PEOPLE) == (False, False)
    assert secondary_index_names(db, PEOPLE) == SECONDARY_INDEXES[PEOPLE]
    assert list(link_foreign_keys(db, PEOPLE).values()) == [True, True]
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    assert (data.people[5], conversation) in link_pairs(db, SCHEMA, PEOPLE)


def test_a_killed_fills_pairs_go_on_only_for_its_own_window_and_with_one_holder_at_a_time(db, postgres) -> None:
    """The run that goes on with a killed fill's pairs holds them with a token of its own: the killed run, were it
    still alive, would insert none of them. Another window's fill does not go on with them."""
    build_source_data(db)
    with postgres.session(autocommit=True) as session:
        killed, inserted = fill_killed_after_one_slice(session)
        assert resume_first_fill(session, PEOPLE_LINKS, fill_chunks(session, end=jan(20))) is None
        resumed, inserted_before = resume_first_fill(session, PEOPLE_LINKS, fill_chunks(session, end=jan(21)))
        assert (resumed.oid, resumed.pairs, inserted_before) == (killed.oid, killed.pairs, inserted)
        assert resumed.holder != killed.holder

        counts, whole = insert_first_fill_slices(session, PEOPLE_LINKS, killed, 2, inserted)

    assert (counts.rows_inserted, whole) == (0, False)
    assert len(link_pairs(db, SCHEMA, PEOPLE)) == inserted


def test_a_scoped_run_beside_a_first_fill_ends_its_hold_and_the_fill_then_diffs(db, postgres) -> None:
    """A fill owns the empty table only while its staged pairs exist: once another writer dropped them (here a
    scoped run, which also left a link the source does not support in the fill's range), the fill inserts no
    further slice, and diffing its range instead removes that link."""
    data = build_source_data(db)
    with postgres.session(autocommit=True) as session:
        plan = fill_chunks(session)
        assert never_filled(session, PEOPLE_LINKS)
        staged = stage_first_fill(session, PEOPLE_LINKS, plan, 2)
        assert staged.pairs == len(expected_people_links(db, SCHEMA))
        assert first_fill_staged(session, PEOPLE_LINKS) == staged.oid

    jan_12 = sorted(data.front_conversations_on(jan(12)), key=str)
    scope = {"config": {"only_conversation_ids": [str(jan_12[0])]}}
    scoped = run_assets(
        postgres, [people_front_conversations], {"dagster/partition": "2024-01-12"}, run_config={"ops": {PEOPLE: scope}}
    )
    assert metadata_of(scoped, PEOPLE)["mode"] == "scoped"
    assert first_fill_table(db, PEOPLE) == (False, False)
    supported = {owner for owner, conversation in expected_people_links(db, SCHEMA) if conversation == jan_12[-1]}
    person = next(row[0] for row in db.execute("select id from people order by id") if row[0] not in supported)
    unsupported = (person, jan_12[-1])
    db.execute(
        f"insert into {PEOPLE} (person_id, front_conversation_id, front_conversation_created_at) "
        "select %s, id, created_at from front_conversations where id = %s",
        unsupported,
    )
    before = link_pairs(db, SCHEMA, PEOPLE)

    with postgres.session(autocommit=True) as session:
        counts, whole = insert_first_fill_slices(session, PEOPLE_LINKS, staged, 2)
        assert (counts.rows_inserted, whole) == (0, False)
        assert link_pairs(db, SCHEMA, PEOPLE) == before
        make_chunks_exact(session, PEOPLE_LINKS, [Chunk(jan(12), jan(13), len(jan_12))], None, True)

    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA, jan(12), jan(13))


def test_a_fill_whose_staged_pairs_a_later_fill_replaced_inserts_none_of_them(db, postgres) -> None:
    """Ownership goes by the staged table's oid, not its name: a fill killed after staging leaves its pairs, the
    next fill stages again (not diffing an empty table by chunks) and owns the table, and the first, were it still
    alive, would find another table under the same name and insert nothing of it."""
    build_source_data(db)
    with postgres.session(autocommit=True) as session:
        plan = fill_chunks(session)
        first = stage_first_fill(session, PEOPLE_LINKS, plan, 2)
        second = stage_first_fill(session, PEOPLE_LINKS, plan, 2)
        assert second is not None and second.oid != first.oid
        assert second.pairs == first.pairs == len(expected_people_links(db, SCHEMA))
        assert first_fill_staged(session, PEOPLE_LINKS) == second.oid

        counts, whole = insert_first_fill_slices(session, PEOPLE_LINKS, first, 2)
        assert (counts.rows_inserted, whole) == (0, False)
        assert first_fill_table(db, PEOPLE) == (False, False)  # the stale fill took the table over to diff it

    assert link_pairs(db, SCHEMA, PEOPLE) == set()
    with postgres.session(autocommit=True) as session:
        assert stage_first_fill(session, PEOPLE_LINKS, plan, 2) is not None  # still empty: staged again


def test_a_first_fill_stages_its_pairs_in_conversation_order_each_with_its_conversation_s_end(db, postgres) -> None:
    build_source_data(db)
    expected = expected_people_links(db, SCHEMA)
    with postgres.session(autocommit=True) as session, session.conn.transaction():
        statement = session.sql(
            "links/stage_front_link_first_fill.sql",
            owner=PEOPLE_LINKS.owner_column,
            first_fill=PEOPLE_LINKS.first_fill_table,
            rows=front_definition(session, PEOPLE_LINKS),
        )
        session.execute(statement, window_params(BEGINNING_OF_TIME, END_OF_TIME))
        staged = session.execute(
            psycopg.sql.SQL(
                "select position, person_id, front_conversation_id, conversation_end from {} order by position"
            ).format(psycopg.sql.Identifier(ANALYTICS, PEOPLE_LINKS.first_fill_table))
        ).fetchall()
        raise psycopg.Rollback()  # the staged pairs go with the transaction

    assert {(person, conversation) for _, person, conversation, _ in staged} == expected
    assert [position for position, *_ in staged] == list(range(1, len(expected) + 1))
    in_order = sorted((conversation, person) for _, person, conversation, _ in staged)
    assert [(conversation, person) for _, person, conversation, _ in staged] == in_order
    last_position = {conversation: position for position, _, conversation, _ in staged}
    assert [end for *_, end in staged] == [last_position[conversation] for _, _, conversation, _ in staged]


def staged_pairs_indexes(db: psycopg.Connection, table: str) -> int:
    rows = db.execute(
        "select count(*) from pg_indexes where schemaname = %s and tablename = %s", (ANALYTICS, f"{table}_first_fill")
    )
    return rows.fetchone()[0]


def test_staged_pairs_of_many_slices_are_indexed_by_position_and_a_few_are_not(db, postgres) -> None:
    """Staged pairs that make more than two slices get a block-range index by position for their slices' reads; a
    fill of a slice or two reads its pages whole. Either way analysts cannot read them."""
    build_source_data(db)
    pairs = len(expected_people_links(db, SCHEMA))
    with postgres.session(autocommit=True) as session:
        staged = stage_first_fill(session, PEOPLE_LINKS, fill_chunks(session), pairs)
    assert staged.pairs == pairs
    assert staged_pairs_indexes(db, PEOPLE) == 0
    assert first_fill_table(db, PEOPLE) == (True, False)
    with postgres.session(autocommit=True) as session:
        stage_first_fill(session, PEOPLE_LINKS, fill_chunks(session), pairs // 3)
    assert staged_pairs_indexes(db, PEOPLE) == 1
    assert first_fill_table(db, PEOPLE) == (True, False)
