"""The code location loads, and its assets, checks, jobs, schedules and sensors are what users expect;
the environment decides crons, time zone and whether background jobs start."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from convo_pipelines.definitions import defs
from convo_pipelines.defs.partitions import daily_partitions
from convo_pipelines_tests.helpers import PROJECT_VARIABLES, environment_without
from convo_pipelines_tests.source_data import SOURCE_TABLES

LINK_ASSETS = {"people_front_conversations", "clients_front_conversations", "project_conversations"}
LINK_SCHEDULES = {
    "front_link_tables_sync_schedule": "front_links_job",
    "project_link_tables_sync_schedule": "project_links_job",
}
CHECK_NAMES = {
    "people_front_conversations": {"no_duplicate_pairs", "no_orphans", "matches_source", "late_change_indexes"},
    "clients_front_conversations": {"no_duplicate_pairs", "no_orphans", "matches_source"},
    "project_conversations": {"no_duplicate_pairs", "no_orphans", "matches_source", "array_consistency"},
}

# Prints what the schedules and sensors of a freshly imported code location look like.
DESCRIBE_SCHEDULES = """
import json
from convo_pipelines.definitions import defs
repository = defs.get_repository_def()
print(json.dumps({
    "schedules": {s.name: [s.cron_schedule, s.execution_timezone, s.default_status.value] for s in repository.schedule_defs},
    "sensors": {s.name: s.default_status.value for s in repository.sensor_defs},
}))
"""


def clean_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """This process's environment without the project's variables, plus `overrides`."""
    return environment_without(
        PROJECT_VARIABLES | {"DAGSTER_HOME"}, CONVO_HOME=str(tmp_path / "convo_home"), **overrides
    )


def describe_in_subprocess(tmp_path: Path, **overrides: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", DESCRIBE_SCHEDULES],
        env=clean_env(tmp_path, **overrides),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def repository() -> dg.RepositoryDefinition:
    return defs.get_repository_def()


PARENTS = {
    "people_front_conversations": {
        "front_conversations",
        "front_messages",
        "front_message_recipients",
        "contact_methods",
        "people",
    },
    "clients_front_conversations": {"people_front_conversations", "front_conversations", "people", "clients"},
    "project_conversations": {"conversations", "projects", "users"},
    "histories_sessions": {"crews", "clients"},
    "conversation_summaries": {"histories_sessions", "crews", "clients"},
    "daily_conversation_stats": {"histories_sessions"},
}


def test_the_lineage_graph_reaches_every_source_table(repository):
    """Every table a pipeline reads is an external asset of the group `source`, and every derived asset
    has exactly the parents its SQL reads, so the UI's graph shows where each table comes from.
    (That the location loads at all is test_the_cli_validates_the_default_location.)"""
    graph = repository.asset_graph
    sources = {key.to_user_string() for key in graph.get_all_asset_keys() if not graph.get(key).is_materializable}
    assert sources == set(SOURCE_TABLES)
    for name in SOURCE_TABLES:
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "source" and "postgres" in node.kinds, name
        assert node.metadata["dagster/table_name"] == f"public.{name}"
        assert node.description and name in node.description
    for name, parents in PARENTS.items():
        assert {key.to_user_string() for key in graph.get(dg.AssetKey(name)).parent_keys} == parents, name
    # daily_conversation_stats is a view: each of its columns comes from a column of histories_sessions.
    lineage = graph.get(dg.AssetKey("daily_conversation_stats")).metadata["dagster/column_lineage"]
    schema = graph.get(dg.AssetKey("daily_conversation_stats")).metadata["dagster/column_schema"]
    assert set(lineage.deps_by_column) == {column.name for column in schema.columns}
    assert lineage.deps_by_column["messages"] == [
        dg.TableColumnDep(asset_key=dg.AssetKey("histories_sessions"), column_name="message_count")
    ]


def test_every_asset_is_documented_and_typed(repository):
    for assets_def in repository.asset_graph.assets_defs:
        if not assets_def.is_materializable:
            continue  # source tables declared for lineage: nothing of ours to describe
        for key in assets_def.keys:
            name = key.to_user_string()
            spec = next(s for s in assets_def.specs if s.key == key)
            assert spec.description and spec.description.strip(), name
            assert spec.group_name and spec.group_name != "default", name
            assert "postgres" in spec.kinds, name
            assert "team:data-platform" in spec.owners, name
            schema = spec.metadata.get("dagster/column_schema")
            assert isinstance(schema, dg.TableSchema) and schema.columns, name
            assert spec.metadata.get("dagster/table_name"), name


def test_link_assets_groups_and_partitions(repository):
    graph = repository.asset_graph
    for name in LINK_ASSETS:
        assert graph.get(dg.AssetKey(name)).group_name == "links"
    for name in ("people_front_conversations", "clients_front_conversations"):
        node = graph.get(dg.AssetKey(name))
        assert node.partitions_def == daily_partitions
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
    assert graph.get(dg.AssetKey("project_conversations")).partitions_def is None


def test_every_link_asset_has_its_checks_and_each_check_a_description(repository):
    checks = {}
    for key in repository.asset_graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), set()).add(key.name)
    for asset, names in CHECK_NAMES.items():
        assert names <= checks.get(asset, set()), asset
    for checks_def in defs.asset_checks:
        for spec in checks_def.check_specs:
            assert spec.description and spec.description.strip(), spec.key


def test_jobs_select_the_link_assets_with_their_checks(repository):
    """Each link job selects exactly its assets and every check of those assets, so every run verifies what it wrote."""
    front = repository.get_job("front_links_job")
    project = repository.get_job("project_links_job")
    assert {k.to_user_string() for k in front.asset_layer.executable_asset_keys} == {
        "people_front_conversations",
        "clients_front_conversations",
    }
    assert {(k.asset_key.to_user_string(), k.name) for k in front.asset_layer.asset_graph.asset_check_keys} == {
        (asset, name)
        for asset in ("people_front_conversations", "clients_front_conversations")
        for name in CHECK_NAMES[asset]
    }
    assert front.partitions_def == daily_partitions
    assert {k.to_user_string() for k in project.asset_layer.executable_asset_keys} == {"project_conversations"}
    assert {(k.asset_key.to_user_string(), k.name) for k in project.asset_layer.asset_graph.asset_check_keys} == {
        ("project_conversations", name) for name in CHECK_NAMES["project_conversations"]
    }
    assert project.partitions_def is None


def test_schedules_and_sensor_run_their_jobs_and_say_what_they_do(repository):
    # What the settings make of their crons, zones and status is the subprocess tests' (below): here every
    # project variable is unset.
    for name, job_name in LINK_SCHEDULES.items():
        schedule = repository.get_schedule_def(name)
        assert (schedule.job_name, schedule.cron_schedule, schedule.execution_timezone) == (
            job_name,
            "0 2 * * *",
            "UTC",
        )
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        assert schedule.description
    sensor = repository.get_sensor_def("link_tables_late_changes_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.description


def test_defaults_without_any_setting(tmp_path):
    described = describe_in_subprocess(tmp_path)
    for name in LINK_SCHEDULES:
        assert described["schedules"][name] == ["0 2 * * *", "UTC", "RUNNING"]
    assert described["schedules"]["conversation_discovery_schedule"] == ["*/5 * * * *", "UTC", "RUNNING"]
    assert described["sensors"]["link_tables_late_changes_sensor"] == "RUNNING"


def test_environment_sets_cron_timezone_and_stopped_background_jobs(tmp_path):
    described = describe_in_subprocess(
        tmp_path,
        ENABLE_BACKGROUND_JOBS="false",
        LINK_TABLES_SYNC_CRON="30 3 * * 1-5",
        CONVERSATION_DISCOVERY_CRON="*/10 * * * *",
        SCHEDULE_TIMEZONE="Europe/Paris",
    )
    for name in LINK_SCHEDULES:
        assert described["schedules"][name] == ["30 3 * * 1-5", "Europe/Paris", "STOPPED"]
    assert described["schedules"]["conversation_discovery_schedule"] == ["*/10 * * * *", "Europe/Paris", "STOPPED"]
    assert set(described["sensors"].values()) == {"STOPPED"}
    assert described["sensors"]["link_tables_late_changes_sensor"] == "STOPPED"


def test_an_invalid_cron_fails_the_load_naming_the_variable_and_value(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "convo_pipelines.definitions"],
        env=clean_env(tmp_path, LINK_TABLES_SYNC_CRON="61 2 * * *"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode != 0
    output = completed.stdout + completed.stderr
    assert "LINK_TABLES_SYNC_CRON='61 2 * * *'" in output
    assert "expected five fields" in output


def test_the_cli_validates_the_default_location(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "convo_pipelines.definitions"],
        env=clean_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
