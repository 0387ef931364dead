"""Histories checks: pass on correct data, fail on corrupted or invalid input; after a run they cover what it
wrote (its window when it deleted rows), run alone the whole tables."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import psycopg
import pytest

from convo_pipelines.defs.histories.assets import histories_assets
from convo_pipelines.defs.histories.checks import histories_checks
from convo_pipelines.defs.histories.discovery_checks import discovery_deadline, discovery_is_fresh
from convo_pipelines.defs.histories.schedules import discovery_tick_run_config
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.defs.sources import conversations
from convo_pipelines_tests.histories_data import (
    HistoriesTableSpec,
    create_client,
    create_crew,
    create_histories_table,
    insert_messages,
    langchain,
    utc,
)

SESSION = "55555555-5555-5555-5555-555555555555"


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def run_with_checks(
    postgres: PostgresResource, first: str | None, last: str | None = None, run_config: dict | None = None
) -> dict:
    """Materialize the histories assets with every check, over first..last, or run only the checks unpartitioned."""
    everything = [*histories_assets, *histories_checks]
    if first is None:
        selection = dg.AssetSelection.checks(*histories_checks)
        result = dg.materialize(everything, resources={"postgres": postgres}, selection=selection, raise_on_error=False)
    else:
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first}
        result = dg.materialize(everything, resources={"postgres": postgres}, tags=tags, run_config=run_config)
    assert result.success
    return evaluations(result)


def one_good_crew(db: psycopg.Connection, index_created_at: bool = True) -> None:
    create_client(db, "acme")
    create_histories_table(db, HistoriesTableSpec("good_histories", index_created_at=index_created_at))
    create_crew(db, "good", "acme", "good_histories")
    insert_messages(
        db,
        "good_histories",
        [
            (SESSION, utc(2024, 3, 1, 23, 59, 58), langchain("human", "hello")),
            (SESSION, utc(2024, 3, 2, 0, 0, 3), langchain("ai", "hi")),
            ("66666666-6666-6666-6666-666666666666", utc(2024, 3, 5, 12), langchain("human", "other day")),
        ],
    )


def test_every_check_passes_on_correct_data(db, postgres) -> None:
    one_good_crew(db)
    results = run_with_checks(postgres, "2024-03-01", "2024-03-05")
    assert len(results) == 6
    assert all(evaluation.passed for evaluation in results.values()), {k: v.passed for k, v in results.items()}


def test_bad_crews_fail_the_validity_check_and_unindexed_tables_warn(db, postgres) -> None:
    one_good_crew(db, index_created_at=False)
    create_crew(db, "ghost", "acme", "missing_histories")
    create_crew(db, "hostile", "acme", "Robert'); drop table crews;--")
    results = run_with_checks(postgres, "2024-03-01")
    valid = results[("histories_sessions", "histories_tables_valid")]
    assert not valid.passed and valid.severity == dg.AssetCheckSeverity.ERROR
    assert set(valid.metadata["bad_crews"].value) == {"ghost", "hostile"}
    assert "does not exist" in valid.metadata["bad_crews"].value["ghost"]
    indexed = results[("histories_sessions", "histories_tables_indexed")]
    assert not indexed.passed and indexed.severity == dg.AssetCheckSeverity.WARN
    assert "created_at has no index" in indexed.metadata["unindexed"].value["good"][0]
    # The good crew was still discovered.
    assert db.execute("select count(*) from analytics.histories_sessions").fetchone()[0] == 1


def test_duplicate_grains_fail_both_tables_within_the_window_only(db, postgres) -> None:
    one_good_crew(db)
    run_with_checks(postgres, "2024-03-01", "2024-03-05")
    db.execute("alter table analytics.histories_sessions drop constraint histories_sessions_pkey")
    db.execute("alter table analytics.conversation_summaries drop constraint conversation_summaries_pkey")
    db.execute(
        "insert into analytics.histories_sessions select * from analytics.histories_sessions where activity_date = '2024-03-05'"
    )
    db.execute(
        "insert into analytics.conversation_summaries select * from analytics.conversation_summaries where started_at >= '2024-03-05'"
    )
    # Without its key the pipeline cannot merge into its own table: that fails the run, it never
    # passes for a crew's problem (a "bad crew") with nothing written.
    tags = {"dagster/asset_partition_range_start": "2024-03-01", "dagster/asset_partition_range_end": "2024-03-01"}
    broken = dg.materialize(histories_assets, resources={"postgres": postgres}, tags=tags, raise_on_error=False)
    assert not broken.success and not broken.get_asset_materialization_events()
    # With no crew left to merge (the run only deletes the removed crew's rows of its window), a run
    # of another day does not see the corruption on 03-05 ...
    db.execute("delete from public.crews")
    other_day = run_with_checks(postgres, "2024-03-01")
    assert other_day[("histories_sessions", "no_duplicate_grains")].passed
    assert other_day[("histories_sessions", "no_duplicate_grains")].metadata["scope"].value.startswith("[2024-03-01")
    assert other_day[("conversation_summaries", "no_duplicate_grains")].passed
    # ... the checks run alone cover the whole tables and fail.
    alone = run_with_checks(postgres, None)
    for asset in ("histories_sessions", "conversation_summaries"):
        evaluation = alone[(asset, "no_duplicate_grains")]
        assert not evaluation.passed and evaluation.metadata["duplicate_grains_count"].value == 1
        assert evaluation.metadata["scope"].value == "whole table"


def test_summary_counts_that_disagree_with_their_days_fail(db, postgres) -> None:
    one_good_crew(db)
    run_with_checks(postgres, "2024-03-01", "2024-03-05")
    db.execute(
        "update analytics.conversation_summaries set message_count = message_count + 1 where session_id = %s",
        (SESSION,),
    )
    db.execute("delete from analytics.histories_sessions where activity_date = '2024-03-05'")
    alone = run_with_checks(postgres, None)
    evaluation = alone[("conversation_summaries", "counts_match_histories_sessions")]
    assert not evaluation.passed
    assert evaluation.metadata["count_mismatches_count"].value == 2
    samples = {sample["session_id"]: sample for sample in evaluation.metadata["count_mismatches_samples"].value}
    assert (samples[SESSION]["summary_messages"], samples[SESSION]["days_messages"]) == (3, 2)
    assert samples["66666666-6666-6666-6666-666666666666"]["days_messages"] is None


def test_the_audit_job_runs_every_histories_check_alone_over_the_whole_tables(db, postgres, definitions) -> None:
    """histories_audit_job: the checks of the UI's "Execute checks", for a script (`dagster job execute`)."""
    one_good_crew(db)
    instance = dg.DagsterInstance.ephemeral()  # one instance for both runs: discovery_fresh reads the discovery's
    tags = {"dagster/asset_partition_range_start": "2024-03-01", "dagster/asset_partition_range_end": "2024-03-05"}
    assert dg.materialize(histories_assets, resources={"postgres": postgres}, tags=tags, instance=instance).success
    db.execute(
        "update analytics.conversation_summaries set message_count = message_count + 1 where session_id = %s",
        (SESSION,),
    )
    result = definitions.resolve_job_def("histories_audit_job").execute_in_process(
        instance=instance, raise_on_error=False
    )
    found = evaluations(result)
    assert set(found) == {(key.asset_key.path[-1], key.name) for check in histories_checks for key in check.check_keys}
    assert not result.get_asset_materialization_events()
    mismatch = found[("conversation_summaries", "counts_match_histories_sessions")]
    assert not mismatch.passed and mismatch.metadata["count_mismatches_count"].value == 1
    assert mismatch.metadata["scope"].value == "whole table"
    assert [key for key, e in found.items() if not e.passed] == [
        ("conversation_summaries", "counts_match_histories_sessions")
    ]


def test_more_than_one_open_conversation_per_lead_warns_and_lists_the_lead(db, postgres) -> None:
    lead, fine = "77777777-7777-7777-7777-777777777777", "88888888-8888-8888-8888-888888888888"
    db.execute(
        "insert into public.conversations (lead_id, closed_at) values (%s, null), (%s, null), (%s, null), (%s, now())",
        (lead, lead, fine, fine),
    )
    [check] = [c for c in histories_checks if dg.AssetKey("conversations") in {k.asset_key for k in c.check_keys}]
    result = dg.materialize(
        [conversations, check], resources={"postgres": postgres}, selection=dg.AssetSelection.checks(check)
    )
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    samples = evaluation.metadata["leads_with_several_open_conversations_samples"].value
    assert [(sample["lead_id"], sample["open_conversations"]) for sample in samples] == [(lead, 2)]
    # The same samples as a table the UI shows.
    table = evaluation.metadata["leads_with_several_open_conversations_samples_table"].value
    assert [(record.data["lead_id"], record.data["open_conversations"]) for record in table.records] == [(lead, 2)]


def test_freshness_fails_before_any_discovery_and_after_two_missed_ticks(db, postgres) -> None:
    alone = run_with_checks(postgres, None)
    assert not alone[("histories_sessions", "discovery_fresh")].passed
    assert alone[("histories_sessions", "discovery_fresh")].metadata["last_success"].value == "never"
    # Two ticks of */5 back from 10:07 is 10:00: a success at 10:01 is fresh, one at 09:59 is not.
    now = datetime(2024, 3, 1, 10, 7, tzinfo=UTC)
    assert discovery_deadline("*/5 * * * *", "UTC", now) == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert discovery_is_fresh(datetime(2024, 3, 1, 10, 1, tzinfo=UTC), "*/5 * * * *", "UTC", now)
    assert not discovery_is_fresh(datetime(2024, 3, 1, 9, 59, tzinfo=UTC), "*/5 * * * *", "UTC", now)
    assert not discovery_is_fresh(None, "*/5 * * * *", "UTC", now)
    # A daily cron in another time zone: two ticks back from 2024-03-03 12:00 UTC is 2024-03-02 02:00 Paris.
    assert discovery_deadline("0 2 * * *", "Europe/Paris", datetime(2024, 3, 3, 12, tzinfo=UTC)) == datetime(
        2024, 3, 2, 1, 0, tzinfo=UTC
    )


def test_freshness_passes_right_after_a_discovery(db, postgres) -> None:
    one_good_crew(db)
    results = run_with_checks(postgres, "2024-03-01")
    fresh = results[("histories_sessions", "discovery_fresh")]
    assert fresh.passed and fresh.metadata["last_success"].value != "never"


# ---------------------------------------------------------------- what the checks after a run cover

TICK_DAY = "2024-03-21"
# A session active on the tick's day since the day before, one begun that day, and the tick's new one.
OLDER = "a0000000-0000-0000-0000-000000000001"
BEGUN = "a0000000-0000-0000-0000-000000000002"
NEW = "a0000000-0000-0000-0000-000000000003"
GONE = "a0000000-0000-0000-0000-000000000004"
TICK_CONFIG = discovery_tick_run_config()
SQL_CHECKS = (
    ("histories_sessions", "no_duplicate_grains"),
    ("conversation_summaries", "no_duplicate_grains"),
    ("conversation_summaries", "counts_match_histories_sessions"),
)


def tick_day_crew(db: psycopg.Connection) -> None:
    create_client(db, "acme")
    create_histories_table(db, HistoriesTableSpec("tick_histories"))
    create_crew(db, "tick", "acme", "tick_histories")
    insert_messages(
        db,
        "tick_histories",
        [
            (OLDER, utc(2024, 3, 20, 9), langchain("human", "yesterday")),
            (OLDER, utc(2024, 3, 21, 8), langchain("ai", "today")),
            (BEGUN, utc(2024, 3, 21, 9), langchain("human", "morning")),
            (GONE, utc(2024, 3, 21, 9, 30), langchain("human", "soon deleted")),
        ],
    )


def new_session_messages(db: psycopg.Connection) -> None:
    insert_messages(
        db,
        "tick_histories",
        [
            (NEW, utc(2024, 3, 21, 10), langchain("human", "new")),
            (NEW, utc(2024, 3, 21, 10, 1), langchain("ai", "welcome")),
        ],
    )


def count_mismatch_sessions(evaluation: dg.AssetCheckEvaluation) -> list[str]:
    return [sample["session_id"] for sample in evaluation.metadata["count_mismatches_samples"].value]


# How a merge could write a wrong row, played by a trigger on the table it writes: a summary whose
# counts differ from its days, days without a summary, a summary without days.
WRONG_WRITES = {
    "summary_counts_off": ("conversation_summaries", "new.message_count := new.message_count + 1; return new;"),
    "days_without_summary": ("conversation_summaries", "return null;"),
    "summary_without_days": ("histories_sessions", "return null;"),
}


def corrupt_writes_of(db: psycopg.Connection, session_id: str, wrong_write: str) -> None:
    table, body = WRONG_WRITES[wrong_write]
    db.execute(
        f"create function analytics.wrong_write() returns trigger language plpgsql as $$ "
        f"begin if new.session_id = '{session_id}' then {body} end if; return new; end $$"
    )
    db.execute(
        f"create trigger wrong_write before insert on analytics.{table} for each row execute function analytics.wrong_write()"
    )


@pytest.mark.parametrize("wrong_write", sorted(WRONG_WRITES))
def test_the_checks_after_a_tick_cover_the_rows_it_wrote_and_catch_a_wrong_one(db, postgres, wrong_write) -> None:
    tick_day_crew(db)
    assert all(e.passed for e in run_with_checks(postgres, "2024-03-20", TICK_DAY).values())
    # A wrong row the tick does not write, though its session is active on the tick's day: the
    # day's window would hold it, what the tick wrote does not.
    db.execute(
        "update analytics.conversation_summaries set message_count = message_count + 5 where session_id = %s", (OLDER,)
    )
    corrupt_writes_of(db, NEW, wrong_write)
    new_session_messages(db)
    after_tick = run_with_checks(postgres, TICK_DAY, run_config=TICK_CONFIG)
    for key in SQL_CHECKS:
        assert ", rows written since " in after_tick[key].metadata["scope"].value, key
    counts = after_tick[("conversation_summaries", "counts_match_histories_sessions")]
    assert not counts.passed and count_mismatch_sessions(counts) == [NEW]
    # Run alone, the check compares the whole tables: both wrong rows.
    alone = run_with_checks(postgres, None)[("conversation_summaries", "counts_match_histories_sessions")]
    assert alone.metadata["scope"].value == "whole table"
    assert sorted(count_mismatch_sessions(alone)) == [OLDER, NEW]


def test_a_tick_that_writes_nothing_passes_on_what_it_wrote(db, postgres) -> None:
    tick_day_crew(db)
    run_with_checks(postgres, "2024-03-20", TICK_DAY)
    db.execute(
        "update analytics.conversation_summaries set message_count = message_count + 5 where session_id = %s", (OLDER,)
    )
    after_tick = run_with_checks(postgres, TICK_DAY, run_config=TICK_CONFIG)
    for key in SQL_CHECKS:
        assert after_tick[key].passed and ", rows written since " in after_tick[key].metadata["scope"].value, key


def test_a_run_that_deletes_rows_checks_its_whole_window(db, postgres) -> None:
    """A deletion leaves no stamp: a summary the run should have deleted with its days is caught all the same."""
    tick_day_crew(db)
    run_with_checks(postgres, "2024-03-20", TICK_DAY)
    db.execute("delete from public.tick_histories where session_id = %s", (GONE,))
    # The summaries' merge "forgets" to delete GONE's summary; histories_sessions deletes its day.
    db.execute(
        "create function analytics.keep_summary() returns trigger language plpgsql as $$ "
        f"begin if old.session_id = '{GONE}' then return null; end if; return old; end $$"
    )
    db.execute(
        "create trigger keep_summary before delete on analytics.conversation_summaries for each row execute function analytics.keep_summary()"
    )
    after = run_with_checks(postgres, TICK_DAY)
    counts = after[("conversation_summaries", "counts_match_histories_sessions")]
    assert counts.metadata["scope"].value == f"[{TICK_DAY}T00:00:00+00:00, 2024-03-22T00:00:00+00:00)"
    assert not counts.passed and count_mismatch_sessions(counts) == [GONE]


@pytest.mark.parametrize(
    ("check_file", "placeholder", "written", "window", "table"),
    [
        (
            "histories/checks/check_histories_sessions_duplicates.sql",
            "scoped_rows",
            "histories/checks/select_histories_sessions_of_written_grains.sql",
            "histories/checks/select_histories_sessions_of_window_days.sql",
            "histories_sessions",
        ),
        (
            "histories/checks/check_conversation_summaries_duplicates.sql",
            "scoped_rows",
            "histories/checks/select_conversation_summaries_of_written_grains.sql",
            "histories/checks/select_conversation_summaries_overlapping_window.sql",
            "conversation_summaries",
        ),
    ],
)
def test_duplicates_of_a_written_grain_are_found_whatever_the_copies_stamps(
    db, db_session, postgres, check_file, placeholder, written, window, table
) -> None:
    """A run cannot write a duplicate grain (its merge needs the key, and fails without it: see the test
    above), so the written scope's SQL is run here directly, on a table without its key."""
    tick_day_crew(db)
    run_with_checks(postgres, "2024-03-20", TICK_DAY)
    since = db.execute("select clock_timestamp()").fetchone()[0]
    db.execute(f"alter table analytics.{table} drop constraint {table}_pkey")
    db.execute(f"insert into analytics.{table} select * from analytics.{table} where session_id = %s", (BEGUN,))
    params = {
        "written_since": since,
        "sample_limit": 5,
        "window_start": utc(2024, 3, 21),
        "window_end": utc(2024, 3, 22),
        "first_day": datetime(2024, 3, 21).date(),
        "end_day": datetime(2024, 3, 22).date(),
    }

    def violations(fragment: str) -> int:
        statement = db_session.sql(check_file, **{placeholder: db_session.sql(fragment)})
        return db.execute(statement, params).fetchone()[1]

    # Both copies predate `since`: no run since wrote the grain; the window holds it.
    assert (violations(written), violations(window)) == (0, 1)
    # A run stamps one copy (as a merge does when it changes a row): both copies are found.
    db.execute(
        f"update analytics.{table} set updated_at = now() where ctid = (select min(ctid) from analytics.{table} where session_id = %s)",
        (BEGUN,),
    )
    assert violations(written) == 1
