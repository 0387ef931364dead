"""The duplicate and orphan checks of the link tables: each FAILS, with counts and samples, on a table
corrupted on purpose; after a run they report what the enforced constraints rule out, and scan without them."""

import uuid

import dagster as dg
import pytest

from convo_pipelines.defs.checks import GUARANTEES_METADATA
from convo_pipelines.defs.links.checks import CONSTRAINTS_IN_FORCE
from convo_pipelines.defs.partitions import partition_range_tags
from convo_pipelines_tests.links.checks.check_runs import (
    DATA_RANGE,
    DATA_RANGE_SCOPE,
    FRONT_TABLES,
    OWNER,
    UNIQUE_PAIR,
    checks_of,
    count,
    evaluations,
    execute,
    front_assets,
    insert_link,
    run_checks_alone,
    samples,
)


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
    insert_link(db, table, owner_column, pair)

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
