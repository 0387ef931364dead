"""The demo seeder: realistic shape, every edge case present, deterministic for a seed, constraints intact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from convo_pipelines.lib.embedded.demo_seed import SOURCE_TABLES, DemoShape, SeedError, seed_demo
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.helpers import fresh_database

CONVERSATIONS, DAYS = 400, 10
END = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _seed(url: str, seed: int = 7, **kwargs) -> dict[str, int]:
    with connect(url) as conn:
        return seed_demo(
            conn,
            source_schema="public",
            analytics_schema="analytics",
            conversations=kwargs.pop("conversations", CONVERSATIONS),
            days=DAYS,
            seed=seed,
            end=END,
            **{"report": lambda line: None, **kwargs},
        )


@pytest.fixture(scope="module")
def seeded_url(server_url: str, template_database: str) -> Iterator[str]:
    """One seeded database shared by the read-only shape tests of this module."""
    with fresh_database(server_url, "convo_seed", template_database) as url:
        _seed(url)
        yield url


@pytest.fixture
def seeded(seeded_url: str) -> Iterator[psycopg.Connection]:
    with connect(seeded_url, autocommit=True) as conn:
        yield conn


def scalar(conn: psycopg.Connection, query: str) -> object:
    return conn.execute(query).fetchone()[0]


def test_sizes_follow_the_number_of_conversations(seeded: psycopg.Connection) -> None:
    shape = DemoShape.for_conversations(CONVERSATIONS, DAYS)
    assert scalar(seeded, "select count(*) from front_conversations") == CONVERSATIONS
    assert scalar(seeded, "select count(*) from conversations") == CONVERSATIONS
    assert scalar(seeded, "select count(*) from clients") == shape.clients == 3
    assert scalar(seeded, "select count(*) from people") == 25 * shape.clients
    assert DemoShape.for_conversations(40_000, 30).clients == 50


def test_people_have_one_to_three_contact_methods_and_some_are_unresolved(seeded: psycopg.Connection) -> None:
    per_person = seeded.execute(
        "select min(n), max(n), avg(n) from (select count(*) as n from contact_methods where person_id is not null group by person_id) as counts"
    ).fetchone()
    assert per_person[0] == 1 and per_person[1] == 3 and 1.6 <= per_person[2] <= 2.4
    assert scalar(seeded, "select count(distinct kind) from contact_methods") == 2
    unresolved_share = scalar(seeded, "select avg((person_id is null)::int) from contact_methods")
    assert 0.05 <= unresolved_share <= 0.15


def test_messages_and_recipients_per_conversation_are_realistic(seeded: psycopg.Connection) -> None:
    messages_per_conversation = scalar(
        seeded, "select count(*)::numeric / count(distinct front_conversation_id) from front_messages"
    )
    recipients_per_message = scalar(
        seeded, "select count(*)::numeric / count(distinct front_message_id) from front_message_recipients"
    )
    assert 6.5 <= messages_per_conversation <= 9.5
    assert 2.5 <= recipients_per_message <= 3.5
    assert (
        scalar(
            seeded,
            "select count(*) from front_conversations c where not exists (select 1 from front_messages m where m.front_conversation_id = c.id)",
        )
        == 0
    )


def test_recipients_include_missing_and_unresolved_contact_methods(seeded: psycopg.Connection) -> None:
    null_share = scalar(seeded, "select avg((contact_method_id is null)::int) from front_message_recipients")
    assert 0 < null_share < 0.08
    to_unresolved = scalar(
        seeded,
        "select count(*) from front_message_recipients r join contact_methods cm on cm.id = r.contact_method_id where cm.person_id is null",
    )
    assert to_unresolved > 0
    people_per_conversation = scalar(
        seeded,
        "select avg(n) from (select count(distinct cm.person_id) as n from front_messages m "
        "join front_message_recipients r on r.front_message_id = m.id join contact_methods cm on cm.id = r.contact_method_id "
        "where cm.person_id is not null group by m.front_conversation_id) as people",
    )
    assert 2 <= people_per_conversation <= 6
    multi_client = scalar(
        seeded,
        "select count(*) from (select m.front_conversation_id from front_messages m "
        "join front_message_recipients r on r.front_message_id = m.id join contact_methods cm on cm.id = r.contact_method_id "
        "join people p on p.id = cm.person_id group by 1 having count(distinct p.client_id) > 1) as crossing",
    )
    assert multi_client > 0


def test_conversations_span_the_last_days_in_utc(seeded: psycopg.Connection) -> None:
    earliest, latest = seeded.execute("select min(created_at), max(created_at) from front_conversations").fetchone()
    assert END - timedelta(days=DAYS) <= earliest < latest < END
    assert scalar(seeded, "select max(created_at) from front_messages") <= END
    days_used = scalar(seeded, "select count(distinct (created_at at time zone 'UTC')::date) from front_conversations")
    assert days_used >= DAYS


def test_app_conversations_projects_and_leads(seeded: psycopg.Connection) -> None:
    without_project = scalar(seeded, "select avg((project_id is null)::int) from conversations")
    assert 0.05 <= without_project <= 0.3
    closed = scalar(seeded, "select avg((closed_at is not null)::int) from conversations")
    assert 0.5 <= closed <= 0.9
    assert scalar(seeded, "select count(*) from conversations where lead_id is null") > 0
    leads_with_two_open = scalar(
        seeded,
        "select count(*) from (select lead_id from conversations where lead_id is not null and closed_at is null "
        "group by lead_id having count(*) > 1) as leads",
    )
    assert leads_with_two_open >= 1
    assert (
        scalar(
            seeded,
            "select count(*) from conversations c join projects p on p.id = c.project_id where c.user_id <> p.user_id",
        )
        == 0
    )


def test_project_arrays_are_partly_stale(seeded: psycopg.Connection) -> None:
    stale = seeded.execute(
        """
        with truth as (
            select p.id, p.conversation_ids, array(select c.id from conversations c where c.project_id = p.id) as actual
            from projects p
        )
        select
            count(*) filter (where conversation_ids is not null and conversation_ids @> actual and actual @> conversation_ids),
            count(*) filter (where conversation_ids is null),
            count(*) filter (where conversation_ids is not null and not conversation_ids @> actual),
            count(*) filter (where exists (select 1 from unnest(conversation_ids) as e(id)
                                            join conversations c on c.id = e.id where c.project_id is distinct from truth.id)),
            count(*) filter (where exists (select 1 from unnest(conversation_ids) as e(id)
                                            where not exists (select 1 from conversations c where c.id = e.id)))
        from truth
        """
    ).fetchone()
    exact, null_arrays, missing_ids, other_projects_ids, deleted_ids = stale
    assert exact > 0 and null_arrays > 0 and missing_ids > 0 and other_projects_ids > 0 and deleted_ids > 0
    assert exact > sum(stale[1:]) / 2


def test_keys_indexes_and_foreign_keys_are_back_after_the_bulk_load(
    seeded: psycopg.Connection, db: psycopg.Connection
) -> None:
    def catalog(conn: psycopg.Connection) -> set[tuple]:
        constraints = conn.execute(
            "select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint "
            "where connamespace = 'public'::regnamespace"
        ).fetchall()
        indexes = conn.execute(
            "select tablename, indexname, indexdef from pg_indexes where schemaname = 'public'"
        ).fetchall()
        return set(constraints) | set(indexes)

    # `db` is an unseeded clone of the same template: the seeded one must have the very same catalog.
    assert catalog(seeded) == catalog(db)


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not(
    seeded_url: str, database_url: str, server_url: str
) -> None:
    counts = _seed(database_url, seed=7)
    with connect(seeded_url) as first, connect(database_url) as second:
        for table in SOURCE_TABLES:
            assert fingerprint(first, table) == fingerprint(second, table), table
            rows = second.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table))).fetchone()[0]
            assert counts[table] == rows, table
    # A database with nothing in it also works: the seeder creates the source tables and migrates.
    with fresh_database(server_url, "convo_seed") as other:
        _seed(other, seed=8)
        with connect(seeded_url) as first, connect(other) as third:
            assert fingerprint(first, "front_message_recipients") != fingerprint(third, "front_message_recipients")
            assert scalar(third, "select count(*) from front_conversations") == CONVERSATIONS


def fingerprint(conn: psycopg.Connection, table: str) -> str:
    """md5 of every row of the table in id order."""
    query = sql.SQL("select md5(coalesce(string_agg(t::text, '|' order by t.id), '')) from {} as t").format(
        sql.Identifier(table)
    )
    return conn.execute(query).fetchone()[0]


def test_refuses_data_unless_append_which_adds_a_distinct_batch(database_url: str, db: psycopg.Connection) -> None:
    _seed(database_url, conversations=60)
    with pytest.raises(SeedError, match="already hold data"):
        _seed(database_url, conversations=60)
    _seed(database_url, conversations=60, append=True)
    assert scalar(db, "select count(*) from front_conversations") == 120
    assert scalar(db, "select count(distinct code) from clients") == 6
    # The appended batch went through the plain path, with every constraint checked row by row.
    assert (
        scalar(
            db,
            "select count(*) from front_message_recipients r left join front_messages m on m.id = r.front_message_id where m.id is null",
        )
        == 0
    )


def test_rejects_sizes_that_make_no_sense(database_url: str) -> None:
    with pytest.raises(SeedError, match="--conversations"):
        _seed(database_url, conversations=0)
    with pytest.raises(SeedError, match="--messages"):
        _seed(database_url, messages=-1)


def test_messages_add_crews_with_their_histories(database_url: str, db: psycopg.Connection) -> None:
    lines: list[str] = []
    counts = _seed(database_url, conversations=60, messages=300, report=lines.append)
    assert counts["front_conversations"] == 60 and counts["histories_messages"] == 300
    tables = [row[0] for row in db.execute("select histories_table_name from crews order by code")]
    assert len(tables) == 3
    rows = sum(
        db.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table))).fetchone()[0] for table in tables
    )
    assert rows == 300
    # Both seeders report their progress through lib/writing/progress.py: rows, rate, elapsed and ETA.
    [messages_line] = [line for line in lines if line.startswith("  front_messages + front_message_recipients: ")]
    assert messages_line.startswith("  front_messages + front_message_recipients: 60/60 conversations, ")
    assert " rows/s, elapsed " in messages_line and messages_line.endswith("ETA 0.0s")
    [histories_line] = [line for line in lines if line.startswith("  histories: ")]
    assert histories_line.startswith("  histories: 1/1 chunks of 500,000 rows, 300 rows, ")
    assert histories_line.endswith("ETA 0.0s")


def test_max_messages_makes_a_leaner_demo_of_the_same_conversations(server_url: str, template_database: str) -> None:
    with fresh_database(server_url, "convo_seed_lean", template_database) as url:
        counts = _seed(url, max_messages=2)
        with connect(url, autocommit=True) as conn:
            fewest, most = conn.execute(
                "select min(n), max(n) from (select count(*) as n from front_messages group by front_conversation_id) as m"
            ).fetchone()
    assert counts["front_conversations"] == CONVERSATIONS
    assert (fewest, most) == (1, 2)


def test_max_messages_below_one_is_refused_by_name() -> None:
    with pytest.raises(SeedError, match="--max-messages must be at least 1, got 0"):
        DemoShape.for_conversations(CONVERSATIONS, DAYS, max_messages=0)
