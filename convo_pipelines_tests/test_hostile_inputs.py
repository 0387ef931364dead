"""Hostile inputs to the histories pipeline, one row of CASES per case (hostile_cases.py, arranged by
hostile_crews.py): crews' table names, the crews and clients rows, and the rows of the histories tables
(messages, NULLs, timestamps, duplicates).

Every case is one crew of the same database, discovered by one full run (with the checks) and then
one discovery tick, as in production where one run covers every crew. The runs go in a process of
their own whose partitions start two days ago, so their cost does not grow with the date
(hostile_discovery.py says how). Each case asserts its
documented outcome: a bad crew with its reason, a row skipped with its reason, a message counted as
malformed, or written; and that no source relation changed (content and catalog hashed before and
after the runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.helpers import fresh_database
from convo_pipelines_tests.histories_data import create_client
from convo_pipelines_tests.hostile_cases import BAD_CREW, BAD_CREWS, CASES, MALFORMED, SKIPPED, TODAY, WRITTEN, Case
from convo_pipelines_tests.hostile_crews import CLIENT
from convo_pipelines_tests.hostile_discovery import (
    CheckOutcome,
    RunOutcome,
    run_full_discovery_then_tick,
    source_fingerprint,
)


@dataclass
class Discovery:
    db: psycopg.Connection
    tables: dict[str, list[str]]  # case code -> source relations it created
    before: dict[str, str]
    after_full: dict[str, str]
    after_tick: dict[str, str]
    full: RunOutcome
    tick: RunOutcome


@pytest.fixture(scope="module")
def discovery(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Discovery]:
    with (
        fresh_database(server_url, "convo_hostile", template=template_database) as url,
        connect(url, autocommit=True) as db,
    ):
        create_client(db, CLIENT)
        tables = {case.code: case.arrange(db, case.code) for case in CASES}
        before = source_fingerprint(db)
        runs = run_full_discovery_then_tick(url, TODAY, tmp_path_factory.mktemp("hostile"))
        yield Discovery(db, tables, before, runs.after_full, runs.after_tick, runs.full, runs.tick)


def metadata_of(result: RunOutcome, asset: str) -> dict[str, object]:
    return result.materializations[asset]


def crew_rows(result: RunOutcome, asset: str) -> dict[str, dict]:
    return {row["crew"]: row for row in metadata_of(result, asset)["crews"]}


def evaluation(result: RunOutcome, asset: str, check: str) -> CheckOutcome:
    return result.checks[f"{asset}.{check}"]


def test_the_cases_cover_every_kind_of_input_and_outcome() -> None:
    assert len(CASES) >= 30 and len({case.code for case in CASES}) == len(CASES)
    assert {case.outcome for case in CASES} == {BAD_CREW, SKIPPED, MALFORMED, WRITTEN}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input(discovery: Discovery, case: Case) -> None:
    assert discovery.full.success and discovery.tick.success
    db = discovery.db
    for asset in ("histories_sessions", "conversation_summaries"):
        row = crew_rows(discovery.full, asset)[case.code]
        if case.outcome == BAD_CREW:
            assert not row["ok"] and case.reason in row["reason"], row
            assert case.reason in metadata_of(discovery.full, asset)["skipped_crews"][case.code]
        else:
            assert row["ok"], row
    if case.outcome == BAD_CREW:
        # Named by the failing check, and nothing of the crew is written.
        assert (
            case.reason
            in evaluation(discovery.full, "histories_sessions", "histories_tables_valid").metadata["bad_crews"][
                case.code
            ]
        )
        assert (
            db.execute(
                "select count(*) from analytics.histories_sessions where crew_code = %s", (case.code,)
            ).fetchone()[0]
            == 0
        )
    else:
        days = db.execute(
            "select coalesce(sum(message_count), 0), coalesce(sum(human_message_count), 0), coalesce(sum(ai_message_count), 0), "
            "coalesce(sum(malformed_message_count), 0) from analytics.histories_sessions where crew_code = %s",
            (case.code,),
        ).fetchone()
        assert tuple(days) == case.totals
        summaries = db.execute(
            "select coalesce(sum(message_count), 0), coalesce(sum(human_message_count), 0), coalesce(sum(ai_message_count), 0) "
            "from analytics.conversation_summaries where crew_code = %s",
            (case.code,),
        ).fetchone()
        assert tuple(summaries) == case.totals[:3]
        assert crew_rows(discovery.full, "histories_sessions")[case.code]["skipped_rows"] == case.skipped
        assert metadata_of(discovery.full, "histories_sessions")["skipped_rows"].get(case.code, {}) == case.skipped
    if case.verify is not None:
        case.verify(db, case.code)
    # The source is exactly as before: the case's own relations, the crews and clients, and the catalog.
    for relation in [
        *(f"public.{table}" for table in discovery.tables[case.code]),
        "public.crews",
        "public.clients",
        "public.people",
        "catalog",
    ]:
        assert discovery.after_full[relation] == discovery.before[relation], relation
        assert discovery.after_tick[relation] == discovery.before[relation], relation


def test_no_source_relation_changed(discovery: Discovery) -> None:
    assert discovery.after_full == discovery.before
    assert discovery.after_tick == discovery.before


def test_checks_name_every_skipped_crew_and_summaries_agree_with_their_days(discovery: Discovery) -> None:
    valid = evaluation(discovery.full, "histories_sessions", "histories_tables_valid")
    assert not valid.passed and set(valid.metadata["bad_crews"]) == BAD_CREWS
    # Found only at query time, not in the catalog: known to the check through the run's metadata.
    assert "name_unpopulated_materialized_view" in valid.metadata["skipped_by_latest_discovery"]
    assert valid.metadata["skipped_rows_by_latest_discovery"]["null_created_at"] == {"null_created_at": 2}
    fresh = evaluation(discovery.full, "histories_sessions", "discovery_fresh")
    assert not fresh.passed and set(fresh.metadata["crews_not_discovered"]) == BAD_CREWS
    for result in (discovery.full, discovery.tick):
        assert evaluation(result, "conversation_summaries", "counts_match_histories_sessions").passed
        assert evaluation(result, "histories_sessions", "no_duplicate_grains").passed
        assert evaluation(result, "conversation_summaries", "no_duplicate_grains").passed


def test_a_tick_counts_the_new_rows_it_skips_and_rewrites_nothing(discovery: Discovery) -> None:
    sessions = crew_rows(discovery.tick, "histories_sessions")
    today = sessions["today_rows_read_by_a_tick"]
    assert today["mode"] == "incremental"
    assert today["skipped_rows"] == {"invalid_json": 1, "null_session_id": 1}
    assert (today["rows_inserted"], today["rows_updated"], today["rows_deleted"]) == (0, 0, 0)
    # A crew with no row today is recomputed fully over today, which counts its rows dated in no day again.
    assert sessions["null_created_at"]["mode"] == "full" and sessions["null_created_at"]["skipped_rows"] == {
        "null_created_at": 2
    }
    for asset in ("histories_sessions", "conversation_summaries"):
        meta = metadata_of(discovery.tick, asset)
        assert (meta["rows_inserted_in_window"], meta["rows_updated_in_window"], meta["rows_deleted_in_window"]) == (
            0,
            0,
            0,
        )
        assert set(meta["skipped_crews"]) == BAD_CREWS
