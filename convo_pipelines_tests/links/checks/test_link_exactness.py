"""The link tables' exactness checks (matches_source) FAIL, with counts and samples, on each kind of wrong
row: missing, extra, a stale copy, a wrong added_by; the audit job and a skewed clock find them too."""

import dagster as dg
import pytest

from convo_pipelines_tests.links.checks.check_runs import (
    FRONT_TABLES,
    OWNER,
    count,
    evaluations,
    execute,
    fix_project_arrays,
    insert_link,
    run_checks_alone,
    samples,
)


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
    insert_link(db, table, owner_column, extra)

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
