"""A crew whose histories table has no created_at but an integer id (n8n's own table, as its class creates it):
discovered by id, each message dated when a run first saw it, the same at every later run, and read again without a
double count when its ids restart (TRUNCATE ... RESTART IDENTITY). The table is never altered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import dagster as dg
import psycopg
import pytest

from convo_pipelines.defs.histories.assets import histories_assets
from convo_pipelines.defs.histories.schedules import discovery_tick_run_config
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines_tests.helpers import utc_day_ahead
from convo_pipelines_tests.histories_data import (
    IdSightings,
    Scenario,
    actual_sessions,
    actual_summaries,
    create_client,
    create_crew,
    n8n,
    oracle_sessions,
    oracle_summaries,
)

CREW = "acme_n8n"
TABLE = "n8n_chat_histories"
# What LangChain JS's PostgresChatMessageHistory (n8n's Postgres Chat Memory) creates: no created_at, no index but the key.
N8N_TABLE = (
    "create table public.n8n_chat_histories "
    "(id serial primary key, session_id varchar(255) not null, message jsonb not null)"
)


def run(postgres: PostgresResource, crew: IdDatedCrew, tick: bool = False) -> dg.ExecuteInProcessResult:
    """A discovery run of the test's day: a tick's (only new messages) or a full one, bracketed by the crew's clock."""
    with crew.sightings.run():
        result = dg.materialize(
            histories_assets,
            resources={"postgres": postgres},
            partition_key=crew.day.isoformat(),
            run_config=discovery_tick_run_config() if tick else None,
        )
    assert result.success
    return result


def write(db: psycopg.Connection, crew: IdDatedCrew, rows: list[tuple[str, dict]]) -> None:
    """Insert the rows one by one, recording the ids the table gave them."""
    crew.sightings.wrote(
        [
            db.execute(
                "insert into public.n8n_chat_histories (session_id, message) values (%s, %s) returning id", row
            ).fetchone()[0]
            for row in rows
        ]
    )


def conversation(session_id: str, turns: int) -> list[tuple[str, dict]]:
    rows = []
    for turn in range(turns):
        rows += [(session_id, n8n("human", f"question {turn}")), (session_id, n8n("ai", f"answer {turn}"))]
    return [(session_id, psycopg.types.json.Jsonb(message)) for session_id, message in rows]


def ranges(db: psycopg.Connection) -> list[tuple[int, int, datetime]]:
    return db.execute(
        "select from_id, to_id, seen_at from analytics.histories_id_ranges where crew_code = %s order by from_id",
        (CREW,),
    ).fetchall()


def table_definition(db: psycopg.Connection) -> list[tuple]:
    """The agents' table as the catalog has it: its columns, indexes and triggers."""
    return db.execute(
        "select (select array_agg(attname::text order by attnum) from pg_attribute "
        "where attrelid = 'public.n8n_chat_histories'::regclass and attnum > 0 and not attisdropped), "
        "(select count(*) from pg_index where indrelid = 'public.n8n_chat_histories'::regclass), "
        "(select count(*) from pg_trigger where tgrelid = 'public.n8n_chat_histories'::regclass)"
    ).fetchall()


@dataclass
class IdDatedCrew:
    scenario: Scenario
    sightings: IdSightings
    day: date  # the UTC day every run of the test falls on, so its partition


@pytest.fixture
def n8n_crew(db: psycopg.Connection) -> IdDatedCrew:
    create_client(db, "acme")
    db.execute(N8N_TABLE)
    create_crew(db, CREW, "acme", TABLE)
    return IdDatedCrew(Scenario(good={CREW: TABLE}, clients={CREW: "acme"}), IdSightings(db, CREW), utc_day_ahead(db))


def assert_equals_oracle(db: psycopg.Connection, crew: IdDatedCrew) -> None:
    sightings = crew.sightings
    assert sightings.snapped_sessions(actual_sessions(db)) == oracle_sessions(db, crew.scenario, dated_by_id=sightings)
    assert sightings.snapped_summaries(actual_summaries(db)) == oracle_summaries(
        db, crew.scenario, dated_by_id=sightings
    )


def test_first_discovery_dates_the_existing_messages_when_it_saw_them_and_reruns_agree(db, postgres, n8n_crew) -> None:
    write(db, n8n_crew, conversation("s-1", 3) + conversation("s-2", 1))
    before = table_definition(db)
    result = run(postgres, n8n_crew)
    [(first_id, last_id, seen_at)] = ranges(db)
    # The eight ids the test wrote, seen by that run.
    assert (first_id, last_id) == (1, 8) and n8n_crew.sightings.run_of(seen_at) == 0
    assert_equals_oracle(db, n8n_crew)
    summaries = {row[1]: row for row in actual_summaries(db)}
    # Every message already there at the first discovery: one moment, the first discovery's, to one tick.
    assert summaries["s-1"][3:8] == (6, 3, 3, seen_at, seen_at)
    assert summaries["s-2"][3:8] == (2, 1, 1, seen_at, seen_at)
    events = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    crews = events["histories_sessions"].materialization.metadata["crews"].value
    assert crews[0]["ids_recorded"] == 8 and crews[0]["ok"]

    # A re-run (full, then a tick) changes nothing: the times are kept in the project's own table.
    stored = (actual_sessions(db), actual_summaries(db))
    run(postgres, n8n_crew)
    run(postgres, n8n_crew, tick=True)
    assert (actual_sessions(db), actual_summaries(db)) == stored
    assert ranges(db) == [(1, 8, seen_at)]
    # The agents' table was read by its id, never altered, indexed or given a trigger.
    assert table_definition(db) == before


def test_a_tick_dates_new_messages_by_the_tick_that_saw_them(db, postgres, n8n_crew) -> None:
    write(db, n8n_crew, conversation("s-1", 1))
    run(postgres, n8n_crew)
    write(db, n8n_crew, conversation("s-1", 2) + conversation("s-3", 1))
    result = run(postgres, n8n_crew, tick=True)
    (first_from, first_to, first_seen), (from_id, to_id, second_seen) = ranges(db)
    assert (first_from, first_to, from_id, to_id) == (1, 2, 3, 8)
    assert [n8n_crew.sightings.run_of(first_seen), n8n_crew.sightings.run_of(second_seen)] == [0, 1]
    assert_equals_oracle(db, n8n_crew)
    summaries = {row[1]: row for row in actual_summaries(db)}
    assert summaries["s-1"][3:8] == (6, 3, 3, first_seen, second_seen)
    assert summaries["s-3"][3:8] == (2, 1, 1, second_seen, second_seen)
    metadata = {
        e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    assert metadata["histories_sessions"]["mode"].value == "incremental"


@pytest.mark.parametrize("rows_after", [2, 12], ids=["fewer_ids", "more_ids"])
def test_ids_restarted_by_truncate_are_read_again_never_counted_twice(db, postgres, n8n_crew, rows_after) -> None:
    write(db, n8n_crew, conversation("old-1", 2) + conversation("old-2", 1))
    run(postgres, n8n_crew)
    db.execute("truncate public.n8n_chat_histories restart identity")
    n8n_crew.sightings.emptied()
    # Ids from 1 again: fewer than before (max(id) below the newest range) or more (only the sequence tells).
    write(db, n8n_crew, conversation("new-1", rows_after // 2))
    result = run(postgres, n8n_crew, tick=True)
    [(from_id, to_id, seen_at)] = ranges(db)
    assert (from_id, to_id) == (1, rows_after) and n8n_crew.sightings.run_of(seen_at) == 1
    crews = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    assert crews["histories_sessions"].materialization.metadata["crews"].value[0]["ids_restarted"] == 1
    summaries = {row[1]: row for row in actual_summaries(db)}
    # The new session once, with its own messages only, dated when they were seen.
    assert summaries["new-1"][3:8] == (rows_after, rows_after // 2, rows_after // 2, seen_at, seen_at)
    # The truncated sessions are deleted messages: the next full run (the first tick after midnight, a backfill) removes them.
    run(postgres, n8n_crew)
    assert_equals_oracle(db, n8n_crew)
    assert {row[1] for row in actual_summaries(db)} == {"new-1"}


def test_a_rewritten_table_keeps_its_ids_and_times(db, postgres, n8n_crew) -> None:
    write(db, n8n_crew, conversation("s-1", 2))
    run(postgres, n8n_crew)
    [(first_from, first_to, first_seen)] = ranges(db)
    assert (first_from, first_to) == (1, 4) and n8n_crew.sightings.run_of(first_seen) == 0
    db.execute("vacuum full public.n8n_chat_histories")
    db.execute("truncate public.n8n_chat_histories")  # no RESTART IDENTITY: the ids go on
    n8n_crew.sightings.emptied()
    write(db, n8n_crew, conversation("s-1", 1)[:1])
    run(postgres, n8n_crew, tick=True)
    (first, last, kept_seen), (from_id, to_id, seen_at) = ranges(db)
    # The first range is kept as it was; the new id, the fifth the table gave, is the tick's.
    assert (first, last, kept_seen, from_id, to_id) == (1, 4, first_seen, 5, 5)
    assert n8n_crew.sightings.run_of(seen_at) == 1
    run(postgres, n8n_crew)
    assert_equals_oracle(db, n8n_crew)


def test_a_table_recorded_now_is_seen_by_a_later_tick_of_the_day(db, postgres, n8n_crew) -> None:
    # Nothing at the first run: no range; the first messages then reach a tick.
    run(postgres, n8n_crew)
    assert ranges(db) == []
    write(db, n8n_crew, conversation("s-1", 1))
    run(postgres, n8n_crew, tick=True)
    [(from_id, to_id, seen_at)] = ranges(db)
    assert (from_id, to_id) == (1, 2) and n8n_crew.sightings.run_of(seen_at) == 1
    assert_equals_oracle(db, n8n_crew)
