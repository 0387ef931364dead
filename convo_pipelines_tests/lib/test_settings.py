"""Settings: defaults, and one clear error naming the variable for every bad value."""

from __future__ import annotations

from datetime import date

import pytest

from convo_pipelines.lib.errors import ConfigError
from convo_pipelines.lib.postgres.urls import dagster_storage_url, redact_url
from convo_pipelines.lib.settings import Settings


def test_defaults_match_the_design() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert (settings.source_schema, settings.analytics_schema) == ("public", "analytics")
    assert settings.partitions_start_date == date(2024, 1, 1)
    assert settings.conversation_discovery_cron == "*/5 * * * *"
    assert settings.link_tables_sync_cron == "0 2 * * *"
    assert settings.enable_background_jobs is True
    assert settings.schedule_timezone == "UTC"
    assert settings.source_time_zone == "UTC"
    assert settings.auto_migrate is True
    assert settings.late_changes_sensor_seconds == 5
    assert settings.convo_home.name == ".convo"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://root@localhost/app"),
        ("DATABASE_URL", "postgresql://user:pw@host:notaport/db"),
        ("PARTITIONS_START_DATE", "2024-13-01"),
        ("PARTITIONS_START_DATE", "yesterday"),
        ("CONVERSATION_DISCOVERY_CRON", "every five minutes"),
        ("LINK_TABLES_SYNC_CRON", "0 2 * *"),
        ("LINK_TABLES_SYNC_CRON", "61 2 * * *"),
        ("ENABLE_BACKGROUND_JOBS", "maybe"),
        ("CONVO_AUTO_MIGRATE", "sometimes"),
        ("SCHEDULE_TIMEZONE", "Mars/Olympus"),
        ("SOURCE_TIME_ZONE", "New York"),
        ("SOURCE_TIME_ZONE", "+05:00"),
        ("LATE_CHANGES_SENSOR_SECONDS", "4"),
        ("LATE_CHANGES_SENSOR_SECONDS", "ten"),
        ("LATE_CHANGES_SENSOR_SECONDS", "7.5"),
        ("SOURCE_SCHEMA", "public; drop table people"),
        ("ANALYTICS_SCHEMA", "Analytics"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({variable: value})
    assert str(raised.value).startswith(f"{variable}=")


def test_a_bad_url_never_shows_its_password() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"DATABASE_URL": "postgresql://app:s3cret@db:badport/app"})
    assert "s3cret" not in str(raised.value)
    assert redact_url("postgresql://app:s3cret@db:5432/app") == "postgresql://app:***@db:5432/app"


def test_the_sensor_interval_is_read_in_whole_seconds() -> None:
    assert Settings.from_env({"LATE_CHANGES_SENSOR_SECONDS": " 30 "}).late_changes_sensor_seconds == 30


def test_background_jobs_can_be_switched_off() -> None:
    assert Settings.from_env({"ENABLE_BACKGROUND_JOBS": "false"}).enable_background_jobs is False


@pytest.mark.parametrize(
    ("value", "expected"), [("false", False), ("0", False), ("off", False), ("TRUE", True), ("yes", True)]
)
def test_auto_migrate_reads_the_usual_boolean_words(value: str, expected: bool) -> None:
    assert Settings.from_env({"CONVO_AUTO_MIGRATE": value}).auto_migrate is expected


def test_the_resource_takes_auto_migrate_from_the_settings() -> None:
    from convo_pipelines.defs.resources import PostgresResource

    assert PostgresResource.from_settings(Settings.from_env({"CONVO_AUTO_MIGRATE": "false"})).auto_migrate is False
    assert PostgresResource.from_settings(Settings.from_env({})).auto_migrate is True


def test_the_resource_takes_the_source_time_zone_from_the_settings() -> None:
    from convo_pipelines.defs.resources import PostgresResource

    settings = Settings.from_env({"SOURCE_TIME_ZONE": " America/New_York "})
    assert PostgresResource.from_settings(settings).source_time_zone == "America/New_York"
    assert PostgresResource.from_settings(Settings.from_env({})).source_time_zone == "UTC"


def test_dagster_storage_uses_the_psycopg2_dialect() -> None:
    assert dagster_storage_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert dagster_storage_url("postgresql+psycopg://u@/db?host=/tmp/x") == "postgresql+psycopg2://u@/db?host=/tmp/x"
