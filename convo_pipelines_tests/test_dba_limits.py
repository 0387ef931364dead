"""A DBA's limits, set on the database as a DBA sets them: each run either works or fails with one line naming the
setting and its remedy, and the tables stay whole (real runs on a real PostgreSQL; a real hot standby)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from convo_pipelines.defs.links.assets import clients_front_conversations, people_front_conversations
from convo_pipelines.defs.links.project_assets import project_conversations
from convo_pipelines.defs.links.table_state.lock import LOCK_CLASS
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.writing.transactions import wait_for_own_lock
from convo_pipelines_tests.helpers import wait_for_pipeline_lock_wait
from convo_pipelines_tests.postgres_clusters import (
    PostgresCluster,
    create_project_template,
    running_cluster,
)
from convo_pipelines_tests.source_data import (
    assert_links_exact,
    build_source_data,
    expected_people_links,
    link_pairs,
    project_link_rows,
)

FULL_RANGE = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-20"}
LINK_ASSETS = [people_front_conversations, clients_front_conversations, project_conversations]
# How long a test's run waits for another writer's lock once it is seen waiting: 50 times the DBA's lock_timeout.
WAITED_PAST_THE_TIMEOUT_SECONDS = 0.5


def set_on_database(db: psycopg.Connection, setting: str, value: str) -> None:
    """`alter database ... set`, as a DBA limits every session of the database (new sessions take it)."""
    database = db.execute("select current_database()").fetchone()[0]
    db.execute(
        sql.SQL("alter database {} set {} = {}").format(
            sql.Identifier(database), sql.Identifier(setting), sql.Literal(value)
        )
    )


def reset_on_database(db: psycopg.Connection, setting: str) -> None:
    database = db.execute("select current_database()").fetchone()[0]
    db.execute(sql.SQL("alter database {} reset {}").format(sql.Identifier(database), sql.Identifier(setting)))


def run_links(postgres: PostgresResource) -> dg.ExecuteInProcessResult:
    return dg.materialize(LINK_ASSETS, resources={"postgres": postgres}, tags=FULL_RANGE, raise_on_error=False)


def step_failure_descriptions(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        event.event_specific_data.user_failure_data.description for event in result.all_events if event.is_step_failure
    ]


def test_a_statement_timeout_shorter_than_a_fill_fails_with_the_remedy_and_leaves_only_whole_rows(db, postgres) -> None:
    build_source_data(db)
    set_on_database(db, "statement_timeout", "1ms")

    result = run_links(postgres)

    assert not result.success
    descriptions = step_failure_descriptions(result)
    assert descriptions
    for description in descriptions:
        assert "\n" not in description
        assert (
            "statement_timeout" in description
            and "alter role" in description
            and "statement_timeout = 0" in description
        )
    # Not retried: a retry meets the same limit.
    assert not any(event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for event in result.all_events)
    # Whatever committed is whole: links the definition holds, never a wrong one.
    assert link_pairs(db, "public", "people_front_conversations") <= expected_people_links(db)
    reset_on_database(db, "statement_timeout")
    assert run_links(postgres).success
    assert_links_exact(db)


def test_runs_never_sit_idle_in_a_transaction(db, postgres) -> None:
    """idle_in_transaction_session_timeout ends a session idle inside a transaction that long: every run works."""
    build_source_data(db)
    set_on_database(db, "idle_in_transaction_session_timeout", "1s")

    result = run_links(postgres)

    assert result.success, step_failure_descriptions(result)
    assert not any(event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for event in result.all_events)
    assert_links_exact(db)
    assert project_link_rows(db)


def test_a_short_lock_timeout_does_not_fail_a_run_waiting_for_another_writer(db, postgres, database_url) -> None:
    """The pipeline's own lock waits (another run writing the table) run without the DBA's lock_timeout."""
    build_source_data(db)
    set_on_database(db, "lock_timeout", "10ms")
    results: list[dg.ExecuteInProcessResult] = []
    with psycopg.connect(database_url) as other_writer:
        other_writer.execute(
            "select pg_advisory_xact_lock(%s, hashtext('public.people_front_conversations'))", (LOCK_CLASS,)
        )
        runner = threading.Thread(
            target=lambda: results.append(
                dg.materialize(
                    [people_front_conversations],
                    resources={"postgres": postgres},
                    tags=FULL_RANGE,
                    raise_on_error=False,
                )
            )
        )
        runner.start()
        assert wait_for_pipeline_lock_wait(db, runner, "advisory"), "the run never waited for the other writer"
        time.sleep(WAITED_PAST_THE_TIMEOUT_SECONDS)
        assert runner.is_alive() and link_pairs(db, "public", "people_front_conversations") == set()
        other_writer.rollback()
    runner.join(timeout=120)

    assert results and results[0].success, step_failure_descriptions(results[0])
    messages = [event.message or "" for event in results[0].all_events]
    assert not any("concurrent change" in message for message in messages)
    assert link_pairs(db, "public", "people_front_conversations") == expected_people_links(db)


def test_the_wait_for_an_own_lock_gives_the_transaction_its_lock_timeout_back(db) -> None:
    with db.transaction():
        db.execute("set local lock_timeout = '10ms'")
        wait_for_own_lock(db, sql.SQL("select pg_advisory_xact_lock(%(key)s)"), {"key": 1})
        assert db.execute("select current_setting('lock_timeout')").fetchone()[0] == "10ms"


# ---------------------------------------------------------------------------------------------
# A hot standby


@pytest.fixture(scope="module")
def primary_and_standby() -> Iterator[tuple[PostgresCluster, PostgresCluster, str]]:
    """A primary holding the project's tables and migrations, and a hot standby streaming from it."""
    with running_cluster("primary") as primary:
        database = create_project_template(primary)
        standby = PostgresCluster("standby", {})
        try:
            standby.start_as_standby_of(primary)
            yield primary, standby, database
        finally:
            standby.stop()


@pytest.mark.slow
def test_a_database_url_on_a_hot_standby_fails_before_any_write_with_one_line(primary_and_standby) -> None:
    primary, standby, database = primary_and_standby
    with psycopg.connect(primary.url(database), autocommit=True) as conn:
        build_source_data(conn)
        primary_lsn = conn.execute("select pg_current_wal_lsn()").fetchone()[0]
    with psycopg.connect(standby.url(database), autocommit=True) as replica:
        deadline = time.monotonic() + 60
        while replica.execute("select pg_last_wal_replay_lsn() < %s::pg_lsn", (primary_lsn,)).fetchone()[0]:
            assert time.monotonic() < deadline, "the standby did not replay the seed"
            time.sleep(0.1)
    postgres = PostgresResource(database_url=standby.url(database))

    result = run_links(postgres)

    assert not result.success
    descriptions = step_failure_descriptions(result)
    assert descriptions and all("\n" not in description for description in descriptions)
    assert all("DATABASE_URL points at a server that takes no writes" in d and "hot standby" in d for d in descriptions)
    assert all("point it at the primary" in description for description in descriptions)
    with psycopg.connect(primary.url(database), autocommit=True) as conn:
        assert link_pairs(conn, "public", "people_front_conversations") == set()
