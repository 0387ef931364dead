"""The embedded demo: the application's tables on the embedded PostgreSQL under CONVO_HOME, seeded once.

`convo-pipelines dev` (what `make dev` runs) and a `dagster` command run in the repository's root with
nothing set (through the storage class that dagster.yaml names) both make it ready here, so either one
finds the same data, and Dagster's storage in the same server's database `dagster`.

The demo data comes from the product's own seeder (demo_seed.py, its SQL in sql/demo/), so the demo runs on
an install of the product alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from convo_pipelines.lib.embedded.demo_seed import prepare_source, seed_demo, tables_with_rows
from convo_pipelines.lib.embedded.server import EMBEDDED_APP_DATABASE, ensure_database, start_embedded_postgres
from convo_pipelines.lib.postgres.db import connect, count_rows
from convo_pipelines.lib.postgres.sqlfiles import read_sql, render_sql
from convo_pipelines.lib.postgres.urls import dagster_storage_url, with_database
from convo_pipelines.lib.settings import Settings

EMBEDDED_STORAGE_DATABASE = "dagster"

Say = Callable[[str], None]


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


def ready_embedded_demo(settings: Settings, size: DemoSize, environ: Mapping[str, str], say: Say) -> EmbeddedDemo:
    """Start (or reuse) the embedded server, migrate, seed on the first start, and create Dagster's storage database."""
    app_url = start_embedded_postgres(settings.convo_home, database=EMBEDDED_APP_DATABASE)
    just_seeded = prepare_embedded(settings, app_url, size, say)
    ensure_database(with_database(app_url, "postgres"), EMBEDDED_STORAGE_DATABASE)
    return EmbeddedDemo(
        app_url, embedded_storage_url(app_url), demo_partitions_start(app_url, settings, environ), just_seeded
    )


def embedded_storage_url(app_url: str) -> str:
    """Dagster's storage on the embedded server whose demo database is `app_url`."""
    return dagster_storage_url(with_database(app_url, EMBEDDED_STORAGE_DATABASE))


def prepare_embedded(settings: Settings, url: str, size: DemoSize, say: Say) -> bool:
    """Create the demo tables and migrate; seed the demo only when the tables are empty (the first start).

    Returns whether the demo was seeded now. Processes that start together (`dagster dev`'s webserver and
    daemon, two terminals) take turns, so the demo is seeded once."""
    with connect(url, time_zone=settings.source_time_zone) as conn, _demo_turn(url):
        for name in prepare_source(conn, settings.source_schema, settings.analytics_schema):
            say(f"applied migration {name}")
        if tables_with_rows(conn, settings.source_schema):
            count = count_rows(conn, settings.source_schema, "front_conversations")
            say(f"reusing the existing demo data: {count:,} front conversations")
            return False
        say(f"first start: seeding a demo of {size.conversations:,} conversations")
        seed_demo(
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
