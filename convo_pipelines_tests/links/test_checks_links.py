"""The link-table checks through real Dagster runs on a real PostgreSQL: they pass on tables the
assets built, and each one FAILS, with counts and samples, on a table corrupted on purpose."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from convo_pipelines.defs.checks import GUARANTEES_METADATA
from convo_pipelines.defs.links.change_fingerprints import change_fingerprints_query
from convo_pipelines.defs.links.checks import CONSTRAINTS_IN_FORCE, SAMPLE_CONVERSATIONS, link_checks
from convo_pipelines.defs.links.jobs import link_assets
from convo_pipelines.defs.links.tables import FRONT_LINK_TABLES
from convo_pipelines.defs.partitions import daily_partitions, partition_range_tags
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines_tests.helpers import pipeline_sessions_left_open, sessions_started
from convo_pipelines_tests.source_data import (
    SourceData,
    build_source_data,
    expected_array_inconsistencies,
)

SCHEMA = "public"
FRONT_TABLES = ("people_front_conversations", "clients_front_conversations")
OWNER = {"people_front_conversations": ("person_id", "people"), "clients_front_conversations": ("client_id", "clients")}
UNIQUE_PAIR = {
    "people_front_conversations": "people_front_conversations_conversation_person_key",
    "clients_front_conversations": "clients_front_conversations_conversation_client_key",
}
UTC = UTC
WARN_CHECKS = {"array_consistency", "late_change_indexes"}
# How Dagster fails the step of a table's checks when blocking ones among them fail with ERROR.
BLOCKING_FAILURE = re.compile(r"\d+ blocking asset checks? failed with ERROR severity")
CHANGE_WATCHED_TABLES = (
    "contact_methods",
    "conversations",
    "front_conversations",
    "front_message_recipients",
    "front_messages",
    "people",
    "projects",
)

assets_by_name = {asset.key.to_user_string(): asset for asset in link_assets}
front_assets = [assets_by_name[name] for name in FRONT_TABLES]
project_asset = assets_by_name["project_conversations"]


def checks_of(*tables: str) -> list[dg.AssetChecksDefinition]:
    """The check definitions of `tables`: each holds the checks of one table (one step per table)."""
    return [
        check for check in link_checks if {key.asset_key.to_user_string() for key in check.check_keys} <= set(tables)
    ]


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


# Every Front conversation of the dataset is in these partitions (the first one also takes those created
# before PARTITIONS_START_DATE). A range up to today would cost Dagster ~1,000 partitions of events per run.
DATA_RANGE = ("2024-01-01", "2024-01-15")
DATA_RANGE_SCOPE = "conversations created in [-infinity, 2024-01-16T00:00:00+00:00)"


def materialize_links(postgres: PostgresResource) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """Build all three link tables (the Front ones over the data's partitions as one run) with their checks."""
    front = dg.materialize(
        [*front_assets, *checks_of(*FRONT_TABLES)],
        resources={"postgres": postgres},
        tags=partition_range_tags(*DATA_RANGE),
    )
    project = dg.materialize([project_asset, *checks_of("project_conversations")], resources={"postgres": postgres})
    assert front.success and project.success
    return {**evaluations(front), **evaluations(project)}


def run_checks_alone(postgres: PostgresResource, *tables: str) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """Run only the checks of `tables` (no asset step, so a corrupted table stays corrupted)."""
    result = dg.materialize(
        [*link_assets, *link_checks],
        selection=dg.AssetSelection.checks_for_assets(*tables),
        resources={"postgres": postgres},
        raise_on_error=False,
    )
    # A failing blocking check (people_front_conversations') fails its step, and so the run; nothing else may.
    failures = [event.event_specific_data.error.message for event in result.all_events if event.is_step_failure]
    assert all(BLOCKING_FAILURE.search(failure) for failure in failures), failures
    found = evaluations(result)
    assert {table for table, _ in found} == set(tables)
    return found


def exactness_statement(session: Session, sampled: bool = False, excusing: bool = True) -> sql.Composed:
    """The people links' exactness SQL over every conversation of its window, or over a sample of them; with
    `excusing` False, as the check's first statement after a run, which excuses no difference."""
    scope = "scope_sampled_front_conversations" if sampled else "scope_window_front_conversations"
    unsettled = "select_unsettled_front_conversations" if excusing else "excuse_no_front_conversations"
    return session.sql(
        "links/checks/check_front_links_exactness.sql",
        link_table="people_front_conversations",
        owner_column="person_id",
        expected=session.sql("links/checks/select_expected_people_links.sql"),
        scoped_conversations=session.sql(f"links/checks/{scope}.sql"),
        unsettled=session.sql(f"links/checks/{unsettled}.sql"),
    )


def count(evaluation: dg.AssetCheckEvaluation, problem: str) -> int:
    return evaluation.metadata[f"{problem}_count"].value


def samples(evaluation: dg.AssetCheckEvaluation, problem: str) -> list[dict]:
    return evaluation.metadata[f"{problem}_samples"].value


def execute(db: psycopg.Connection, statement: str, *identifiers: str, params: tuple = ()) -> psycopg.Cursor:
    """Run test-arrangement SQL with identifiers quoted ({} placeholders) and values bound."""
    return db.execute(sql.SQL(statement).format(*map(sql.Identifier, identifiers)), params)


def fix_project_arrays(db: psycopg.Connection) -> None:
    """Make every projects.conversation_ids agree with conversations.project_id (test arrangement)."""
    db.execute(
        "update public.projects as p set conversation_ids = coalesce("
        "(select array_agg(c.id order by c.id) from public.conversations as c where c.project_id = p.id), '{}')"
    )


@pytest.fixture
def source(db: psycopg.Connection) -> SourceData:
    return build_source_data(db, SCHEMA)


@pytest.fixture
def built(postgres: PostgresResource, source: SourceData) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return materialize_links(postgres)


def test_every_link_check_passes_on_tables_the_assets_built(built, postgres, db):
    link_results = {key: e for key, e in built.items() if key[1] not in WARN_CHECKS}
    assert len(link_results) == 9
    for key, evaluation in link_results.items():
        assert evaluation.passed, (key, evaluation.metadata)
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert evaluation.metadata["violations"].value == 0
        expected_scope = "whole table" if key[0] == "project_conversations" else DATA_RANGE_SCOPE
        if key[1] == "matches_source":
            expected_scope = f"a random sample of up to {SAMPLE_CONVERSATIONS:,} conversations ({expected_scope})"
        elif key[0] != "project_conversations":
            # The duplicate and orphan checks report what the constraints the run found in force rule out.
            expected_scope = CONSTRAINTS_IN_FORCE
            assert evaluation.metadata["sql_seconds"].value == 0.0
        assert evaluation.metadata["scope"].value == expected_scope
    # Launched alone (no partition), the checks cover the whole table and still pass.
    fix_project_arrays(db)
    alone = {
        key: e
        for key, e in run_checks_alone(postgres, *FRONT_TABLES, "project_conversations").items()
        if key[1] != "late_change_indexes"
    }
    assert len(alone) == 10 and all(e.passed for e in alone.values()), {
        k: e.metadata for k, e in alone.items() if not e.passed
    }
    assert {e.metadata["scope"].value for e in alone.values()} == {"whole table"}


def test_only_the_checks_of_the_people_links_are_blocking():
    # clients_front_conversations is computed from people_front_conversations; nothing from the others.
    specs = [spec for check in link_checks for spec in check.check_specs]
    assert len(specs) == 11
    for spec in specs:
        assert spec.blocking is (
            spec.asset_key.to_user_string() == "people_front_conversations" and spec.name not in WARN_CHECKS
        )


def test_one_check_launched_alone_runs_alone_in_the_step_of_its_tables_checks(built, postgres):
    """A table's checks share a step, yet a check launched alone (the UI's "Execute" on it) runs alone."""
    key = dg.AssetCheckKey(dg.AssetKey("people_front_conversations"), "no_orphans")
    result = dg.materialize(
        [*link_assets, *link_checks], selection=dg.AssetSelection.checks(key), resources={"postgres": postgres}
    )
    found = evaluations(result)
    assert list(found) == [("people_front_conversations", "no_orphans")]
    assert found[("people_front_conversations", "no_orphans")].passed
    assert found[("people_front_conversations", "no_orphans")].metadata["scope"].value == "whole table"
    assert {event.step_key for event in result.all_events if event.is_step_success} == {
        "people_front_conversations_checks"
    }


@pytest.mark.parametrize("table", FRONT_TABLES)
def test_duplicate_pairs_fail(table, built, postgres, db):
    owner_column, _ = OWNER[table]
    execute(db, "alter table public.{} drop constraint {}", table, UNIQUE_PAIR[table])
    pair = execute(
        db,
        "select {}, front_conversation_id, front_conversation_created_at from public.{} order by 1, 2 limit 1",
        owner_column,
        table,
    ).fetchone()
    execute(
        db,
        "insert into public.{} ({}, front_conversation_id, front_conversation_created_at) values (%s, %s, %s)",
        table,
        owner_column,
        params=pair,
    )

    result = run_checks_alone(postgres, table)[(table, "no_duplicate_pairs")]
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.ERROR
    assert count(result, "duplicate_pairs") == 1
    sample = samples(result, "duplicate_pairs")[0]
    assert (sample[owner_column], sample["front_conversation_id"], sample["copies"]) == (str(pair[0]), str(pair[1]), 2)


def test_duplicate_project_link_fails(built, postgres, db):
    for constraint in ("project_conversations_conversation_key", "project_conversations_project_conversation_key"):
        execute(db, "alter table public.project_conversations drop constraint {}", constraint)
    project_id, conversation_id = db.execute(
        "select project_id, conversation_id from public.project_conversations order by 2 limit 1"
    ).fetchone()
    db.execute(
        "insert into public.project_conversations (project_id, conversation_id) values (%s, %s)",
        (project_id, conversation_id),
    )

    result = run_checks_alone(postgres, "project_conversations")[("project_conversations", "no_duplicate_pairs")]
    assert not result.passed
    assert count(result, "duplicate_conversations") == 1
    assert samples(result, "duplicate_conversations") == [
        {"conversation_id": str(conversation_id), "copies": 2, "projects": 1}
    ]


@pytest.mark.parametrize("table", FRONT_TABLES)
def test_orphan_links_fail(table, built, postgres, db):
    owner_column, _ = OWNER[table]
    for fk in (f"{table}_{owner_column}_fkey", f"{table}_front_conversation_id_fkey"):
        execute(db, "alter table public.{} drop constraint {}", table, fk)
    first, second = execute(db, "select id from public.{} order by id limit 2", table).fetchall()
    ghost_owner, ghost_conversation = uuid.uuid4(), uuid.uuid4()
    execute(db, "update public.{} set {} = %s where id = %s", table, owner_column, params=(ghost_owner, first[0]))
    execute(
        db,
        "update public.{} set front_conversation_id = %s where id = %s",
        table,
        params=(ghost_conversation, second[0]),
    )

    results = run_checks_alone(postgres, table)
    orphans = results[(table, "no_orphans")]
    owner_kind = "person" if owner_column == "person_id" else "client"
    assert not orphans.passed
    assert count(orphans, f"missing_{owner_kind}") == 1
    assert count(orphans, "missing_front_conversation") == 1
    assert samples(orphans, f"missing_{owner_kind}")[0][owner_column] == str(ghost_owner)
    assert samples(orphans, "missing_front_conversation")[0]["front_conversation_id"] == str(ghost_conversation)
    # The rewritten links are also no longer what the source defines.
    assert not results[(table, "matches_source")].passed


def test_orphan_project_links_fail(built, postgres, db):
    for fk in ("project_id", "conversation_id", "added_by"):
        execute(db, "alter table public.project_conversations drop constraint {}", f"project_conversations_{fk}_fkey")
    rows = db.execute(
        "select id from public.project_conversations where added_by is not null order by id limit 3"
    ).fetchall()
    ghosts = {column: uuid.uuid4() for column in ("project_id", "conversation_id", "added_by")}
    for (row_id,), (column, ghost) in zip(rows, ghosts.items(), strict=False):
        execute(db, "update public.project_conversations set {} = %s where id = %s", column, params=(ghost, row_id))

    orphans = run_checks_alone(postgres, "project_conversations")[("project_conversations", "no_orphans")]
    assert not orphans.passed
    for problem, column in (
        ("missing_project", "project_id"),
        ("missing_conversation", "conversation_id"),
        ("missing_added_by_user", "added_by"),
    ):
        assert count(orphans, problem) == 1, problem
        assert samples(orphans, problem)[0][column] == str(ghosts[column])


@pytest.mark.parametrize("table", FRONT_TABLES)
def test_missing_and_extra_links_fail_exactness(table, built, postgres, db, source):
    owner_column, owner_table = OWNER[table]
    removed = execute(
        db,
        "delete from public.{} where id = (select min(id::text)::uuid from public.{}) returning {}, front_conversation_id",
        table,
        table,
        owner_column,
    ).fetchone()
    # An existing owner and conversation that are not linked by any recipient.
    extra = execute(
        db,
        "select o.id, fc.id, fc.created_at from public.{} as o cross join public.front_conversations as fc "
        "where not exists (select from public.{} as l where l.{} = o.id and l.front_conversation_id = fc.id) "
        "and fc.id = %s order by o.id limit 1",
        owner_table,
        table,
        owner_column,
        params=(source.front_conversation_without_messages,),
    ).fetchone()
    execute(
        db,
        "insert into public.{} ({}, front_conversation_id, front_conversation_created_at) values (%s, %s, %s)",
        table,
        owner_column,
        params=extra,
    )

    exactness = run_checks_alone(postgres, table)[(table, "matches_source")]
    assert not exactness.passed
    assert exactness.severity == dg.AssetCheckSeverity.ERROR
    assert (count(exactness, "missing"), count(exactness, "extra")) == (1, 1)
    assert [pair_of(sample, owner_column) for sample in samples(exactness, "missing")] == [
        (str(removed[0]), str(removed[1]))
    ]
    assert [pair_of(sample, owner_column) for sample in samples(exactness, "extra")] == [(str(extra[0]), str(extra[1]))]


@pytest.mark.parametrize("table", FRONT_TABLES)
def test_a_stale_copy_of_the_conversations_created_at_fails_exactness(table, built, postgres, db):
    owner_column, _ = OWNER[table]
    stale = execute(
        db,
        "update public.{} set front_conversation_created_at = front_conversation_created_at - interval '1 day' "
        "where id = (select min(id::text)::uuid from public.{}) returning {}, front_conversation_id",
        table,
        table,
        owner_column,
    ).fetchone()

    exactness = run_checks_alone(postgres, table)[(table, "matches_source")]
    assert not exactness.passed
    assert (count(exactness, "missing"), count(exactness, "extra")) == (1, 1)
    assert pair_of(samples(exactness, "missing")[0], owner_column) == pair_of(
        samples(exactness, "extra")[0], owner_column
    )
    assert pair_of(samples(exactness, "extra")[0], owner_column) == (str(stale[0]), str(stale[1]))


def pair_of(sample: dict[str, str], owner_column: str) -> tuple[str, str]:
    """(owner, conversation) of an exactness sample, which also carries the conversation's created_at copy."""
    assert "front_conversation_created_at" in sample
    return sample[owner_column], sample["front_conversation_id"]


def test_project_links_exactness_reports_missing_extra_and_wrong_added_by(built, postgres, db, source):
    removed = db.execute(
        "delete from public.project_conversations where conversation_id = "
        "(select min(conversation_id::text)::uuid from public.project_conversations) returning project_id, conversation_id"
    ).fetchone()
    unassigned = source.conversations_without_project[0]
    db.execute(
        "insert into public.project_conversations (project_id, conversation_id) values (%s, %s)",
        (source.projects[0], unassigned),
    )
    wrong = db.execute(
        "update public.project_conversations set added_by = null where conversation_id = "
        "(select max(conversation_id::text)::uuid from public.project_conversations where added_by is not null) "
        "returning conversation_id"
    ).fetchone()[0]

    exactness = run_checks_alone(postgres, "project_conversations")[("project_conversations", "matches_source")]
    assert not exactness.passed
    assert (count(exactness, "missing"), count(exactness, "extra"), count(exactness, "wrong_added_by")) == (1, 1, 1)
    assert samples(exactness, "missing") == [{"project_id": str(removed[0]), "conversation_id": str(removed[1])}]
    assert samples(exactness, "extra") == [{"project_id": str(source.projects[0]), "conversation_id": str(unassigned)}]
    assert samples(exactness, "wrong_added_by")[0]["conversation_id"] == str(wrong)


def test_array_consistency_warns_with_the_stale_mismatched_and_missing_entries(built, postgres, db):
    expected = expected_array_inconsistencies(db, SCHEMA)
    assert all(expected.values()), "the dataset has every kind of drift"
    warning = built[("project_conversations", "array_consistency")]
    assert not warning.passed
    assert warning.severity == dg.AssetCheckSeverity.WARN
    for kind, entries in expected.items():
        assert count(warning, kind) == len(entries)
        sampled = {(uuid.UUID(s["project_id"]), uuid.UUID(s["conversation_id"])) for s in samples(warning, kind)}
        assert sampled <= entries and len(sampled) == min(5, len(entries))
    # After the run it reports what the run measured with the same SQL; launched alone it compares the arrays itself.
    assert warning.metadata["scope"].value == "as this run's materialization measured it"
    alone = run_checks_alone(postgres, "project_conversations")[("project_conversations", "array_consistency")]
    assert alone.metadata["scope"].value == "whole table" and not alone.passed
    assert {kind: count(alone, kind) for kind in expected} == {kind: len(entries) for kind, entries in expected.items()}

    fix_project_arrays(db)
    assert run_checks_alone(postgres, "project_conversations")[("project_conversations", "array_consistency")].passed


def test_front_checks_cover_only_the_run_window(built, postgres, db, source):
    """A partition run checks its day only; launched alone the same check sees the whole table."""
    day_9 = source.last_instant_of_jan_9  # created 2024-01-09 23:59:59.999999: day 9, not day 10
    db.execute("delete from public.people_front_conversations where front_conversation_id = %s", (day_9,))

    day_10 = dg.materialize(
        [*front_assets, *checks_of(*FRONT_TABLES)], resources={"postgres": postgres}, partition_key="2024-01-10"
    )
    in_window = evaluations(day_10)[("people_front_conversations", "matches_source")]
    assert in_window.passed
    assert in_window.metadata["scope"].value == (
        f"a random sample of up to {SAMPLE_CONVERSATIONS:,} conversations "
        "(conversations created in [2024-01-10T00:00:00+00:00, 2024-01-11T00:00:00+00:00))"
    )
    alone = run_checks_alone(postgres, "people_front_conversations")[("people_front_conversations", "matches_source")]
    assert not alone.passed and count(alone, "missing") >= 1
    assert {s["front_conversation_id"] for s in samples(alone, "missing")} == {str(day_9)}


def test_window_bounds_of_the_check_sql(built, postgres, db, db_session, source):
    """The check SQL scopes by created_at half-open; a null start is open (the first partition)."""
    db.execute(
        "delete from public.people_front_conversations where front_conversation_id = %s",
        (source.last_instant_of_jan_9,),
    )
    db.execute(
        "delete from public.people_front_conversations where front_conversation_id = %s",
        (source.before_partitions_start,),
    )

    def missing_in(start: datetime | None, end: datetime | None) -> int:
        statement = exactness_statement(db_session)
        rows = db.execute(
            statement, {"window_start": start, "window_end": end, "sample_limit": 5, "changed_since": None}
        ).fetchall()
        return {problem: violations for problem, violations, _ in rows}["missing"]

    removed_before_start = missing_in(None, None) - missing_in(datetime(2024, 1, 1, tzinfo=UTC), None)
    assert removed_before_start > 0  # the conversation created before the partitions' start had links
    assert missing_in(None, datetime(2024, 1, 1, tzinfo=UTC)) == removed_before_start
    assert missing_in(datetime(2024, 1, 9, tzinfo=UTC), datetime(2024, 1, 10, tzinfo=UTC)) > 0
    assert missing_in(datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 1, 11, tzinfo=UTC)) == 0


def test_a_difference_the_app_made_after_the_run_started_is_left_to_the_next_run(
    built, postgres, db, db_session, source
):
    """matches_source compares with the source as it is when the check runs: a recipient the app adds
    after the run started is not a failure of that run (the next run links it); one added before is."""
    person = source.people[2]
    contact_method = next(cm for cm, owner in source.contact_methods.items() if owner == person)
    conversation = db.execute(
        "select m.front_conversation_id from public.front_messages as m where m.front_conversation_id not in "
        "(select front_conversation_id from public.people_front_conversations where person_id = %s) order by m.id limit 1",
        (person,),
    ).fetchone()[0]
    now = db.execute("select now()").fetchone()[0]
    db.execute(
        "insert into public.front_message_recipients (front_message_id, contact_method_id, created_at, updated_at) "
        "select min(id::text)::uuid, %s, %s, %s from public.front_messages where front_conversation_id = %s",
        (contact_method, now, now, conversation),
    )

    def missing(changed_since: datetime | None, excusing: bool = True) -> int:
        params = {"window_start": None, "window_end": None, "sample_limit": 5, "changed_since": changed_since}
        rows = db.execute(exactness_statement(db_session, excusing=excusing), params).fetchall()
        return {problem: count for problem, count, _ in rows}["missing"]

    assert missing(None) == 1
    assert missing(now - timedelta(minutes=1)) == 0  # the run started before the app's change
    assert missing(now + timedelta(minutes=1)) == 1  # the change predates the run: the run should have linked it
    # The check's first statement after a run excuses nothing: it finds the difference, so the check asks again
    # with the probes (a clean first answer is final only because excusing can never add a difference).
    assert missing(now - timedelta(minutes=1), excusing=False) == 1


def test_late_change_indexes_names_each_table_with_its_statement_and_the_sensor_uses_them(
    built, postgres, db, db_session
):
    warning = built[("people_front_conversations", "late_change_indexes")]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    statements = samples(warning, "tables_without_change_index")
    assert count(warning, "tables_without_change_index") == len(statements) == len(CHANGE_WATCHED_TABLES)
    assert statements == [
        f"create index concurrently {table}_changed_at_idx on public.{table} ((greatest(created_at, updated_at)))"
        for table in CHANGE_WATCHED_TABLES
    ]

    # What a DBA runs, as the check gives it (CONCURRENTLY: outside a transaction).
    db.commit()
    with psycopg.connect(db.info.dsn, autocommit=True) as dba:
        for statement in statements:
            dba.execute(statement)
    after = run_checks_alone(postgres, "people_front_conversations")[
        ("people_front_conversations", "late_change_indexes")
    ]
    assert after.passed and count(after, "tables_without_change_index") == 0

    # The sensor's reads of those tables can now be index range scans: with sequential scans priced out,
    # the plan reads every watched table through its new index and none in full.
    plan = explain_late_change_sensor(db_session)
    scanned = {table for table in CHANGE_WATCHED_TABLES if re.search(rf"\b(on|using) {table}_changed_at_idx\b", plan)}
    assert scanned == set(CHANGE_WATCHED_TABLES), plan
    assert "Seq Scan" not in plan, plan


def explain_late_change_sensor(session: Session) -> str:
    """The plans of both statements of a sensor tick (the fingerprints of every watched table, then the Front days)."""
    now = datetime.now(UTC)
    fingerprints, fingerprint_params = change_fingerprints_query(session, now - timedelta(minutes=5))
    day_ranges_params = {
        "changed_after": now - timedelta(minutes=5),
        "partitions_start": datetime(2024, 1, 1, tzinfo=UTC),
        "partitions_end": now,
        "max_named_conversations": 2000,
        "bucket_seconds": 2,
        "changed_buckets": [int(now.timestamp()) // 2],
        "newest_bucket_stamp": now,
    }
    statements = [
        (fingerprints, fingerprint_params),
        (session.sql("links/sensor/find_late_changed_front_day_ranges.sql"), day_ranges_params),
    ]
    with session.conn.transaction():
        session.execute("set local enable_seqscan = off")
        rows = [
            row
            for statement, params in statements
            for row in session.execute(sql.SQL("explain ") + statement, params).fetchall()
        ]
    return "\n".join(row[0] for row in rows)


def test_after_a_run_the_checks_trust_valid_constraints_and_launched_alone_they_scan(built, postgres, db):
    """After a materialization, duplicates and orphans are what the validated unique index and foreign keys
    rule out (named in the metadata, nothing scanned); launched alone, or without those constraints, they scan."""
    for table in FRONT_TABLES:
        owner_column, _ = OWNER[table]
        duplicates, orphans = built[(table, "no_duplicate_pairs")], built[(table, "no_orphans")]
        assert duplicates.metadata["duplicate_pairs_verified_by"].value == f"unique index {UNIQUE_PAIR[table]}"
        owner_kind = "person" if owner_column == "person_id" else "client"
        assert orphans.metadata[f"missing_{owner_kind}_verified_by"].value == f"foreign key {table}_{owner_column}_fkey"
        assert (
            orphans.metadata["missing_front_conversation_verified_by"].value
            == f"foreign key {table}_front_conversation_id_fkey"
        )
    project_duplicates, project_orphans = (
        built[("project_conversations", "no_duplicate_pairs")],
        built[("project_conversations", "no_orphans")],
    )
    assert (
        project_duplicates.metadata["duplicate_conversations_verified_by"].value
        == "unique index project_conversations_conversation_key"
    )
    for problem, column in (
        ("missing_project", "project_id"),
        ("missing_conversation", "conversation_id"),
        ("missing_added_by_user", "added_by"),
    ):
        assert (
            project_orphans.metadata[f"{problem}_verified_by"].value
            == f"foreign key project_conversations_{column}_fkey"
        )
    alone = run_checks_alone(postgres, *FRONT_TABLES, "project_conversations")
    assert not [key for key, e in alone.items() for name in e.metadata if name.endswith("_verified_by")]

    # Without the unique index, the check that follows a run scans, and finds the duplicate.
    table = "people_front_conversations"
    execute(db, "alter table public.{} drop constraint {}", table, UNIQUE_PAIR[table])
    execute(
        db,
        "insert into public.{} (person_id, front_conversation_id, front_conversation_created_at) "
        "select person_id, front_conversation_id, front_conversation_created_at from public.{} order by id limit 1",
        table,
        table,
    )
    after_run = dg.materialize(
        [front_assets[0], *checks_of(table)],
        resources={"postgres": postgres},
        tags=partition_range_tags(*DATA_RANGE),
        raise_on_error=False,
    )
    duplicates = evaluations(after_run)[(table, "no_duplicate_pairs")]
    assert not duplicates.passed and count(duplicates, "duplicate_pairs") == 1
    assert "duplicate_pairs_verified_by" not in duplicates.metadata


@pytest.mark.parametrize("unenforced", ["disable", "enable replica"])
def test_a_run_records_only_the_guarantees_of_enforced_constraints_and_its_orphan_check_scans_without_them(
    unenforced, built, postgres, db
):
    """The run records what its table's constraints rule out, and its checks report that; a foreign key whose
    triggers are disabled (a restore) or fire for replicas only enforces nothing for the app's writes, so the
    run does not record it and the orphan check that follows scans the window."""
    table = "people_front_conversations"
    first_run = dg.materialize(
        [front_assets[0]], resources={"postgres": postgres}, tags=partition_range_tags(*DATA_RANGE)
    )
    recorded = first_run.asset_materializations_for_node(table)[0].metadata[GUARANTEES_METADATA].value
    assert recorded == {
        "duplicate_pairs": f"unique index {UNIQUE_PAIR[table]}",
        "missing_person": f"foreign key {table}_person_id_fkey",
        "missing_front_conversation": f"foreign key {table}_front_conversation_id_fkey",
    }
    # The foreign keys' own triggers on the link table, which check each written row.
    triggers = [
        row[0]
        for row in db.execute(
            "select tgname from pg_trigger where tgrelid = %s::regclass and tgconstraint <> 0", (f"public.{table}",)
        )
    ]
    assert triggers
    for trigger in triggers:
        execute(db, f"alter table public.{{}} {unenforced} trigger {{}}", table, trigger)
    try:
        after_run = dg.materialize(
            [front_assets[0], *checks_of(table)],
            resources={"postgres": postgres},
            tags=partition_range_tags(*DATA_RANGE),
        )
    finally:
        execute(db, "alter table public.{} enable trigger all", table)
    recorded = after_run.asset_materializations_for_node(table)[0].metadata[GUARANTEES_METADATA].value
    assert set(recorded) == {"duplicate_pairs"}
    found = evaluations(after_run)
    assert found[(table, "no_duplicate_pairs")].metadata["scope"].value == CONSTRAINTS_IN_FORCE
    orphans = found[(table, "no_orphans")]
    assert orphans.passed and orphans.metadata["scope"].value == DATA_RANGE_SCOPE
    assert not [name for name in orphans.metadata if name.endswith("_verified_by")]


def test_the_sampled_comparison_finds_every_kind_of_wrong_row_among_the_conversations_it_compares(
    built, postgres, db, db_session
):
    """The comparison that follows a run: missing, extra and stale rows are found in the conversations it
    compares (those a scoped run named, or a random sample), and nothing is reported for the others."""
    table = "people_front_conversations"
    conversations = [
        row[0]
        for row in db.execute(
            "select front_conversation_id from public.people_front_conversations group by 1 having count(*) >= 2 order by 1 limit 4"
        )
    ]
    missing_in, stale_in, extra_in, untouched = conversations
    execute(
        db,
        "delete from public.{} where id = (select min(id::text)::uuid from public.{} where front_conversation_id = %s)",
        table,
        table,
        params=(missing_in,),
    )
    execute(
        db,
        "update public.{} set front_conversation_created_at = front_conversation_created_at - interval '1 hour' "
        "where id = (select min(id::text)::uuid from public.{} where front_conversation_id = %s)",
        table,
        table,
        params=(stale_in,),
    )
    execute(
        db,
        "insert into public.{} (person_id, front_conversation_id, front_conversation_created_at) "
        "select p.id, fc.id, fc.created_at from public.people as p cross join public.front_conversations as fc "
        "where fc.id = %s and not exists (select from public.{} as l where l.person_id = p.id and l.front_conversation_id = fc.id) "
        "order by p.id limit 1",
        table,
        table,
        params=(extra_in,),
    )

    def problems(
        only: list | None, sample: int | None, seed: int = 1, excusing: bool = True
    ) -> dict[str, tuple[int, set[str]]]:
        params = {
            "window_start": None,
            "window_end": None,
            "sample_limit": 5,
            "changed_since": None,
            "only_conversation_ids": only,
            "sample_conversations": sample,
            "sample_seed": seed,
        }
        rows = db.execute(exactness_statement(db_session, sampled=True, excusing=excusing), params).fetchall()
        return {problem: (n, {s["front_conversation_id"] for s in found}) for problem, n, found in rows}

    named = problems([missing_in, stale_in, extra_in], None)
    assert named["missing"] == (2, {str(missing_in), str(stale_in)})  # a stale copy is one missing and one extra row
    assert named["extra"] == (2, {str(stale_in), str(extra_in)})
    assert problems([untouched], None) == {"missing": (0, set()), "extra": (0, set())}
    conversation_count = db.execute("select count(*) from public.front_conversations").fetchone()[0]
    assert problems(None, conversation_count) == named  # a sample as large as the table draws every conversation
    # A sample of one conversation compares one conversation's links: at most one wrong row of each kind here.
    one = problems(None, 1)
    assert one["missing"][0] <= 1 and one["extra"][0] <= 1
    # One check's statements draw the same sample (its seed): what the first pass found, the full statement
    # compares again, rather than a fresh draw that could miss it. Seeds draw different samples.
    samples_of_one = {seed: problems(None, 1, seed=seed, excusing=False) for seed in range(40)}
    assert all(problems(None, 1, seed=seed) == found for seed, found in samples_of_one.items())
    assert any(found["missing"][0] for found in samples_of_one.values())
    assert any(not found["missing"][0] and not found["extra"][0] for found in samples_of_one.values())


def test_the_project_comparison_after_a_scoped_run_compares_exactly_the_conversations_it_named(
    built, postgres, db, db_session, source
):
    """After a scoped project run the exactness check compares the conversations the run named: every kind of
    wrong row among them is found, and nothing about the others."""
    linked = sorted(
        (conversation for conversation, project in source.conversations.items() if project == source.projects[0]),
        key=str,
    )
    missing_in, wrong_added_by_in, untouched = linked[:3]
    extra_in = source.conversations_without_project[0]
    db.execute("delete from public.project_conversations where conversation_id = %s", (missing_in,))
    db.execute(
        "update public.project_conversations set added_by = null where conversation_id = %s", (wrong_added_by_in,)
    )
    db.execute(
        "insert into public.project_conversations (project_id, conversation_id) values (%s, %s)",
        (source.projects[1], extra_in),
    )

    def problems(only: list | None, changed_since: datetime | None = None) -> dict[str, set[str]]:
        params = {
            "sample_limit": 5,
            "sample_conversations": None,
            "only_conversation_ids": only,
            "changed_since": changed_since,
        }
        rows = db.execute(db_session.sql("links/checks/check_project_links_exactness.sql"), params).fetchall()
        return {problem: {s["conversation_id"] for s in found} for problem, n, found in rows if n}

    expected = {"missing": {str(missing_in)}, "extra": {str(extra_in)}, "wrong_added_by": {str(wrong_added_by_in)}}
    assert problems([missing_in, wrong_added_by_in, extra_in]) == expected
    assert problems([untouched]) == {}
    assert problems(None) == expected  # neither: every row
    # The app moved on after a run started: the conversation or its project stamped since are left to the next run.
    run_started = db.execute("select now()").fetchone()[0]
    assert problems(None, run_started) == expected  # nothing stamped since
    db.execute("update public.conversations set updated_at = now() where id = %s", (extra_in,))
    db.execute("update public.projects set updated_at = now() where id = %s", (source.projects[0],))
    assert problems(None, run_started) == {}
    # A stamp later than the check is a skewed clock: it excuses nothing.
    db.execute("update public.projects set updated_at = now() + interval '1 hour' where id = %s", (source.projects[0],))
    assert problems(None, run_started) == {"missing": {str(missing_in)}, "wrong_added_by": {str(wrong_added_by_in)}}

    # Through a scoped run: its check compares the conversation it named, which the run made right again.
    scope = {"config": {"only_conversation_ids": [str(missing_in)]}}
    after_run = dg.materialize(
        [project_asset, *checks_of("project_conversations")],
        resources={"postgres": postgres},
        run_config={"ops": {"project_conversations": scope}},
    )
    exactness = evaluations(after_run)[("project_conversations", "matches_source")]
    assert exactness.passed
    assert exactness.metadata["scope"].value == "the 1 conversations the run reconciled"


def test_the_audit_job_compares_every_row_and_finds_a_wrong_row_any_sample_could_miss(built, postgres, db, definitions):
    """link_tables_audit_job (LINK_TABLES_AUDIT_CRON) runs the checks alone: whole tables, every row scanned."""
    table = "clients_front_conversations"
    removed = execute(
        db,
        "delete from public.{} where id = (select max(id::text)::uuid from public.{}) returning client_id, front_conversation_id",
        table,
        table,
    ).fetchone()
    fix_project_arrays(db)
    result = definitions.resolve_job_def("link_tables_audit_job").execute_in_process(raise_on_error=False)
    found = evaluations(result)
    assert {table for table, _ in found} == {*FRONT_TABLES, "project_conversations"}
    assert not [name for e in found.values() for name in e.metadata if name.endswith("_verified_by")]
    assert {e.metadata["scope"].value for key, e in found.items() if key[1] != "late_change_indexes"} == {"whole table"}
    exactness = found[(table, "matches_source")]
    assert not exactness.passed and count(exactness, "missing") == 1
    assert pair_of(samples(exactness, "missing")[0], "client_id") == (str(removed[0]), str(removed[1]))
    assert all(
        e.passed for key, e in found.items() if key != (table, "matches_source") and key[1] != "late_change_indexes"
    )


def test_a_runs_checks_share_one_connection_closed_with_the_run(built, postgres, db):
    """The ten link checks launched alone: one pipeline session in all (not one per check), gone once the run ends."""
    before = sessions_started(db)
    found = run_checks_alone(postgres, *FRONT_TABLES, "project_conversations")
    assert len(found) == 11
    # The checks' session has ended with the run; a session is counted when it starts, and a backend's
    # statistics are all flushed once it has exited.
    assert pipeline_sessions_left_open(db) == 0
    assert sessions_started(db) - before == 1


def test_a_stamp_ahead_of_the_clock_excuses_no_difference(built, postgres, db):
    """A difference in a conversation the app changed since the check's run started is left to the next run;
    a source stamp later than the check itself (a skewed clock) is no such change and hides nothing."""
    table = "people_front_conversations"
    person, conversation = execute(
        db,
        "delete from public.{} where id = (select min(id::text)::uuid from public.{}) returning person_id, front_conversation_id",
        table,
        table,
    ).fetchone()
    db.execute("update public.people set updated_at = now() + interval '1 year' where id = %s", (person,))
    exactness = run_checks_alone(postgres, table)[(table, "matches_source")]
    assert not exactness.passed and count(exactness, "missing") == 1
    assert pair_of(samples(exactness, "missing")[0], "person_id") == (str(person), str(conversation))


def test_the_checks_of_the_last_partition_cover_the_conversations_dated_after_it(built, postgres, db):
    """A check in a run of today's partition covers what that partition owns: its day and every later date,
    so the conversation a skewed clock dated next month is compared there, and passes once linked."""
    table = "people_front_conversations"
    conversation = db.execute(f"select front_conversation_id from public.{table} order by id limit 1").fetchone()[0]
    db.execute(
        "update public.front_conversations set created_at = now() + interval '40 days' where id = %s", (conversation,)
    )
    today = daily_partitions.get_last_partition_key()
    refreshed = dg.materialize(
        [front_assets[0], *checks_of(table)], resources={"postgres": postgres}, partition_key=today
    )
    found = evaluations(refreshed)
    assert all(e.passed for key, e in found.items() if key[1] not in WARN_CHECKS)
    window = f"conversations created in [{today}T00:00:00+00:00, infinity)"
    assert found[(table, "no_orphans")].metadata["scope"].value == CONSTRAINTS_IN_FORCE
    # The only conversation of that window is the one dated next month: the comparison drew it.
    assert found[(table, "matches_source")].metadata["scope"].value.endswith(f"({window})")


@pytest.mark.parametrize("table", ["people_front_conversations", "clients_front_conversations"])
def test_the_app_moving_on_is_probed_per_differing_conversation_never_hashed_whole(
    table, built, postgres, db, db_session
):
    """Whether a difference is the app moving on is asked of the differing conversations alone, through the
    source's indexes. Planned as a hashed subplan, it read and hashed every recipient of the source once the
    app had changed one compared conversation: 30 s after a 1,000,000-conversation fill beside the app."""
    link = next(spec for spec in FRONT_LINK_TABLES if spec.table == table)
    owner = {"link_table": table, "owner_column": link.owner_column}
    statement = db_session.sql(
        "links/checks/check_front_links_exactness.sql",
        **owner,
        expected=db_session.sql(link.expected_links_sql, **owner),
        scoped_conversations=db_session.sql("links/checks/scope_sampled_front_conversations.sql", **owner),
        unsettled=db_session.sql("links/checks/select_unsettled_front_conversations.sql"),
    )
    params = {
        "sample_limit": 5,
        "source_schema": "public",
        "window_start": None,
        "window_end": None,
        "only_conversation_ids": None,
        "sample_conversations": SAMPLE_CONVERSATIONS,
        "sample_seed": 1,
        "changed_since": datetime.now(UTC) - timedelta(minutes=5),
    }
    plan = "\n".join(row[0] for row in db.execute(sql.SQL("explain ") + statement, params).fetchall())
    assert "hashed SubPlan" not in plan, plan
