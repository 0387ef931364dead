"""project_conversations (project_reconcile.py, project_assets.py): the table equals the oracle and reports the
projects' array drift, a project's new user refreshes added_by, and a scoped run (the late-change sensor's) fixes
only the conversations it names, or reconciles the whole table when it was never filled."""

from __future__ import annotations

from convo_pipelines.defs.links.project_assets import project_conversations
from convo_pipelines_tests.links.link_runs import (
    PROJECTS,
    analyzed_by_hand,
    metadata_of,
    project_triples,
    row_versions,
    run_assets,
)
from convo_pipelines_tests.source_data import (
    build_source_data,
    expected_array_inconsistencies,
    expected_project_links,
    project_link_rows,
)


def test_project_conversations_equals_the_oracle_and_reports_array_drift(db, postgres) -> None:
    data = build_source_data(db)
    result = run_assets(postgres, [project_conversations])

    assert project_triples(db) == expected_project_links(db)
    by_conversation = project_link_rows(db)
    for conversation, project in data.conversations.items():
        if project is None:
            assert conversation not in by_conversation
        elif project in (data.userless_project, data.deleted_user_project):
            assert by_conversation[conversation][3] is None  # no existing user: added_by NULL
        else:
            assert by_conversation[conversation][3] is not None
    meta = metadata_of(result, PROJECTS)
    assert meta["mode"] == "bulk" and meta["dagster/row_count"] == len(by_conversation)
    assert analyzed_by_hand(db, PROJECTS)
    expected = expected_array_inconsistencies(db)
    assert all(expected[kind] for kind in ("stale", "mismatched", "missing"))
    for kind, entries in expected.items():
        assert meta[f"array_{kind}_entries"] == len(entries)
        samples = {(s["project_id"], s["conversation_id"]) for s in meta[f"array_{kind}_samples"]}
        assert samples and samples <= {(str(p), str(c)) for p, c in entries}
    assert meta["array_missing_entries"] >= len(
        [c for c, p in data.conversations.items() if p == data.null_array_project]
    )


def test_project_user_change_refreshes_added_by_and_keeps_added_at(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, [project_conversations])
    before = project_link_rows(db)
    db.execute("update projects set user_id = %s where id = %s", (data.users[2], data.userless_project))

    result = run_assets(postgres, [project_conversations])

    after = project_link_rows(db)
    assert project_triples(db) == expected_project_links(db)
    changed = [c for c, p in data.conversations.items() if p == data.userless_project]
    assert metadata_of(result, PROJECTS)["rows_refreshed"] == len(changed)
    for conversation in changed:
        assert after[conversation][3] == data.users[2]
        assert after[conversation][:3] == before[conversation][:3]  # same id, project, added_at


def project_scope(*conversations) -> dict:
    """The run config of a scoped project run (the late-change sensor's) naming these conversations."""
    return {"ops": {PROJECTS: {"config": {"only_conversation_ids": [str(c) for c in conversations]}}}}


def test_scoped_project_run_fixes_the_conversations_it_names_and_touches_nothing_else(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, [project_conversations])
    before = project_link_rows(db)
    versions = row_versions(db, PROJECTS)
    listed_in = data.mismatched_array_project
    moved, other_moved = [c for c, p in data.conversations.items() if p == listed_in][:2]
    new_project = data.userless_project
    db.execute("update conversations set project_id = %s where id = any(%s)", (new_project, [moved, other_moved]))
    # A link lost by hand, of a conversation the run does not name: left for a whole run.
    lost = next(c for c, p in data.conversations.items() if p == data.stale_array_project)
    db.execute("delete from project_conversations where conversation_id = %s", (lost,))

    scoped = run_assets(postgres, [project_conversations], run_config=project_scope(moved))

    after = project_link_rows(db)
    link_id, project, added_at, added_by = after[moved]
    assert (link_id, project, added_by) == (before[moved][0], new_project, None)  # same row, new project and user
    assert added_at > before[moved][2]
    assert after[other_moved] == before[other_moved]  # moved too, but not named: as it was
    assert lost not in after
    changed = {row_id for row_id, version in row_versions(db, PROJECTS).items() if versions.get(row_id) != version}
    assert changed == {str(link_id)}  # no other row written
    meta = metadata_of(scoped, PROJECTS)
    assert (meta["mode"], meta["rows_moved"], meta["rows_inserted"], meta["rows_deleted"], meta["rows_refreshed"]) == (
        "scoped",
        1,
        0,
        0,
        0,
    )
    assert meta["conversations_in_scope"] == 1 and "dagster/row_count" not in meta
    # The arrays of the projects the conversation left and joined: the one that still lists it, the one that does not.
    assert meta["array_scope"] == "the 2 projects of the run's conversations"
    assert {(s["project_id"], s["conversation_id"]) for s in meta["array_mismatched_samples"]} >= {
        (str(listed_in), str(moved))
    }
    expected = expected_array_inconsistencies(db)
    for kind, entries in expected.items():
        in_scope = {(p, c) for p, c in entries if p in (listed_in, new_project)}
        assert meta[f"array_{kind}_entries"] == len(in_scope)

    whole = run_assets(postgres, [project_conversations])
    assert project_triples(db) == expected_project_links(db)
    assert (metadata_of(whole, PROJECTS)["rows_moved"], metadata_of(whole, PROJECTS)["rows_inserted"]) == (1, 1)


def test_scoped_project_run_adds_and_removes_the_links_of_its_conversations(db, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, [project_conversations])
    joined = data.conversations_without_project[0]
    left = next(c for c, p in data.conversations.items() if p == data.stale_array_project)
    db.execute("update conversations set project_id = %s where id = %s", (data.projects[0], joined))
    db.execute("update conversations set project_id = null where id = %s", (left,))

    scoped = run_assets(postgres, [project_conversations], run_config=project_scope(joined, left))

    assert project_triples(db) == expected_project_links(db)
    meta = metadata_of(scoped, PROJECTS)
    assert (meta["mode"], meta["rows_inserted"], meta["rows_deleted"], meta["conversations_in_scope"]) == (
        "scoped",
        1,
        1,
        2,
    )
    again = run_assets(postgres, [project_conversations], run_config=project_scope(joined, left))
    assert [metadata_of(again, PROJECTS)[f"rows_{verb}"] for verb in ("inserted", "deleted", "moved", "refreshed")] == [
        0,
        0,
        0,
        0,
    ]


def test_scoped_project_run_on_a_table_not_filled_yet_reconciles_the_whole_table(db, postgres) -> None:
    """A scoped run is exact only on top of a whole table: before the first fill it fills everything."""
    data = build_source_data(db)
    result = run_assets(
        postgres, [project_conversations], run_config=project_scope(data.conversations_without_project[0])
    )
    assert project_triples(db) == expected_project_links(db)
    meta = metadata_of(result, PROJECTS)
    assert meta["mode"] == "bulk" and meta["dagster/row_count"] == len(expected_project_links(db))
    assert meta["array_scope"] == "every project"


def test_scoped_project_run_refuses_an_id_that_is_not_a_uuid(db, postgres) -> None:
    build_source_data(db)
    result = run_assets(postgres, [project_conversations], run_config=project_scope("not-a-uuid"), raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "only_conversation_ids holds 'not-a-uuid'" in str(failure.event_specific_data.error)
