"""The discovery sensor: each tick probes every crew's table once (its id or created_at index), and requests ONE
only-new-messages run of exactly the crews with a new row since its previous tick; that run, executed for real, brings
their sessions to histories_sessions and conversation_summaries and leaves every other crew as it was."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
import psycopg
import pytest

from convo_pipelines.defs.histories.sensors import conversation_discovery_sensor
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines_tests.helpers import definitions_bound_to, utc_day_ahead
from convo_pipelines_tests.histories_data import (
    HistoriesTableSpec,
    IdSightings,
    Scenario,
    actual_summaries,
    create_client,
    create_crew,
    create_histories_table,
    insert_messages,
    langchain,
    n8n,
    oracle_summaries,
)

N8N_CREW, N8N_TABLE = "acme_n8n", "n8n_chat_histories"
LANGCHAIN_CREW, LANGCHAIN_TABLE = "acme_langchain", "acme_langchain_histories"


@pytest.fixture
def crews(db: psycopg.Connection) -> Scenario:
    create_client(db, "acme")
    db.execute(
        "create table public.n8n_chat_histories "
        "(id serial primary key, session_id varchar(255) not null, message jsonb not null)"
    )
    create_histories_table(db, HistoriesTableSpec(LANGCHAIN_TABLE))
    create_crew(db, N8N_CREW, "acme", N8N_TABLE)
    create_crew(db, LANGCHAIN_CREW, "acme", LANGCHAIN_TABLE)
    create_crew(db, "ghost", "acme", "no_such_histories")  # a bad crew: never probed, never in the way
    return Scenario(
        good={N8N_CREW: N8N_TABLE, LANGCHAIN_CREW: LANGCHAIN_TABLE},
        clients=dict.fromkeys(["acme_n8n", "acme_langchain"], "acme"),
    )


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def tick(postgres: PostgresResource, instance: dg.DagsterInstance, cursor: str | None):
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"postgres": postgres}, definitions=definitions_bound_to(postgres)
    ) as context:
        return conversation_discovery_sensor.evaluate_tick(context)


@pytest.fixture
def n8n_ids(db: psycopg.Connection) -> IdSightings:
    """The n8n crew's ids as the test writes them and its runs see them; the runs fall on one UTC day."""
    utc_day_ahead(db)
    return IdSightings(db, N8N_CREW)


def write_n8n(db: psycopg.Connection, n8n_ids: IdSightings, session_id: str, *texts: tuple[str, str]) -> None:
    n8n_ids.wrote(
        [
            db.execute(
                "insert into public.n8n_chat_histories (session_id, message) values (%s, %s) returning id",
                (session_id, psycopg.types.json.Jsonb(n8n(kind, text))),
            ).fetchone()[0]
            for kind, text in texts
        ]
    )


def execute(
    postgres: PostgresResource, instance: dg.DagsterInstance, n8n_ids: IdSightings, request: dg.RunRequest
) -> None:
    job = definitions_bound_to(postgres).resolve_job_def("conversation_discovery_job")
    with n8n_ids.run():
        result = job.execute_in_process(tags=request.tags, run_config=request.run_config, instance=instance)
    assert result.success
    failed = [
        e for e in result.get_asset_check_evaluations() if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    # The only failing check is histories_tables_valid naming the bad crew.
    assert {(e.check_name, tuple(e.metadata["bad_crews"].value)) for e in failed} <= {
        ("histories_tables_valid", ("ghost",))
    }


def summaries_of(db: psycopg.Connection, n8n_ids: IdSightings, crew: str) -> set[tuple]:
    """The crew's summaries, the n8n crew's times snapped to the runs that saw them (IdSightings)."""
    return {row for row in n8n_ids.snapped_summaries(actual_summaries(db)) if row[0] == crew}


def test_a_tick_requests_one_run_of_exactly_the_crews_with_new_rows(db, postgres, crews, instance, n8n_ids) -> None:
    now = datetime.now(UTC)
    insert_messages(db, LANGCHAIN_TABLE, [("11111111-1111-1111-1111-111111111111", now, langchain("human", "hi"))])
    first = tick(postgres, instance, None)
    assert not first.run_requests and first.cursor
    assert set(json.loads(first.cursor)) == {N8N_CREW, LANGCHAIN_CREW}
    assert tick(postgres, instance, first.cursor).run_requests == []

    write_n8n(db, n8n_ids, "chat-1", ("human", "Where is my parcel?"), ("ai", "On its way."))
    second = tick(postgres, instance, first.cursor)
    [request] = second.run_requests
    config = request.run_config["ops"]["histories_sessions"]["config"]
    assert config["only_crews"] == [N8N_CREW]
    # The same change always asks for the same run.
    assert tick(postgres, instance, first.cursor).run_requests[0].run_key == request.run_key

    execute(postgres, instance, n8n_ids, request)
    expected = oracle_summaries(db, crews, dated_by_id=n8n_ids)
    assert summaries_of(db, n8n_ids, N8N_CREW) == {row for row in expected if row[0] == N8N_CREW}
    assert {row[1] for row in summaries_of(db, n8n_ids, N8N_CREW)} == {"chat-1"}
    # The other crew's row was written before the first tick: only a run of that crew (the schedule's) reads it.
    assert summaries_of(db, n8n_ids, LANGCHAIN_CREW) == set()

    # Nothing new: nothing requested. A row of the other crew: a run of that crew alone.
    assert tick(postgres, instance, second.cursor).run_requests == []
    insert_messages(db, LANGCHAIN_TABLE, [("11111111-1111-1111-1111-111111111111", now, langchain("ai", "hello"))])
    third = tick(postgres, instance, second.cursor)
    [request] = third.run_requests
    assert request.run_config["ops"]["conversation_summaries"]["config"]["only_crews"] == [LANGCHAIN_CREW]
    execute(postgres, instance, n8n_ids, request)
    assert n8n_ids.snapped_summaries(actual_summaries(db)) == oracle_summaries(db, crews, dated_by_id=n8n_ids)
