"""Front link tables the application created and filled itself: the project adopts them instead of failing.

A Rails app created `people_front_conversations` and `clients_front_conversations` with its own migration (its role
owns them; foreign keys without ON DELETE; its own index names) and filled them with a rake task a week ago; since,
recipients came and went. The first `dagster asset materialize` backfill then applies the project's migrations and
makes both tables exact, keeping every right link's id and created_at; the app's columns, indexes, constraints and
owner stay as they are, through a rollback of every migration too, and the app's own inserts keep working. A table
missing a contract column stops `convo-pipelines migrate` and a run with one line, writing nothing. Every run is the
real dagster CLI on a real PostgreSQL; the definition is this file's SQL (rails_app.py), never the product's.
"""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from convo_pipelines.lib.migrations.runner import MigrationError, applied_versions, migrate
from convo_pipelines.lib.migrations.shipped import available_migrations
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.sqlfiles import render_sql
from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines_tests.helpers import (
    assert_one_line_error,
    dagster_cli_environment,
    fresh_database,
    materialize_front_links_command,
    roll_back_through,
    run_cli,
    url_as,
    wait_for_pipeline_lock_wait,
    wait_until,
)
from convo_pipelines_tests.rails_app import (
    CLIENTS,
    PEOPLE,
    RAILS_TABLES,
    create_rails_link_tables,
    defined_pairs,
    delete_person_as_rails,
    fill_as_the_rake_task,
    insert_link_as_rails,
    stored_links,
)
from convo_pipelines_tests.source_data import (
    SourceData,
    build_source_data,
    expected_client_links,
    expected_people_links,
)

SOURCE, ANALYTICS = "public", "analytics"
FRONT_TABLES = (PEOPLE, CLIENTS)
WRITER = "convo_pipelines_writer"
# Every Front conversation of source_data (2023-12-31 .. 2024-01-14): the first partition also takes those before it.
FIRST_DAY, LAST_DAY = "2024-01-01", "2024-01-14"
# What the project may add to an adopted table: this column (nullable, so the app's inserts still work), indexes,
# foreign keys and the unique constraints behind indexes. Anything else of the app's must stay exactly as it was.
ADDED_COLUMN = "front_conversation_created_at"
ADDABLE_CONSTRAINT_TYPES = {"f", "u"}


@dataclass
class RailsDatabase:
    admin_url: str  # the server's superuser: owns the source tables, migrates, arranges and reads
    role: str  # the app's LOGIN role, owner of its two link tables
    rails_url: str
    data: SourceData


def as_rails(url: str, autocommit: bool = True) -> psycopg.Connection:
    """A connection as the app, named so that pg_stat_activity never takes it for the pipeline's."""
    return connect(url, autocommit=autocommit, application_name="rails_app")


def execute_on_server(server_url: str, statement: sql.Composable) -> None:
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture
def server_roles(server_url: str) -> Iterator[list[str]]:
    """Roles a test creates on the server, dropped once its database is gone (roles are cluster-wide)."""
    created: list[str] = []
    yield created
    for role in reversed(created):
        execute_on_server(server_url, sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def create_login_role(server_url: str, roles: list[str], prefix: str, *granted: str) -> str:
    role = f"{prefix}_{uuid.uuid4().hex[:10]}"
    execute_on_server(server_url, sql.SQL("create role {} login").format(sql.Identifier(role)))
    roles.append(role)
    for parent in granted:
        execute_on_server(server_url, sql.SQL("grant {} to {}").format(sql.Identifier(parent), sql.Identifier(role)))
    return role


@contextmanager
def rails_database(
    server_url: str, roles: list[str], without_updated_at: tuple[str, ...] = ()
) -> Iterator[RailsDatabase]:
    """A database with the app's source tables and data, its two link tables created by its role and filled by its
    rake task, and no migration of the project."""
    role = create_login_role(server_url, roles, "rails_app")
    with fresh_database(server_url, "convo_adopt") as admin_url:
        with connect(admin_url, autocommit=True) as admin:
            admin.execute(render_sql("demo/create_source_tables.sql", source=SOURCE, analytics=ANALYTICS))
            admin.execute(sql.SQL("grant usage, create on schema public to {}").format(sql.Identifier(role)))
            admin.execute(
                sql.SQL("grant select, insert, update, delete, references on all tables in schema public to {}").format(
                    sql.Identifier(role)
                )
            )
            data = build_source_data(admin, SOURCE)
            # A server set to local time: the links' `timestamp` stamps must still be written in UTC, as Rails does.
            admin.execute(
                sql.SQL("alter database {} set timezone = 'America/New_York'").format(sql.Identifier(admin.info.dbname))
            )
        rails_url = url_as(admin_url, role)
        with as_rails(rails_url) as rails:
            create_rails_link_tables(rails, without_updated_at)
            fill_as_the_rake_task(rails, without_updated_at)
        yield RailsDatabase(admin_url, role, rails_url, data)


@pytest.fixture
def rails_db(server_url: str, server_roles: list[str]) -> Iterator[RailsDatabase]:
    """The app's database as above, whose recipients changed since the rake task ran (see change_as_the_app)."""
    with rails_database(server_url, server_roles) as database:
        with as_rails(database.rails_url) as rails:
            change_as_the_app(rails, database.data)
        yield database


def change_as_the_app(rails: psycopg.Connection, data: SourceData) -> None:
    """What the app did after its rake task: recipients removed (stale links) and added (missing links), a person
    moved to another client (stale and missing client links). Chosen in uuid order: the same rows every time."""
    linked = sorted(defined_pairs(rails, PEOPLE))
    for person, conversation in linked[:3]:
        rails.execute(
            "delete from public.front_message_recipients as recipient using public.front_messages as message, "
            "public.contact_methods as contact_method where message.id = recipient.front_message_id "
            "and contact_method.id = recipient.contact_method_id "
            "and message.front_conversation_id = %s and contact_method.person_id = %s",
            (conversation, person),
        )
    for person in sorted(set(data.people) - {data.deleted_person})[:3]:
        conversation = min(
            c
            for c in data.front_conversations
            if c != data.front_conversation_without_messages and (person, c) not in linked
        )
        rails.execute(
            "insert into public.front_message_recipients (front_message_id, contact_method_id, role) "
            "select (select min(id::text)::uuid from public.front_messages where front_conversation_id = %s), "
            "(select min(id::text)::uuid from public.contact_methods where person_id = %s), 'cc'",
            (conversation, person),
        )
    mover = linked[-1][0]
    rails.execute(
        "update public.people set client_id = (select min(id::text)::uuid from public.clients "
        "where id <> people.client_id), updated_at = now() where id = %s",
        (mover,),
    )
    for table in FRONT_TABLES:  # the scenario holds both kinds of difference in each table
        stored, defined = set(stored_links(rails, table)), defined_pairs(rails, table)
        assert stored - defined and defined - stored, table


def app_schema(conn: psycopg.Connection, table: str) -> dict[str, object]:
    """The table's columns (type, default, nullability), indexes, constraints and owner, from the catalog."""
    relation = f"{SOURCE}.{table}"
    columns = conn.execute(
        "select column_name::text, data_type::text, datetime_precision, column_default, is_nullable::text "
        "from information_schema.columns where table_schema = %s and table_name = %s",
        (SOURCE, table),
    ).fetchall()
    indexes = conn.execute(
        "select indexname::text, indexdef from pg_indexes where schemaname = %s and tablename = %s", (SOURCE, table)
    ).fetchall()
    constraints = conn.execute(
        "select conname::text, contype::text, pg_get_constraintdef(oid) from pg_constraint where conrelid = %s::regclass",
        (relation,),
    ).fetchall()
    owner = conn.execute(
        "select tableowner::text from pg_tables where schemaname = %s and tablename = %s", (SOURCE, table)
    )
    return {
        "columns": {name: rest for name, *rest in columns},
        "indexes": dict(indexes),
        "constraints": {name: tuple(rest) for name, *rest in constraints},
        "owner": owner.fetchone()[0],
    }


def indexed_column_lists(conn: psycopg.Connection, table: str) -> list[tuple[str, ...]]:
    """Each index's key columns (or expressions), in order."""
    rows = conn.execute(
        "select array(select pg_get_indexdef(i.indexrelid, k, true) from generate_series(1, i.indnkeyatts) as k "
        "order by k) from pg_index as i where i.indrelid = %s::regclass",
        (f"{SOURCE}.{table}",),
    ).fetchall()
    return [tuple(columns) for (columns,) in rows]


def assert_app_schema_kept(conn: psycopg.Connection, before: dict[str, dict], role: str) -> None:
    """Every object of the app's tables is still there exactly, the app's role owns them, and only what the project
    may add was added, without an index duplicating another."""
    for table in FRONT_TABLES:
        now, was = app_schema(conn, table), before[table]
        assert now["owner"] == was["owner"] == role, table
        for kind in ("columns", "indexes", "constraints"):
            kept = {name: now[kind].get(name) for name in was[kind]}
            assert kept == was[kind], (table, kind)
        added_columns = set(now["columns"]) - set(was["columns"])
        assert added_columns <= {ADDED_COLUMN}, (table, added_columns)
        if ADDED_COLUMN in added_columns:
            assert now["columns"][ADDED_COLUMN][-1] == "YES", f"{table}.{ADDED_COLUMN} must stay nullable"
        added_constraints = {
            name: now["constraints"][name][0] for name in set(now["constraints"]) - set(was["constraints"])
        }
        assert set(added_constraints.values()) <= ADDABLE_CONSTRAINT_TYPES, (table, added_constraints)
        duplicated = [columns for columns, count in Counter(indexed_column_lists(conn, table)).items() if count > 1]
        assert duplicated == [], (table, duplicated, now["indexes"])


def assert_exact(conn: psycopg.Connection) -> dict[str, dict]:
    """Both tables hold exactly the definition; returns their links."""
    links = {table: stored_links(conn, table) for table in FRONT_TABLES}
    for table in FRONT_TABLES:
        stored, defined = set(links[table]), defined_pairs(conn, table)
        assert (stored - defined, defined - stored) == (set(), set()), f"{table}: (stale, missing) links"
    return links


def snapshot(conn: psycopg.Connection) -> tuple[dict[str, dict], dict[str, dict]]:
    return {t: stored_links(conn, t) for t in FRONT_TABLES}, {t: app_schema(conn, t) for t in FRONT_TABLES}


def pipeline_sessions(conn: psycopg.Connection) -> int:
    return conn.execute(
        "select count(*) from pg_stat_activity where datname = current_database() "
        "and application_name = 'convo_pipelines'"
    ).fetchone()[0]


def materialize_command_env(url: str, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    command = materialize_front_links_command(FIRST_DAY, LAST_DAY)
    return command, dagster_cli_environment(tmp_path, DATABASE_URL=url, PARTITIONS_START_DATE=FIRST_DAY)


def materialize(url: str, tmp_path: Path, project_root: Path) -> subprocess.CompletedProcess:
    """The dagster CLI's backfill of both Front link tables over every day of the data, as DATABASE_URL's role."""
    command, environ = materialize_command_env(url, tmp_path)
    return subprocess.run(command, cwd=project_root, env=environ, capture_output=True, text=True, timeout=300)


def assert_succeeded(completed: subprocess.CompletedProcess) -> None:
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-5000:]


def kept_identities(before: dict[tuple, tuple], after: dict[tuple, tuple], defined: set) -> dict[tuple, tuple]:
    """The (id, created_at) of each link right before the run that changed since: {pair: (before, after)}."""
    return {
        pair: (before[pair][:2], after.get(pair, (None, None))[:2])
        for pair in set(before) & defined
        if after.get(pair, (None, None))[:2] != before[pair][:2]
    }


# ---------------------------------------------------------------------------------------------
# The first backfill


def test_the_first_cli_backfill_adopts_the_apps_tables_keeping_right_links_and_fixing_the_rest(
    rails_db: RailsDatabase, tmp_path: Path, project_root: Path
) -> None:
    with connect(rails_db.admin_url, autocommit=True) as admin:
        # This file's SQL definition is the independent oracle's (source_data.py), before any run.
        assert defined_pairs(admin, PEOPLE) == expected_people_links(admin, SOURCE)
        assert defined_pairs(admin, CLIENTS) == expected_client_links(admin, SOURCE)
        links_before, schema_before = snapshot(admin)

    assert_succeeded(materialize(rails_db.admin_url, tmp_path, project_root))

    with connect(rails_db.admin_url, autocommit=True) as admin:
        assert applied_versions(admin, SOURCE) == [m.version for m in available_migrations()]
        links_after = assert_exact(admin)
        for table in FRONT_TABLES:
            before, after, defined = links_before[table], links_after[table], defined_pairs(admin, table)
            assert kept_identities(before, after, defined) == {}, table
            assert not set(before) - defined & set(after), table  # the stale links are gone
            added = {pair: after[pair] for pair in defined - set(before)}
            rake_stamp = max(created for _, created, _ in before.values())
            assert added and all(
                created is not None and updated is not None and created > rake_stamp + timedelta(days=1)
                for _, created, updated in added.values()
            ), (table, added)
            # Written in UTC whatever the server's TimeZone: at most the run's length before the UTC clock, not
            # the five hours New York's wall time would put them behind.
            utc_now = admin.execute("select (now() at time zone 'utc')::timestamp").fetchone()[0]
            assert all(utc_now - timedelta(minutes=10) < created <= utc_now for _, created, _ in added.values()), (
                table,
                utc_now,
                added,
            )
            # The new links' ids are new: none of the app's ids is reused for another pair.
            assert not {row[0] for row in added.values()} & {row[0] for row in before.values()}, table
        assert_app_schema_kept(admin, schema_before, rails_db.role)


def test_the_apps_own_insert_keeps_working_and_a_later_run_keeps_its_row(
    rails_db: RailsDatabase, tmp_path: Path, project_root: Path
) -> None:
    with connect(rails_db.admin_url, autocommit=True) as admin:
        _, schema_before = snapshot(admin)
    assert_succeeded(materialize(rails_db.admin_url, tmp_path, project_root))

    # The app removes a link of the definition and creates it again, naming only its own columns, as its role.
    inserted = {}
    with as_rails(rails_db.rails_url) as rails:
        for table in FRONT_TABLES:
            pair = min(defined_pairs(rails, table))
            owner_column = RAILS_TABLES[table].owner_column
            rails.execute(
                sql.SQL("delete from {} where {} = %s and front_conversation_id = %s").format(
                    sql.Identifier(SOURCE, table), sql.Identifier(owner_column)
                ),
                pair,
            )
            inserted[table] = (pair, insert_link_as_rails(rails, table, *pair))

    assert_succeeded(materialize(rails_db.admin_url, tmp_path, project_root))
    with connect(rails_db.admin_url, autocommit=True) as admin:
        links = assert_exact(admin)
        for table, (pair, link_id) in inserted.items():
            assert links[table][pair][0] == link_id, table
        assert_app_schema_kept(admin, schema_before, rails_db.role)


def test_rolling_back_every_migration_leaves_the_apps_tables_rows_and_schema(
    rails_db: RailsDatabase, tmp_path: Path, project_root: Path
) -> None:
    with connect(rails_db.admin_url, autocommit=True) as admin:
        _, schema_before = snapshot(admin)
    assert_succeeded(materialize(rails_db.admin_url, tmp_path, project_root))
    every_version = [m.version for m in available_migrations()]

    with connect(rails_db.admin_url) as conn:
        links_after_run = {t: stored_links(conn, t) for t in FRONT_TABLES}
        assert roll_back_through(conn, every_version[0], SOURCE, ANALYTICS) == every_version
        assert applied_versions(conn, SOURCE) == []
        conn.commit()
    with connect(rails_db.admin_url, autocommit=True) as admin:
        for table in FRONT_TABLES:
            assert admin.execute("select to_regclass(%s) is not null", (f"{SOURCE}.{table}",)).fetchone()[0], table
            rows = {pair: row[:2] for pair, row in stored_links(admin, table).items()}
            assert rows == {pair: row[:2] for pair, row in links_after_run[table].items()}, table
        assert_app_schema_kept(admin, schema_before, rails_db.role)

    # Migrating again adopts them again, still keeping every row.
    with connect(rails_db.admin_url) as conn:
        assert [m.version for m in migrate(conn, SOURCE, ANALYTICS)] == every_version
    with connect(rails_db.admin_url, autocommit=True) as admin:
        for table in FRONT_TABLES:
            assert {pair: row[0] for pair, row in stored_links(admin, table).items()} == {
                pair: row[0] for pair, row in links_after_run[table].items()
            }, table
        assert_app_schema_kept(admin, schema_before, rails_db.role)


# ---------------------------------------------------------------------------------------------
# A table without a contract column


@pytest.fixture
def rails_db_without_updated_at(server_url: str, server_roles: list[str]) -> Iterator[RailsDatabase]:
    with rails_database(server_url, server_roles, without_updated_at=(PEOPLE,)) as database:
        yield database


def test_a_link_table_missing_a_contract_column_stops_migrate_and_runs_with_one_line(
    rails_db_without_updated_at: RailsDatabase, tmp_path: Path, project_root: Path
) -> None:
    database = rails_db_without_updated_at
    with connect(database.admin_url, autocommit=True) as admin:
        links_before, schema_before = snapshot_without_updated_at(admin)

    migrated = run_cli("migrate", DATABASE_URL=database.admin_url)
    assert_one_line_error(migrated, PEOPLE, "updated_at")
    assert_nothing_written(database, links_before, schema_before)

    command, environ = materialize_command_env(database.admin_url, tmp_path)
    completed = subprocess.run(command, cwd=project_root, env=environ, capture_output=True, text=True, timeout=300)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output[-5000:]
    # The step fails with one line naming the table and the column, found before any DDL: no database error.
    assert any(PEOPLE in line and "updated_at" in line for line in output.splitlines()), output[-5000:]
    for database_error in ("psycopg.errors", "DuplicateTable", "already exists"):
        assert database_error not in output, output[-5000:]
    last_line = completed.stderr.strip().splitlines()[-1]
    assert not last_line.startswith((" ", "Traceback", "psycopg")) and 'File "' not in last_line, last_line
    assert_nothing_written(database, links_before, schema_before)


def snapshot_without_updated_at(conn: psycopg.Connection) -> tuple[dict[str, set], dict[str, dict]]:
    rows = {
        table: set(conn.execute(sql.SQL("select * from {}").format(sql.Identifier(SOURCE, table))).fetchall())
        for table in FRONT_TABLES
    }
    return rows, {table: app_schema(conn, table) for table in FRONT_TABLES}


def assert_nothing_written(database: RailsDatabase, links_before: dict, schema_before: dict) -> None:
    """No project object, no migration recorded, and the app's tables exactly as they were."""
    with connect(database.admin_url, autocommit=True) as admin:
        created = admin.execute(
            "select to_regclass('public.project_conversations') is not null, "
            "exists (select 1 from pg_namespace where nspname = %s)",
            (ANALYTICS,),
        ).fetchone()
        assert created == (False, False)
        if admin.execute("select to_regclass('public.convo_pipelines_migrations') is not null").fetchone()[0]:
            assert admin.execute("select count(*) from public.convo_pipelines_migrations").fetchone()[0] == 0
        assert snapshot_without_updated_at(admin) == (links_before, schema_before)


# ---------------------------------------------------------------------------------------------
# The app's deletes beside a least-privileged run


def test_a_person_the_app_deletes_during_a_least_privileged_run_never_fails_it(
    rails_db: RailsDatabase, server_url: str, server_roles: list[str], tmp_path: Path, project_root: Path
) -> None:
    """The app's foreign keys have no ON DELETE: it deletes a person's links, then the person, in one transaction.
    Here that transaction is open while the run (a login role holding only the writer role, after the owner
    migrated) must insert a new link of that person, and commits once the run waits on it."""
    with connect(rails_db.admin_url, autocommit=True) as admin:
        _, schema_before = snapshot(admin)
    migrated = run_cli("migrate", DATABASE_URL=rails_db.admin_url)
    assert migrated.returncode == 0, migrated.stderr
    login = create_login_role(server_url, server_roles, "convo_login", WRITER)
    login_url = url_as(rails_db.admin_url, login)
    data = rails_db.data

    with connect(rails_db.admin_url, autocommit=True) as admin:
        # The person the app deletes has right links and a missing one, and no stale one (the run would wait to
        # delete that instead): the run inserts the missing link, and its foreign-key check meets the app's delete.
        stored, defined = set(stored_links(admin, PEOPLE)), defined_pairs(admin, PEOPLE)
        with_stale_links = {p for p, _ in stored - defined} | {data.people[0]}
        person = min(p for p, _ in defined - stored if p not in with_stale_links)
        assert any(p == person for p, _ in stored & defined)

    outcome: dict[str, subprocess.CompletedProcess] = {}
    command, environ = materialize_command_env(login_url, tmp_path)
    with (
        as_rails(rails_db.rails_url, autocommit=False) as app_transaction,
        connect(rails_db.admin_url, autocommit=True, application_name="test_watcher") as watcher,
    ):
        app_transaction.execute(f"delete from public.{PEOPLE} where person_id = %s", (person,))
        app_transaction.execute("delete from public.people where id = %s", (person,))
        runner = threading.Thread(
            target=lambda: outcome.setdefault(
                "run",
                subprocess.run(command, cwd=project_root, env=environ, capture_output=True, text=True, timeout=300),
            )
        )
        runner.start()
        try:
            # The dagster CLI takes a while to start on a busy machine: wait for the run's first session, then for
            # it to wait on a lock (its insert of the person's new link, checked by the app's foreign key).
            wait_until(lambda: pipeline_sessions(watcher) or not runner.is_alive(), timeout=240)
            waited = wait_for_pipeline_lock_wait(watcher, runner)
        finally:
            app_transaction.commit()
            runner.join()
    assert_succeeded(outcome["run"])
    assert waited, "the run never waited on the app's open delete"

    # After the run, the app deletes another person the same way; the next run makes both tables exact.
    with as_rails(rails_db.rails_url) as rails:
        delete_person_as_rails(rails, data.people[0])
    with connect(rails_db.admin_url, autocommit=True) as admin:
        links_before = {t: stored_links(admin, t) for t in FRONT_TABLES}
    assert_succeeded(materialize(login_url, tmp_path, project_root))
    with connect(rails_db.admin_url, autocommit=True) as admin:
        links_after = assert_exact(admin)
        assert not any(p in (person, data.people[0]) for p, _ in links_after[PEOPLE])
        for table in FRONT_TABLES:
            assert kept_identities(links_before[table], links_after[table], defined_pairs(admin, table)) == {}
        assert_app_schema_kept(admin, schema_before, rails_db.role)


def test_an_app_column_the_inserts_cannot_fill_is_named_before_any_write_and_pairs_stored_twice_stop_0010(
    rails_db_without_updated_at: RailsDatabase,
) -> None:
    with connect(rails_db_without_updated_at.admin_url, autocommit=True) as admin:
        admin.execute(f"alter table {SOURCE}.{CLIENTS} add column role text not null default 'to'")
        admin.execute(f"alter table {SOURCE}.{CLIENTS} alter column role drop default")
        with pytest.raises(MigrationError) as raised:
            migrate(admin, SOURCE, ANALYTICS)
        assert admin.execute("select to_regclass('public.project_conversations')").fetchone()[0] is None
        assert f"{SOURCE}.{PEOPLE} has no column updated_at" in str(raised.value)
        assert f"{SOURCE}.{CLIENTS} column role is NOT NULL without a default" in str(raised.value)

        # Fixed, but with no unique index on the client pairs and one pair stored twice: the unique index the
        # project builds is refused by name, the migrations before it stay applied, and once the app removes
        # the extra row, migrate goes on.
        admin.execute(f"alter table {SOURCE}.{CLIENTS} alter column role set default 'to'")
        admin.execute(f"alter table {SOURCE}.{PEOPLE} add column updated_at timestamp(6) not null default now()")
        admin.execute(f"drop index {SOURCE}.idx_client_front_conversation")
        twice = admin.execute(
            f"insert into {SOURCE}.{CLIENTS} (client_id, front_conversation_id, created_at, updated_at) "
            f"select client_id, front_conversation_id, created_at, updated_at from {SOURCE}.{CLIENTS} limit 1 "
            "returning id"
        ).fetchone()[0]
        with pytest.raises(MigrationError, match=r"migration 0008.*conversation_client_key cannot be built"):
            migrate(admin, SOURCE, ANALYTICS)
        # 0008 is the first migration to build that index (0010 would build it too).
        assert applied_versions(admin, SOURCE) == [m.version for m in available_migrations() if m.version < 8]
        admin.execute(f"delete from {SOURCE}.{CLIENTS} where id = %s", (twice,))
        migrate(admin, SOURCE, ANALYTICS)
        assert applied_versions(admin, SOURCE) == [m.version for m in available_migrations()]
