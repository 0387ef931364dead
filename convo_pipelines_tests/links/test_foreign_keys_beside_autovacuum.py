"""A link table's foreign keys added and validated while an autovacuum works on the table, as one does right after a
first fill has inserted its rows: on a server of its own whose autovacuum looks at the tables every second."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from convo_pipelines.defs.links.table_state.keys import ensure_foreign_keys, link_foreign_keys
from convo_pipelines.defs.links.tables import PEOPLE_LINKS
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines_tests.helpers import wait_until
from convo_pipelines_tests.postgres_clusters import (
    ANALYTICS_SCHEMA,
    SOURCE_SCHEMA,
    PostgresCluster,
    create_project_template,
    database_on,
    running_cluster,
)

LINKS = 50_000


@pytest.fixture(scope="module")
def eager_autovacuum() -> Iterator[PostgresCluster]:
    with running_cluster("autovacuum", autovacuum_naptime="1s") as cluster:
        yield cluster


def fill_links_without_foreign_keys(conn: psycopg.Connection) -> None:
    """LINKS people links to real rows in the table as migrated, without foreign keys, as a first fill's slices leave
    it; an autovacuum of it then reads a page every 100 ms or so, which makes it last minutes."""
    conn.execute("insert into clients (code, name) values ('c', 'Client')")
    conn.execute("insert into people (client_id, name) select id, 'Person' from clients")
    conn.execute(f"insert into front_conversations (subject) select 'subject ' || n from generate_series(1, {LINKS}) n")
    conn.execute(
        "insert into people_front_conversations (person_id, front_conversation_id, front_conversation_created_at) "
        "select people.id, front_conversations.id, front_conversations.created_at from people, front_conversations"
    )
    conn.execute(
        "alter table people_front_conversations set (autovacuum_vacuum_insert_threshold = 1, "
        "autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)"
    )


def autovacuum_of_links(conn: psycopg.Connection) -> bool:
    statement = (
        "select count(*) from pg_stat_activity where query like 'autovacuum: VACUUM %people_front_conversations%'"
    )
    return conn.execute(statement).fetchone()[0] > 0


def test_foreign_keys_are_added_and_validated_past_an_autovacuum_of_the_new_rows(
    eager_autovacuum: PostgresCluster,
) -> None:
    template = create_project_template(eager_autovacuum)
    with (
        database_on(eager_autovacuum, "convo_autovacuum", template) as name,
        connect(eager_autovacuum.url(name), autocommit=True) as conn,
    ):
        fill_links_without_foreign_keys(conn)
        assert wait_until(lambda: autovacuum_of_links(conn), timeout=60), eager_autovacuum.log_tail()
        state = ensure_foreign_keys(
            Session(conn, SOURCE_SCHEMA, ANALYTICS_SCHEMA), PEOPLE_LINKS.table, PEOPLE_LINKS.foreign_keys
        )
        # Both keys added and validated in this run, none left for the next: the autovacuum, which conflicts with
        # both statements, was cancelled by the server once they waited for it, rather than outlasting their retries.
        names = [key.name for key in PEOPLE_LINKS.foreign_keys]
        assert (state.made_whole, state.pending) == (names, [])
        assert link_foreign_keys(Session(conn, SOURCE_SCHEMA, ANALYTICS_SCHEMA), PEOPLE_LINKS.table) == dict.fromkeys(
            names, True
        )
        assert "canceling autovacuum task" in eager_autovacuum.log.read_text(errors="replace")
