"""`convo-pipelines dev`: the database, Dagster's storage and `dagster dev`, started together and stopped together.

Without DATABASE_URL it runs on the embedded PostgreSQL under CONVO_HOME (app data in database
"convo", Dagster's storage in "dagster"), seeds a demo on first start, gives the demo daily partitions
from its first day, and fills it once with a Dagster backfill launched through the webserver. With
DATABASE_URL it uses that server, migrates the tables the project owns, and seeds and fills nothing.
Dagster's storage database is checked with a real connection before anything starts. The demo's fill is
cli/demo_fill.py's; running `dagster dev` in a process group until stopped is cli/process_group.py's.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from convo_pipelines.cli.database import app_database, require_source_tables
from convo_pipelines.cli.demo_fill import DemoFill, demo_fill, fill_demo_once_served, webserver_url
from convo_pipelines.cli.process_group import run_until_stopped
from convo_pipelines.instance.storage_location import external_storage_url, require_usable_storage
from convo_pipelines.lib.embedded.demo import (
    DemoSize,
    demo_partitions_start,
    embedded_storage_url,
    ready_embedded_demo,
)
from convo_pipelines.lib.embedded.server import EMBEDDED_APP_DATABASE, embedded_is_running, start_embedded_postgres
from convo_pipelines.lib.errors import ConfigError
from convo_pipelines.lib.migrations.runner import migrate
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.urls import redact_url
from convo_pipelines.lib.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
# The repository root, above convo_pipelines/cli/ (the file ships with an editable install only).
PROJECT_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"

Say = Callable[[str], None]


@dataclass(frozen=True)
class DevOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    demo: DemoSize = field(default_factory=DemoSize)


def webserver_address(environ: Mapping[str, str], host: str | None, port: int | None) -> tuple[str, int]:
    """Host and port from the flags, else DAGSTER_WEBSERVER_HOST / DAGSTER_WEBSERVER_PORT, else 127.0.0.1:3000."""
    host = host or environ.get("DAGSTER_WEBSERVER_HOST", "").strip() or DEFAULT_HOST
    if port is None:
        raw = environ.get("DAGSTER_WEBSERVER_PORT", "").strip() or str(DEFAULT_PORT)
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise ConfigError(f"DAGSTER_WEBSERVER_PORT={raw!r} is not a port: expected a number from 1 to 65535")
        port = int(raw)
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port} is not a port: expected a number from 1 to 65535")
    return host, port


def prepare_external(settings: Settings, url: str, say: Say) -> None:
    with connect(url, time_zone=settings.source_time_zone) as conn:
        require_source_tables(conn, settings, url)
        for migration in migrate(conn, settings.source_schema, settings.analytics_schema):
            say(f"applied migration {migration.version:04d}_{migration.name}")


def prepare_dagster_home(convo_home: Path) -> Path:
    """CONVO_HOME/dagster_home holding the project's dagster.yaml (refreshed on every start)."""
    if not PROJECT_DAGSTER_YAML.is_file():
        raise ConfigError(
            f"{PROJECT_DAGSTER_YAML} is missing: run `convo-pipelines dev` from an editable install of the project"
        )
    home = convo_home / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_DAGSTER_YAML, home / "dagster.yaml")
    return home


def dev_environment(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """DATABASE_URL, DAGSTER_HOME and DAGSTER_STORAGE_URL of the instance `dev` runs (which must be up in embedded mode),
    plus, in embedded mode, the PARTITIONS_START_DATE dev gives the demo (so the CLI sees the same partitions)."""
    partitions: dict[str, str] = {}
    if settings.database_url:
        storage = external_storage_url(settings.database_url, environ)
        app_url = settings.database_url
    else:
        if not embedded_is_running(settings.convo_home):
            raise ConfigError(
                f"the embedded PostgreSQL under CONVO_HOME={settings.convo_home} is not running: start `make dev` first"
            )
        app_url = start_embedded_postgres(settings.convo_home, database=EMBEDDED_APP_DATABASE)
        storage = embedded_storage_url(app_url)
        partitions = demo_partitions_start(app_url, settings, environ)
    return {
        "DATABASE_URL": app_url,
        "DAGSTER_HOME": str(prepare_dagster_home(settings.convo_home)),
        "DAGSTER_STORAGE_URL": storage,
        "CONVO_HOME": str(settings.convo_home),
        **partitions,
    }


# `dagster dev` tells whoever types it, on every start, that `dg dev` supersedes it: dev starts it itself, from
# CONVO_HOME's Dagster home with the module named, so the notice is not the user's to act on.
DAGSTER_DEV_IS_SUPERSEDED = "ignore:Function `dev_command` is superseded"


def dagster_dev_command(host: str, port: int) -> list[str]:
    return [
        *(sys.executable, "-W", DAGSTER_DEV_IS_SUPERSEDED, "-m", "dagster", "dev"),
        *("-m", "convo_pipelines.definitions", "-h", host, "-p", str(port)),
    ]


def run_dev(settings: Settings, options: DevOptions, environ: Mapping[str, str], say: Say = print) -> int:
    """Prepare the databases, then run `dagster dev` until it exits or a signal stops it; returns the exit code."""
    with ExitStack() as stack:
        app_url = stack.enter_context(app_database(settings, say))
        demo_env: dict[str, str] = {}
        first_fill: DemoFill | None = None
        if settings.database_url:
            prepare_external(settings, app_url, say)
            storage_url = external_storage_url(app_url, environ)
            as_set = environ.get("DAGSTER_STORAGE_URL", "").strip() or None
            require_usable_storage(storage_url, as_set=as_set, admin_urls=() if as_set else (app_url,), say=say)
        else:
            demo = ready_embedded_demo(settings, options.demo, environ, say)
            storage_url = demo.storage_url
            require_usable_storage(storage_url, as_set=None, say=say)
            demo_env = demo.partitions
            first_fill = demo_fill(app_url, settings, demo_env, demo.just_seeded)
        dagster_home = prepare_dagster_home(settings.convo_home)
        child_env = {
            **environ,
            **demo_env,
            "DATABASE_URL": app_url,
            "DAGSTER_STORAGE_URL": storage_url,
            "DAGSTER_HOME": str(dagster_home),
            "CONVO_HOME": str(settings.convo_home),
        }
        say(f"database: {redact_url(app_url)}")
        say(f"Dagster storage: {redact_url(storage_url)}")
        if demo_env:
            say(
                f"demo partitions start on {demo_env['PARTITIONS_START_DATE']} (the demo's first day; PARTITIONS_START_DATE overrides it)"
            )
        say(f"Dagster UI: http://{options.host}:{options.port}  (Ctrl-C stops everything)")
        companion = None
        if first_fill is not None:
            companion = partial(fill_demo_once_served, webserver_url(options.host, options.port), first_fill, say=say)
        return run_until_stopped(
            dagster_dev_command(options.host, options.port), child_env, cwd=dagster_home, say=say, companion=companion
        )
