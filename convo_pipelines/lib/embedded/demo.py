"""The embedded demo: the application's tables on the embedded PostgreSQL under CONVO_HOME, seeded once.

`convo-pipelines dev` (what `make dev` runs) and a `dagster` command run in the repository's root with
nothing set (through the storage class that dagster.yaml names) both make it ready here, so either one
finds the same data, and Dagster's storage in the same server's database `dagster`.

The demo data comes from a seeder the product does not ship: the entry point `seeder` of the group
convo_pipelines.demo, which the repository's benchmarks/ registers (`make install` installs it). It is an
object with the operations of DemoSeeder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from importlib.metadata import entry_points
from typing import Protocol

import psycopg

from convo_pipelines.lib.embedded.server import EMBEDDED_APP_DATABASE, ensure_database, start_embedded_postgres
from convo_pipelines.lib.errors import ConfigError
from convo_pipelines.lib.postgres.db import connect, count_rows
from convo_pipelines.lib.postgres.sqlfiles import read_sql, render_sql
from convo_pipelines.lib.postgres.urls import dagster_storage_url, with_database
from convo_pipelines.lib.settings import Settings

EMBEDDED_STORAGE_DATABASE = "dagster"
# Where the embedded demo finds its seeder (see the module's docstring).
DEMO_GROUP = "convo_pipelines.demo"
DEMO_SEEDER = "seeder"

Say = Callable[[str], None]


class DemoSeeder(Protocol):
    """What the embedded demo asks of its seeder."""

    def prepare_source(self, conn: psycopg.Connection, source_schema: str, analytics_schema: str) -> list[str]:
        """Create the source tables when missing and apply pending migrations; returns the migrations applied."""
        ...

    def tables_with_rows(self, conn: psycopg.Connection, source_schema: str) -> list[str]:
        """The source tables it fills that already hold at least one row."""
        ...

    def seed_demo(
        self,
        conn: psycopg.Connection,
        *,
        source_schema: str,
        analytics_schema: str,
        conversations: int,
        days: int,
        seed: int,
        messages: int,
        report: Say,
    ) -> dict[str, int]:
        """Fill the empty source tables with a demo (and the crews' histories with `messages` rows); commits."""
        ...


def installed_demo_seeder(group: str = DEMO_GROUP) -> DemoSeeder:
    """The seeder an installed distribution registers; without one, a ConfigError saying what to do."""
    found = entry_points(group=group, name=DEMO_SEEDER)
    if not found:
        raise ConfigError(
            f"the embedded demo needs the benchmarks package, which holds its seeder (no entry point {DEMO_SEEDER!r} "
            f"in group {group}): run `make dev`, or `pip install -e ./benchmarks`; or set DATABASE_URL to run on your database"
        )
    if len(found) > 1:
        raise ConfigError(
            f"several demo seeders are installed ({', '.join(sorted(entry.value for entry in found))} in group {group}): "
            "uninstall all but one"
        )
    (entry,) = found
    return entry.load()


@dataclass(frozen=True)
class DemoSize:
    """What the first start seeds."""

    conversations: int = 5_000
    messages: int = 20_000
    days: int = 30
    seed: int = 1


@dataclass(frozen=True)
class EmbeddedDemo:
    """The ready demo: its database, Dagster's storage beside it, and the environment Dagster's processes need."""

    app_url: str
    storage_url: str
    # PARTITIONS_START_DATE of the demo's first day, unless the user set one.
    partitions: dict[str, str]
    just_seeded: bool


def ready_embedded_demo(
    settings: Settings, seeder: DemoSeeder, size: DemoSize, environ: Mapping[str, str], say: Say
) -> EmbeddedDemo:
    """Start (or reuse) the embedded server, migrate, seed on the first start, and create Dagster's storage database."""
    app_url = start_embedded_postgres(settings.convo_home, database=EMBEDDED_APP_DATABASE)
    just_seeded = prepare_embedded(settings, seeder, app_url, size, say)
    ensure_database(with_database(app_url, "postgres"), EMBEDDED_STORAGE_DATABASE)
    return EmbeddedDemo(
        app_url, embedded_storage_url(app_url), demo_partitions_start(app_url, settings, environ), just_seeded
    )


def embedded_storage_url(app_url: str) -> str:
    """Dagster's storage on the embedded server whose demo database is `app_url`."""
    return dagster_storage_url(with_database(app_url, EMBEDDED_STORAGE_DATABASE))


def prepare_embedded(settings: Settings, seeder: DemoSeeder, url: str, size: DemoSize, say: Say) -> bool:
    """Create the demo tables and migrate; seed the demo only when the tables are empty (the first start).

    Returns whether the demo was seeded now. Processes that start together (`dagster dev`'s webserver and
    daemon, two terminals) take turns, so the demo is seeded once."""
    with connect(url, time_zone=settings.source_time_zone) as conn, _demo_turn(url):
        for name in seeder.prepare_source(conn, settings.source_schema, settings.analytics_schema):
            say(f"applied migration {name}")
        if seeder.tables_with_rows(conn, settings.source_schema):
            count = count_rows(conn, settings.source_schema, "front_conversations")
            say(f"reusing the existing demo data: {count:,} front conversations")
            return False
        say(f"first start: seeding a demo of {size.conversations:,} conversations")
        seeder.seed_demo(
            conn,
            source_schema=settings.source_schema,
            analytics_schema=settings.analytics_schema,
            conversations=size.conversations,
            days=size.days,
            seed=size.seed,
            messages=size.messages,
            report=say,
        )
        return True


@contextmanager
def _demo_turn(url: str) -> Iterator[None]:
    # A transaction-level lock held by a transaction kept open for the span, on a connection of its own:
    # nothing outlives it, as everywhere else in the project.
    with connect(url) as holder, holder.transaction():
        holder.execute(read_sql("lib/embedded_demo/lock_demo.sql"))
        yield


def demo_first_day(url: str, settings: Settings) -> date | None:
    """The UTC day of the demo's oldest Front conversation (None for an empty demo)."""
    with connect(url, time_zone=settings.source_time_zone) as conn:
        query = render_sql(
            "lib/embedded_demo/select_demo_first_day.sql",
            source=settings.source_schema,
            analytics=settings.analytics_schema,
        )
        return conn.execute(query).fetchone()[0]


def demo_partitions_start(url: str, settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """PARTITIONS_START_DATE for the Dagster processes of the embedded demo: the demo's first day, so the
    asset graph shows the demo's days and no empty years before them. A value the user set wins."""
    if environ.get("PARTITIONS_START_DATE", "").strip():
        return {}
    first_day = demo_first_day(url, settings)
    return {"PARTITIONS_START_DATE": first_day.isoformat()} if first_day else {}
