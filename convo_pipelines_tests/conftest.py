"""Fixtures: a real PostgreSQL (embedded pgserver, or TEST_DATABASE_URL) and a fresh database per test.

Each test gets its own database cloned from a template that already holds the source tables and
every migration, so tests are isolated and can corrupt, drop or delete freely.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from convo_pipelines.db import connect, psycopg_url, with_database
from convo_pipelines.migrations import migrate
from convo_pipelines.resources import PostgresResource
from convo_pipelines.sqlfiles import render_sql

SOURCE_SCHEMA = "public"
ANALYTICS_SCHEMA = "analytics"


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An admin URL of the PostgreSQL server the suite runs against."""
    external = os.environ.get("TEST_DATABASE_URL", "").strip()
    if external:
        yield external
        return
    import pgserver

    pgdata = tmp_path_factory.mktemp("pgserver") / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    """Name of a database with the source tables and all migrations, cloned by every test."""
    name = f"convo_template_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _create_database(server_url, name)
    with connect(with_database(server_url, name)) as conn:
        conn.execute(render_sql("source/create_source_tables.sql", source=SOURCE_SCHEMA, analytics=ANALYTICS_SCHEMA))
        conn.commit()
        migrate(conn, SOURCE_SCHEMA, ANALYTICS_SCHEMA)
    try:
        yield name
    finally:
        _drop_database(server_url, name)


@pytest.fixture
def database_url(server_url: str, template_database: str) -> Iterator[str]:
    """URL of a fresh database for this test only, dropped afterwards."""
    name = f"convo_test_{uuid.uuid4().hex[:12]}"
    _create_database(server_url, name, template=template_database)
    try:
        yield with_database(server_url, name)
    finally:
        _drop_database(server_url, name)


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
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _create_database(server_url: str, name: str, template: str | None = None) -> None:
    statement = sql.SQL("create database {}").format(sql.Identifier(name))
    if template:
        statement = sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template))
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as conn:
        conn.execute(statement)


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
