"""Bad crews are named and never hurt good ones: a hostile or missing table, one the pipeline may not
read, a crew removed or moved to another client; a connection lost inside a crew fails the run."""

from __future__ import annotations

import threading
import time

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from convo_pipelines.defs.histories.assets import histories_assets
from convo_pipelines.defs.histories.checks import histories_checks
from convo_pipelines.defs.histories.crew_processing import crew_lock_key
from convo_pipelines.defs.histories.crews import inspect_histories_table, load_crews
from convo_pipelines_tests.histories.histories_runs import RANGE, metadata_of, run
from convo_pipelines_tests.histories_data import (
    HOSTILE_TABLE_NAME,
    HistoriesTableSpec,
    actual_sessions,
    create_client,
    create_crew,
    create_histories_table,
    insert_messages,
    langchain,
    utc,
)


def test_bad_crews_are_named_and_never_hurt_good_ones(db, postgres, scenario) -> None:
    result = run(postgres, *RANGE)
    for asset in ("histories_sessions", "conversation_summaries"):
        meta = metadata_of(result, asset)
        assert meta["crews_processed"] == 3 and meta["crews_failed"] == 3
        reasons = {row["crew"]: row.get("reason", "") for row in meta["crews"]}
        assert "not a valid table name" in reasons["hostile"]
        assert "public.no_such_histories does not exist" in reasons["ghost"]
        assert (
            "neither a created_at column nor an integer id" in reasons["undatable"]
            and "public.undatable_histories.id is uuid" in reasons["undatable"]
        )
        assert "`hostile`" in meta["bad_crews"] and "`ghost`" in meta["bad_crews"]
    # The hostile name was never executed, and good crews' data is all there.
    assert db.execute("select to_regclass('public.people')").fetchone()[0] == "people"
    assert {row[0] for row in actual_sessions(db)} == set(scenario.good)


def end_backends_waiting_for_crew_lock(dsn: str, stop: threading.Event, ended: list[int]) -> None:
    """Until `stop`, terminate every pipeline backend that waits for a crew's advisory lock, as a server
    restart or an operator would: every attempt of the step loses its connection inside that crew."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            for (pid,) in conn.execute(
                "select pid from pg_stat_activity where datname = current_database() and application_name = 'convo_pipelines' "
                "and wait_event_type = 'Lock' and wait_event = 'advisory'"
            ).fetchall():
                conn.execute("select pg_terminate_backend(%s)", (pid,))
                ended.append(pid)
            time.sleep(0.05)


@pytest.mark.slow
def test_a_connection_lost_mid_crew_fails_the_run_and_never_counts_as_a_discovery(db, postgres) -> None:
    create_client(db, "acme")
    for code in ("a_first", "b_second"):
        create_histories_table(db, HistoriesTableSpec(f"{code}_histories"))
        create_crew(db, code, "acme", f"{code}_histories")
        insert_messages(
            db,
            f"{code}_histories",
            [("12121212-1212-1212-1212-121212121212", utc(2024, 3, 2, 10), langchain("human", "hi"))],
        )
    everything = [*histories_assets, *histories_checks]
    tags = {"dagster/asset_partition_range_start": "2024-03-02", "dagster/asset_partition_range_end": "2024-03-02"}
    stop, ended = threading.Event(), []
    with dg.DagsterInstance.ephemeral() as instance, psycopg.connect(db.info.dsn, autocommit=True) as holder:
        # Holding b_second's crew lock makes every attempt wait inside that crew, where its backend is ended.
        holder.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (crew_lock_key("b_second"),))
        terminator = threading.Thread(target=end_backends_waiting_for_crew_lock, args=(db.info.dsn, stop, ended))
        terminator.start()
        try:
            # The step's retry policy tries again after each loss (tens of seconds of pauses), then fails.
            result = dg.materialize(
                everything, resources={"postgres": postgres}, tags=tags, instance=instance, raise_on_error=False
            )
        finally:
            stop.set()
            terminator.join()
        assert len(ended) >= 2  # retried, and lost again
        # Not a bad crew: the run fails, nothing claims success, the crew before it kept its commit.
        assert not result.success
        assert not result.get_asset_materialization_events()
        assert "terminating connection" in str(result.failure_data_for_node("histories_sessions").error)
        assert {row[0] for row in actual_sessions(db)} == {"a_first"}
        # So the freshness check, evaluated on its own, still finds no discovery.
        fresh_check = [
            check for check in histories_checks if "discovery_fresh" in {key.name for key in check.check_keys}
        ]
        alone = dg.materialize(
            everything,
            resources={"postgres": postgres},
            instance=instance,
            selection=dg.AssetSelection.checks(*fresh_check),
        )
        [fresh] = alone.get_asset_check_evaluations()
        assert not fresh.passed and fresh.metadata["last_success"].value == "never"


def test_a_crew_whose_query_fails_is_reported_and_the_others_commit(db, postgres, scenario) -> None:
    # A table the pipeline's role may not read: the crew's statement fails inside its own transaction.
    db.execute("create role histories_limited_user nologin")
    try:
        db.execute("grant usage on schema public, analytics to histories_limited_user")
        db.execute("grant select on all tables in schema public to histories_limited_user")
        db.execute("grant select, insert, update, delete on all tables in schema analytics to histories_limited_user")
        db.execute("grant execute on function analytics.parse_json_or_null(text) to histories_limited_user")
        db.execute("revoke select on public.globex_histories from histories_limited_user")
        # Every new connection to this database, the pipeline's included, runs as the limited role.
        db.execute(
            sql.SQL("alter database {} set role = histories_limited_user").format(sql.Identifier(db.info.dbname))
        )
        result = run(postgres, *RANGE)
        reasons = {row["crew"]: row.get("reason", "") for row in metadata_of(result, "histories_sessions")["crews"]}
        # Found in the catalog before any query on the table, with the GRANT that fixes it.
        assert reasons["globex_bot"] == (
            "role histories_limited_user cannot read table public.globex_histories: "
            "run GRANT SELECT ON public.globex_histories TO histories_limited_user;"
        )
        assert {row[0] for row in actual_sessions(db)} == {"acme_support", "acme_sales"}
    finally:
        db.execute(sql.SQL("alter database {} reset role").format(sql.Identifier(db.info.dbname)))
        db.execute("drop owned by histories_limited_user")
        db.execute("drop role histories_limited_user")


def test_removed_crews_leave_the_window_and_client_moves_follow(db, postgres, scenario) -> None:
    run(postgres, *RANGE)
    db.execute("delete from public.crews where code = 'acme_sales'")
    db.execute(
        "update public.crews set client_id = (select id from public.clients where code = 'globex') where code = 'acme_support'"
    )
    run(postgres, *RANGE)
    assert {row[0] for row in actual_sessions(db)} == {"acme_support", "globex_bot"}
    assert (
        db.execute("select count(*) from analytics.conversation_summaries where crew_code = 'acme_sales'").fetchone()[0]
        == 0
    )
    assert db.execute(
        "select distinct client_code from analytics.conversation_summaries where crew_code = 'acme_support'"
    ).fetchall() == [("globex",)]


def test_hostile_table_name_is_never_quoted_into_sql(db) -> None:
    create_client(db, "acme")
    create_crew(db, "hostile", "acme", HOSTILE_TABLE_NAME)
    [crew] = load_crews(db, "public")
    table = inspect_histories_table(db, "public", crew)
    assert not table.is_valid and "not a valid table name" in table.reason()
