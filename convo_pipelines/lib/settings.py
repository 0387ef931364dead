"""The pipeline's environment values, validated once, with errors that name the variable.

Read elsewhere, each where it is used: instance/storage_location.py finds Dagster's storage from DAGSTER_STORAGE_URL
(and PGUSER for a URL without a user), for `convo-pipelines dev` and `env` and for the instance's storage
(instance/storage.py, which dagster.yaml names); instance/storage.py reads DAGSTER_EVENT_BATCH_SIZE; cli/dev.py
reads DAGSTER_WEBSERVER_HOST / DAGSTER_WEBSERVER_PORT; lib/embedded/demo.py looks whether PARTITIONS_START_DATE is set;
cli/main.py reads CONVO_PIPELINES_DEBUG; lib/postgres/db.py reads SOURCE_TIME_ZONE (source_time_zone(), below) for a connection
no caller gave a zone; lib/postgres/urls.py reads, only to scrub passwords from errors, DATABASE_URL,
DAGSTER_STORAGE_URL and TEST_DATABASE_URL; the tests read TEST_DATABASE_URL. docs/configuration.md lists every
variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from convo_pipelines.lib.errors import ConfigError
from convo_pipelines.lib.postgres.urls import IDENTIFIER_PATTERN, redact_url, validate_database_url

# The Dagster daemon evaluates sensors at most every 5 seconds: a shorter interval would not be kept.
MIN_SENSOR_SECONDS = 5
TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    convo_home: Path
    source_schema: str
    analytics_schema: str
    partitions_start_date: date
    conversation_discovery_cron: str
    link_tables_sync_cron: str
    # Cron of the complete comparison of the link tables with the source (the checks alone, every row).
    link_tables_audit_cron: str
    enable_background_jobs: bool
    schedule_timezone: str
    # How often the late-change sensor may tick (LATE_CHANGES_SENSOR_SECONDS): its share of the link tables' staleness.
    late_changes_sensor_seconds: int = 5
    # How often the discovery sensor may tick (CONVERSATION_DISCOVERY_SENSOR_SECONDS): its share of a new session's wait.
    conversation_discovery_sensor_seconds: int = 5
    # Whether runs apply pending migrations themselves (false: a run with pending migrations fails, naming them).
    auto_migrate: bool = True
    # Where run-failure alerts are posted (a Slack-compatible incoming webhook); None logs them instead.
    alert_webhook_url: str | None = None
    # The UI's address, so an alert links to the failed run; None leaves the link out.
    dagster_webserver_url: str | None = None
    # The zone a source stamp stored as `timestamp without time zone` holds (Rails, Prisma and Django write UTC):
    # every connection to the application database takes it as its session's TimeZone (lib/postgres/db.py).
    source_time_zone: str = "UTC"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=_database_url(env),
            convo_home=Path(_text(env, "CONVO_HOME", ".convo")).expanduser().resolve(),
            source_schema=_schema_name(env, "SOURCE_SCHEMA", "public"),
            analytics_schema=_schema_name(env, "ANALYTICS_SCHEMA", "analytics"),
            partitions_start_date=_iso_date(env, "PARTITIONS_START_DATE", "2024-01-01"),
            conversation_discovery_cron=_cron(env, "CONVERSATION_DISCOVERY_CRON", "*/5 * * * *"),
            link_tables_sync_cron=_cron(env, "LINK_TABLES_SYNC_CRON", "0 2 * * *"),
            link_tables_audit_cron=_cron(env, "LINK_TABLES_AUDIT_CRON", "0 4 * * 0"),
            enable_background_jobs=_boolean(env, "ENABLE_BACKGROUND_JOBS", True),
            schedule_timezone=_timezone(env, "SCHEDULE_TIMEZONE", "UTC"),
            late_changes_sensor_seconds=_seconds(env, "LATE_CHANGES_SENSOR_SECONDS", 5, least=MIN_SENSOR_SECONDS),
            conversation_discovery_sensor_seconds=_seconds(
                env, "CONVERSATION_DISCOVERY_SENSOR_SECONDS", 5, least=MIN_SENSOR_SECONDS
            ),
            auto_migrate=_boolean(env, "CONVO_AUTO_MIGRATE", True),
            alert_webhook_url=_http_url(env, "ALERT_WEBHOOK_URL"),
            dagster_webserver_url=_http_url(env, "DAGSTER_WEBSERVER_URL"),
            source_time_zone=source_time_zone(env),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env()


def source_time_zone(environ: Mapping[str, str] | None = None) -> str:
    """SOURCE_TIME_ZONE, validated alone: what lib/postgres/db.connect() gives a connection whose caller names no zone, so
    tooling that only connects does not depend on the other variables."""
    env = os.environ if environ is None else environ
    return _timezone(env, "SOURCE_TIME_ZONE", "UTC")


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _database_url(env: Mapping[str, str]) -> str | None:
    value = env.get("DATABASE_URL", "").strip()
    if not value:
        return None
    validate_database_url(value, variable="DATABASE_URL")
    return value


def _schema_name(env: Mapping[str, str], name: str, default: str) -> str:
    value = _text(env, name, default)
    if not IDENTIFIER_PATTERN.match(value):
        raise ConfigError(
            f"{name}={value!r} is not a valid schema name: expected lowercase letters, digits and "
            "underscores, starting with a letter or underscore, at most 63 characters"
        )
    return value


def _iso_date(env: Mapping[str, str], name: str, default: str) -> date:
    value = _text(env, name, default)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a date: expected YYYY-MM-DD, e.g. 2024-01-01") from None


def _cron(env: Mapping[str, str], name: str, default: str) -> str:
    value = " ".join(_text(env, name, default).split())
    if len(value.split(" ")) != 5 or not croniter.is_valid(value):
        raise ConfigError(
            f"{name}={value!r} is not a valid cron expression: expected five fields "
            "'minute hour day-of-month month day-of-week', e.g. '*/5 * * * *'"
        )
    if not _ever_fires(value):
        raise ConfigError(f"{name}={value!r} never fires: no date matches its day-of-month, month and day-of-week")
    return value


def _ever_fires(cron: str) -> bool:
    """Whether some date matches `cron`: croniter accepts '0 0 31 4 *' (April 31st), which never does."""
    try:
        croniter(cron, datetime(2024, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        return False
    return True


def _seconds(env: Mapping[str, str], name: str, default: int, *, least: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < least:
        raise ConfigError(f"{name}={raw!r} is not a whole number of seconds of at least {least}")
    return int(raw)


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: expected true or false")


def _http_url(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a port that is not a number
    except ValueError:
        raise ConfigError(f"{name}={describe_http_url(value)!r} does not parse: expected https://host/path") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{name}={describe_http_url(value)!r} is not an http(s) URL: expected https://host/path")
    return value


def describe_http_url(url: str) -> str:
    """scheme://host[:port] of a URL, safe to print: a webhook's path is its secret, and userinfo holds a password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    rest = "/..." if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{rest}" if parts.scheme else "<not a URL>"


def _timezone(env: Mapping[str, str], name: str, default: str) -> str:
    value = _text(env, name, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{name}={value!r} is not a known time zone: expected an IANA name such as UTC or Europe/Paris"
        ) from None
    return value


__all__ = ["IDENTIFIER_PATTERN", "ConfigError", "Settings", "get_settings", "redact_url"]
