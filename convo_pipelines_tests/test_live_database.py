"""The pipelines inside a live application database: runs go while the app reads and writes, and the app never waits long.

An `AppWorkload` (app_workload.py) plays the application on its own connections
(reads through the link tables and of the source tables, a person re-created and a recipient added
every 50 ms) while the Front link tables are first filled and then re-run over a partition range,
project_conversations is filled and reconciled, and the histories are backfilled. Its lock monitor
records the pipeline's locks on the source tables and the app's lock waits the pipeline caused.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from convo_pipelines.defs.histories.assets import histories_assets
from convo_pipelines.defs.histories.checks import histories_checks
from convo_pipelines.defs.histories.crews import load_crews
from convo_pipelines.defs.links.assets import clients_front_conversations, people_front_conversations
from convo_pipelines.defs.links.checks import link_checks
from convo_pipelines.defs.links.project_assets import project_conversations
from convo_pipelines.lib.embedded.demo_seed import seed_demo
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.app_workload import AppWorkload
from convo_pipelines_tests.app_workload_recording import APP_APPLICATION_NAME
from convo_pipelines_tests.app_workload_report import EXCLUSIVE_LOCK_MODES, WRITE_BLOCKING_LOCK_MODES, WorkloadReport
from convo_pipelines_tests.app_workload_threads import READS
from convo_pipelines_tests.helpers import wait_until
from convo_pipelines_tests.source_data import (
    SOURCE_TABLES,
    expected_client_links,
    expected_people_links,
    expected_project_links,
    link_pairs,
    project_link_rows,
)

SCHEMA = "public"
UTC = UTC
FRONT_ASSETS = [people_front_conversations, clients_front_conversations]
# 3,000 conversations over 14 days (24,000 messages, 70,000 recipients), the demo's 100 people (the app
# re-creates one every 50 ms, so every re-run meets deletes of people it links) and 20,000 chat
# messages in 3 crews: a first fill takes long enough for the 5 ms lock monitor to see its steps,
# and the whole live test stays around a minute.
CONVERSATIONS = 3_000
HISTORY_MESSAGES = 20_000
EXTRA_PEOPLE = 0
RECIPIENTS_PER_EXTRA_PERSON = 3
DAYS = 14
END = datetime(2024, 1, 15, tzinfo=UTC)  # the data spans [2024-01-01, 2024-01-15)
RANGE = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-14"}
# The aim: 0 failed runs out of 20 re-runs while the app works.
RANGE_RERUNS = 20
APP_INTERVAL = 0.05
# The only lock on a source table that blocks the app's writes: SHARE ROW EXCLUSIVE, while a link table's foreign
# key is added NOT VALID to the table it references (a catalog change, queued at most lock_timeout). How long the
# app waits behind the pipeline is the bench's to measure (`longest_pipeline_wait_ms` beside each run).
FOREIGN_KEY_REFERENCED_TABLES = frozenset(
    {"people", "clients", "front_conversations", "projects", "conversations", "users"}
)


def seed_live_data(
    database_url: str,
    conversations: int = CONVERSATIONS,
    messages: int = HISTORY_MESSAGES,
    extra_people: int = EXTRA_PEOPLE,
) -> list[str]:
    """The demo's source tables and crews, plus `extra_people`; returns the crews' histories tables (source tables too)."""
    with connect(database_url) as conn:
        seed_demo(
            conn,
            source_schema=SCHEMA,
            analytics_schema="analytics",
            conversations=conversations,
            days=DAYS,
            messages=messages,
            end=END,
            report=lambda _line: None,
        )
        add_people_in_conversations(conn, extra_people)
        conn.commit()
        return [crew.histories_table_name for crew in load_crews(conn, SCHEMA)]


def add_people_in_conversations(conn: psycopg.Connection, people: int) -> None:
    """`people` more people, each with one contact method that received RECIPIENTS_PER_EXTRA_PERSON messages.

    The demo has 25 people per 800 conversations; the app workload re-creates a person every 50 ms,
    so without these each run would find most people replaced since the one before.
    """
    conn.execute(
        """
        with new_people as (
            insert into people (client_id, name)
            select (array(select id from clients order by id))[1 + number %% (select count(*) from clients)], 'person ' || number
            from generate_series(1, %(people)s) as number
            returning id
        ),
        methods as (
            insert into contact_methods (person_id, kind, value)
            select id, 'email', id::text || '@example.com' from new_people
            returning id
        ),
        numbered_messages as (
            select id, row_number() over (order by id) - 1 as number from front_messages
        ),
        picks as (
            select methods.id as contact_method_id,
                abs(hashtextextended(methods.id::text || copy, 0)) %% (select count(*) from front_messages) as number
            from methods
            cross join generate_series(1, %(recipients)s) as copy
        )
        insert into front_message_recipients (front_message_id, contact_method_id, role)
        select message.id, picks.contact_method_id, 'cc'
        from picks
        join numbered_messages as message on message.number = picks.number
        """,
        {"people": people, "recipients": RECIPIENTS_PER_EXTRA_PERSON},
    )
    conn.execute("analyze people; analyze contact_methods; analyze front_message_recipients")


def materialize(postgres, assets, tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
    """The assets with their checks, as a backfill or schedule runs them (a blocking check that fails
    on the app's own writes would fail the run)."""
    keys = {asset.key for asset in assets}
    checks = [
        check for check in (*link_checks, *histories_checks) if {key.asset_key for key in check.check_keys} <= keys
    ]
    return dg.materialize([*assets, *checks], resources={"postgres": postgres}, tags=tags or {}, raise_on_error=False)


def failure_of(result: dg.ExecuteInProcessResult) -> str:
    """The first failed step's error, in one line."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.event_specific_data.error
            causes = [error]
            while causes[-1].cause is not None:
                causes.append(causes[-1].cause)
            return f"{event.step_key}: " + " <- ".join(cause.message.strip().splitlines()[0] for cause in causes)
    return "failed without a step failure"


def assert_links_equal_the_oracle(db: psycopg.Connection) -> None:
    assert link_pairs(db, SCHEMA, "people_front_conversations") == expected_people_links(db, SCHEMA)
    assert link_pairs(db, SCHEMA, "clients_front_conversations") == expected_client_links(db, SCHEMA)
    triples = {
        (project, conversation, added_by)
        for conversation, (_, project, _, added_by) in project_link_rows(db, SCHEMA).items()
    }
    assert triples == expected_project_links(db, SCHEMA)


def table_digests(db: psycopg.Connection, tables: list[str]) -> dict[str, str]:
    """{table: row count and md5 of its rows in a fixed order}."""
    digests = {}
    for table in tables:
        statement = sql.SQL(
            "select count(*), coalesce(md5(string_agg(t::text, ',' order by t::text)), '') from {} as t"
        ).format(sql.Identifier(SCHEMA, table))
        count, digest = db.execute(statement).fetchone()
        digests[table] = f"{count}:{digest}"
    return digests


# ---------------------------------------------------------------------------------------------


# Twenty-five runs beside the app for about a minute: an end-to-end load test, run by `make test-slow`
# (and CI); the tests below keep the pipeline's effect on the source and the lock monitor in `make test`.
@pytest.mark.slow
def test_runs_beside_a_busy_app_succeed_and_never_lock_it_out(database_url, postgres, db) -> None:
    histories_tables = seed_live_data(database_url)
    outcomes: list[tuple[str, dg.ExecuteInProcessResult, float]] = []

    def launch(label: str, assets, tags: dict[str, str] | None = None) -> None:
        started = time.monotonic()
        outcomes.append((label, materialize(postgres, assets, tags), time.monotonic() - started))

    with AppWorkload(database_url, SCHEMA, interval=APP_INTERVAL, extra_tables=histories_tables) as app:
        launch("front links first fill", FRONT_ASSETS, RANGE)
        for number in range(1, RANGE_RERUNS + 1):
            launch(f"front links range re-run {number}", FRONT_ASSETS, RANGE)
            if not outcomes[-1][1].success:
                break  # one failure already misses the aim; the other runs still measure the app's waits
        launch("project_conversations first fill", [project_conversations])
        launch("project_conversations reconcile", [project_conversations])
        launch("histories backfill", histories_assets, RANGE)
    report = app.report()
    print(
        "\n".join(
            f"{label}: {'ok' if result.success else 'FAILED'} in {seconds:.2f} s" for label, result, seconds in outcomes
        )
    )
    print(report.summary())

    failed = [f"{label}: {failure_of(result)}" for label, result, _seconds in outcomes if not result.success]
    assert not failed, f"{len(failed)} of {len(outcomes)} runs failed:\n" + "\n".join(failed) + "\n" + report.summary()
    assert_the_app_was_really_served(report)
    assert not report.pipeline_locks_in(EXCLUSIVE_LOCK_MODES), report.summary()
    write_blocking = {
        (table, mode) for table, locks in report.pipeline_locks_in(WRITE_BLOCKING_LOCK_MODES).items() for mode in locks
    }
    assert {mode for _table, mode in write_blocking} <= {"ShareRowExclusiveLock"}, report.summary()
    assert {table for table, _mode in write_blocking} <= FOREIGN_KEY_REFERENCED_TABLES, report.summary()
    assert report.errors == {}, report.summary()

    # With the app quiet, one re-run makes every link table exact, the app's writes included.
    for assets, tags in ((FRONT_ASSETS, RANGE), ([project_conversations], None)):
        result = materialize(postgres, assets, tags)
        assert result.success, failure_of(result)
    assert_links_equal_the_oracle(db)


def assert_the_app_was_really_served(report: WorkloadReport) -> None:
    """Every statement kind ran many times and the monitor polled throughout: the figures mean something."""
    expected_kinds = {read.kind for read in READS} | {
        "insert_person",
        "delete_person",
        "commit_person",
        "insert_recipient",
    }
    assert report.worker_failures == []
    assert set(report.statements) == expected_kinds
    assert min(figures.count for figures in report.statements.values()) >= 100, report.summary()
    assert report.monitor_polls >= 1_000 and report.monitor_longest_gap_ms < 1_000, report.summary()
    # The pipeline's reads of the source tables were seen, so an absent strong lock is not a blind monitor.
    assert "AccessShareLock" in report.pipeline_lock_modes().get("front_message_recipients", set()), report.summary()


def test_runs_leave_every_source_table_unchanged(database_url, postgres, db) -> None:
    histories_tables = seed_live_data(database_url, conversations=1_000, messages=5_000)
    tables = [*SOURCE_TABLES, *histories_tables]
    before = table_digests(db, tables)
    assert all(not digest.startswith("0:") for digest in before.values())

    for assets, tags in (
        (FRONT_ASSETS, RANGE),  # first fill
        (FRONT_ASSETS, RANGE),  # re-run
        ([project_conversations], None),  # first fill
        ([project_conversations], None),  # reconcile
        (histories_assets, RANGE),  # backfill
    ):
        result = materialize(postgres, assets, tags)
        assert result.success, failure_of(result)

    assert table_digests(db, tables) == before
    assert_links_equal_the_oracle(db)


def test_the_lock_monitor_sees_a_pipeline_lock_and_the_app_wait_it_causes(database_url, db) -> None:
    seed_live_data(database_url, conversations=300, messages=0, extra_people=300)
    with AppWorkload(database_url, SCHEMA, interval=0.01) as app:
        time.sleep(0.3)
        # A backend named like the pipeline's (db.connect) holds ACCESS EXCLUSIVE on people until an app
        # statement has waited 400 ms for it, by the server's clock.
        with connect(database_url) as pipeline_like:
            pipeline_like.execute("lock table people in access exclusive mode")
            held = time.monotonic()
            assert wait_until(lambda: longest_app_lock_wait_ms(db) >= 400, timeout=60)
            pipeline_like.rollback()
            held_ms = (time.monotonic() - held) * 1000
        time.sleep(0.3)
    report = app.report()

    people = report.pipeline_locks["people"]["AccessExclusiveLock"]
    assert people.held and 300 <= people.longest_held_ms < held_ms + 1_000, report.summary()
    assert report.pipeline_locks_in(EXCLUSIVE_LOCK_MODES).keys() == {"people"}
    wait = report.longest_pipeline_wait
    assert wait is not None and wait.caused_by_pipeline, report.summary()
    assert 250 <= wait.waited_ms < held_ms + 1_000 and wait.awaited_relation == "people", report.summary()
    # The statements that waited are the app's own figures too.
    assert report.longest_statement_ms >= 250
    # ... and the polls saw them waiting on the lock (a heavyweight lock on a relation), not running.
    assert report.app_wait_samples.get("Lock:relation", 0) >= 10, report.summary()
    assert report.errors == {} and report.worker_failures == []


def longest_app_lock_wait_ms(db: psycopg.Connection) -> float:
    """How long the app workload's longest waiting statement has waited for a lock so far, by the server's clock."""
    return db.execute(
        "select coalesce(max(extract(epoch from clock_timestamp() - query_start) * 1000), 0)::float"
        " from pg_stat_activity where application_name = %s and wait_event_type = 'Lock'",
        (APP_APPLICATION_NAME,),
    ).fetchone()[0]


def test_the_app_workload_counts_a_missing_link_table_and_goes_on(database_url, db) -> None:
    seed_live_data(database_url, conversations=300, messages=0, extra_people=300)
    db.execute("drop table people_front_conversations cascade")
    with AppWorkload(database_url, SCHEMA, interval=0.01) as app:
        time.sleep(1.0)
    report = app.report()

    newest = report.statements["read_person_newest_conversations"]
    assert report.errors["read_person_newest_conversations"] == {"42P01": newest.count} and newest.count >= 10
    assert report.errors["read_conversation_people"]["42P01"] >= 10
    # The other reads and the writes went on.
    assert report.statements["read_client_newest_conversations"].count >= 10
    assert "read_client_newest_conversations" not in report.errors
    assert report.statements["insert_recipient"].count >= 10 and "insert_recipient" not in report.errors
