"""The link checks through real Dagster runs on a real PostgreSQL: they pass on tables the assets built,
only the people links' checks block, a check launched alone runs alone, and a run's checks share one
connection."""

import dagster as dg

from convo_pipelines.defs.links.checks import CONSTRAINTS_IN_FORCE, SAMPLE_CONVERSATIONS, link_checks
from convo_pipelines.defs.links.jobs import link_assets
from convo_pipelines_tests.helpers import pipeline_sessions_left_open, sessions_started
from convo_pipelines_tests.links.checks.check_runs import (
    DATA_RANGE_SCOPE,
    FRONT_TABLES,
    WARN_CHECKS,
    evaluations,
    fix_project_arrays,
    run_checks_alone,
)


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


def test_a_runs_checks_share_one_connection_closed_with_the_run(built, postgres, db):
    """The ten link checks launched alone: one pipeline session in all (not one per check), gone once the run ends."""
    before = sessions_started(db)
    found = run_checks_alone(postgres, *FRONT_TABLES, "project_conversations")
    assert len(found) == 11
    # The checks' session has ended with the run; a session is counted when it starts, and a backend's
    # statistics are all flushed once it has exited.
    assert pipeline_sessions_left_open(db) == 0
    assert sessions_started(db) - before == 1
