"""convo_pipelines_writer, proven: a LOGIN role granted only that role runs every kind of run exactly
(the link tables' first fill and re-runs, the histories backfill and discovery ticks, the checks, the
late-change sensor), cannot write, alter or index a source table, and is told the exact GRANT a crew's
unreadable histories table needs. Also: migration 0005 applied by a non-superuser CREATEROLE database owner.

Roles are cluster-wide: each test's login role is dropped after its database (it owns nothing there);
convo_pipelines_writer itself is never dropped, other databases on the server use it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from convo_pipelines.defs.histories.schedules import conversation_discovery_schedule
from convo_pipelines.defs.links.config import FrontLinksConfig
from convo_pipelines.defs.links.first_fill import resume_first_fill, stage_first_fill
from convo_pipelines.defs.links.front_inserts import insert_first_fill_links
from convo_pipelines.defs.links.sensors import link_tables_late_changes_sensor
from convo_pipelines.defs.links.table_state.indexes import in_front_transaction
from convo_pipelines.defs.links.tables import BEGINNING_OF_TIME, PEOPLE_LINKS
from convo_pipelines.defs.links.windows import day_chunks
from convo_pipelines.defs.partitions import partition_range_tags
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.migrations.runner import applied_versions, migrate, rollback_last
from convo_pipelines.lib.migrations.shipped import available_migrations
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.sqlfiles import render_sql
from convo_pipelines.lib.postgres.urls import psycopg_url, with_database
from convo_pipelines_tests.helpers import definitions_bound_to, fresh_database, roll_back_through, url_as
from convo_pipelines_tests.histories_data import (
    UNDATABLE_TABLE,
    HistoriesTableSpec,
    Scenario,
    actual_sessions,
    actual_summaries,
    build_scenario,
    create_client,
    create_crew,
    create_histories_table,
    generated_rows,
    insert_messages,
    langchain,
    oracle_sessions,
    oracle_summaries,
    utc,
)
from convo_pipelines_tests.links.link_runs import metadata_of, writes_of
from convo_pipelines_tests.source_data import (
    SOURCE_TABLES,
    assert_links_exact,
    build_source_data,
    expected_client_links,
    expected_people_links,
    expected_project_links,
    link_pairs,
    project_link_rows,
    source_checksums,
)

WRITER = "convo_pipelines_writer"
SOURCE, ANALYTICS = "public", "analytics"
LINK_TABLES = ("people_front_conversations", "clients_front_conversations", "project_conversations")
FRONT_TABLES = LINK_TABLES[:2]
REFERENCED_TABLES = ("people", "clients", "front_conversations", "projects", "conversations", "users")
FOREIGN_KEYS = {"people_front_conversations": 2, "clients_front_conversations": 2, "project_conversations": 3}
DATA_RANGE = ("2024-01-01", "2024-01-15")  # every Front conversation of source_data (the first day takes older ones)
HISTORIES_RANGE = ("2024-03-01", "2024-03-20")  # every message of histories_data's scenario


@dataclass(frozen=True)
class WriterLogin:
    role: str
    admin_url: str  # this test's database as the server's superuser: arranges data and reads results
    url: str  # the same database as the login role


# The migration that creates convo_pipelines_writer; later ones are rolled back with it and re-applied.
WRITER_ROLE_MIGRATION = 5


def execute_as_admin(server_url: str, statement: sql.Composable) -> None:
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as admin:
        admin.execute(statement)


@pytest.fixture
def writer_login(server_url: str, template_database: str) -> Iterator[WriterLogin]:
    """A LOGIN role granted only convo_pipelines_writer, and a fresh migrated database; the role is
    dropped once the database is gone."""
    role = f"convo_login_{uuid.uuid4().hex[:12]}"
    execute_as_admin(server_url, sql.SQL("create role {} login").format(sql.Identifier(role)))
    try:
        execute_as_admin(server_url, sql.SQL("grant {} to {}").format(sql.Identifier(WRITER), sql.Identifier(role)))
        with fresh_database(server_url, "convo_privileges", template=template_database) as admin_url:
            yield WriterLogin(role, admin_url, url_as(admin_url, role))
    finally:
        execute_as_admin(server_url, sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


@pytest.fixture
def admin(writer_login: WriterLogin) -> Iterator[psycopg.Connection]:
    with connect(writer_login.admin_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def login_postgres(writer_login: WriterLogin) -> PostgresResource:
    return PostgresResource(database_url=writer_login.url, source_schema=SOURCE, analytics_schema=ANALYTICS)


@pytest.fixture
def login_definitions(login_postgres: PostgresResource) -> dg.Definitions:
    """The project's definitions with every run, check, schedule and sensor connecting as the login role."""
    return definitions_bound_to(login_postgres)


def run_job(
    definitions: dg.Definitions,
    job: str,
    tags: dict | None = None,
    partition_key: str | None = None,
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    result = definitions.resolve_job_def(job).execute_in_process(
        tags=tags, partition_key=partition_key, run_config=run_config, instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    return result


def failed_checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dict]:
    return {
        (e.asset_key.to_user_string(), e.check_name): {key: value.value for key, value in e.metadata.items()}
        for e in result.get_asset_check_evaluations()
        # late_change_indexes warns about the source's indexes (a DBA's to add), whatever role runs.
        if not e.passed and e.check_name != "late_change_indexes"
    }


def link_foreign_keys(conn: psycopg.Connection, table: str) -> list[bool]:
    """Whether each foreign key of a link table is validated."""
    rows = conn.execute(
        "select convalidated from pg_constraint where contype = 'f' and conrelid = %s::regclass order by conname",
        (f"{SOURCE}.{table}",),
    ).fetchall()
    return [row[0] for row in rows]


def grant_select(conn: psycopg.Connection, table: str) -> None:
    """What a DBA runs for a crew's histories table created after the migration (README)."""
    conn.execute(sql.SQL("grant select on {} to {}").format(sql.Identifier(SOURCE, table), sql.Identifier(WRITER)))


# ---------------------------------------------------------------------------------------------
# What the roles hold


def test_the_login_role_holds_only_the_writer_role_and_the_writer_only_what_runs_need(admin, writer_login) -> None:
    with connect(writer_login.url) as login:
        assert login.execute("select current_user, session_user").fetchone() == (writer_login.role, writer_login.role)
    memberships = admin.execute(
        "select roleid::regrole::text from pg_auth_members where member = %s::regrole", (writer_login.role,)
    ).fetchall()
    assert memberships == [(WRITER,)]
    attributes = {
        row[0]: row[1:]
        for row in admin.execute(
            "select rolname::text, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication "
            "from pg_roles where rolname in (%s, %s)",
            (writer_login.role, WRITER),
        )
    }
    assert attributes == {writer_login.role: (True, *(False,) * 5), WRITER: (False,) * 6}
    assert (
        admin.execute("select count(*) from pg_auth_members where member = %s::regrole", (WRITER,)).fetchone()[0] == 0
    )

    # Granted on tables of the source schema: SELECT on what runs read, REFERENCES on what the links point at.
    granted = set(
        admin.execute(
            "select rel.relname::text, acl.privilege_type from pg_class as rel "
            "cross join aclexplode(rel.relacl) as acl "
            "where rel.relnamespace = %s::regnamespace and acl.grantee = %s::regrole",
            (SOURCE, WRITER),
        ).fetchall()
    )
    assert granted == {(table, "SELECT") for table in SOURCE_TABLES} | {
        (table, "REFERENCES") for table in REFERENCED_TABLES
    }
    schema_privileges = admin.execute(
        "select nspname::text, has_schema_privilege(%s, oid, 'USAGE'), has_schema_privilege(%s, oid, 'CREATE') "
        "from pg_namespace where nspname in (%s, %s) order by nspname",
        (WRITER, WRITER, SOURCE, ANALYTICS),
    ).fetchall()
    assert schema_privileges == [(ANALYTICS, True, True), (SOURCE, True, False)]
    assert admin.execute("select has_database_privilege(%s, current_database(), 'CREATE')", (WRITER,)).fetchone() == (
        False,
    )

    # Owned: the project's objects, nothing of the application's.
    owned = set(
        admin.execute(
            "select relnamespace::regnamespace::text, relname::text from pg_class "
            "where relowner = %s::regrole and relkind in ('r', 'p', 'v', 'm', 'S', 'f')",
            (WRITER,),
        ).fetchall()
    )
    assert owned == {
        *((SOURCE, table) for table in (*LINK_TABLES, "convo_pipelines_migrations")),
        (ANALYTICS, "histories_sessions"),
        (ANALYTICS, "conversation_summaries"),
        (ANALYTICS, "daily_conversation_stats"),
        (ANALYTICS, "histories_id_ranges"),
    }
    schema_owner = admin.execute(
        "select nspowner::regrole::text from pg_namespace where nspname = %s", (ANALYTICS,)
    ).fetchone()
    function_owner = admin.execute(
        "select proowner::regrole::text from pg_proc where proname = 'parse_json_or_null'"
    ).fetchone()
    assert schema_owner == function_owner == (WRITER,)


def test_analytics_reader_still_reads_the_analytics_tables_and_those_the_writer_creates_later(
    admin, writer_login
) -> None:
    with connect(writer_login.url, autocommit=True) as login:
        # A table the writer itself creates there (0005's default privileges for the writer).
        login.execute("set role convo_pipelines_writer")
        login.execute("create table analytics.created_later (id integer)")
    admin.execute("set role analytics_reader")
    for relation in ("histories_sessions", "conversation_summaries", "daily_conversation_stats", "created_later"):
        admin.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(ANALYTICS, relation)))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        admin.execute("insert into analytics.created_later values (1)")
    admin.execute("reset role")


# ---------------------------------------------------------------------------------------------
# Every kind of run, as the login role


def test_link_runs_as_the_login_role_fill_add_foreign_keys_rerun_and_reconcile_exactly(
    admin, login_definitions
) -> None:
    data = build_source_data(admin, SOURCE)
    before = source_checksums(admin, SOURCE)

    first = run_job(login_definitions, "front_links_job", tags=partition_range_tags(*DATA_RANGE))
    for table in FRONT_TABLES:
        meta = metadata_of(first, table)
        assert (meta["mode"], meta["rows_deleted_in_range"]) == ("bulk", 0)
        # The first fill added the table's foreign keys (ownership of the link table + REFERENCES) and validated them.
        assert link_foreign_keys(admin, table) == [True] * FOREIGN_KEYS[table]
    assert link_pairs(admin, SOURCE, "people_front_conversations") == expected_people_links(admin, SOURCE)
    assert link_pairs(admin, SOURCE, "clients_front_conversations") == expected_client_links(admin, SOURCE)
    assert failed_checks(first) == {}
    assert (
        len(first.get_asset_check_evaluations()) == 7
    )  # 3 per Front link table, plus late_change_indexes on the people links

    again = run_job(login_definitions, "front_links_job", tags=partition_range_tags(*DATA_RANGE))
    for table in FRONT_TABLES:
        assert writes_of(again, table) == ("diff", 0, 0, 0)
    one_day = run_job(login_definitions, "front_links_job", partition_key="2024-01-10")
    assert metadata_of(one_day, "people_front_conversations")["rows_in_range"] > 0
    assert failed_checks(again) == failed_checks(one_day) == {}

    project_fill = run_job(login_definitions, "project_links_job")
    assert metadata_of(project_fill, "project_conversations")["mode"] == "bulk"
    assert link_foreign_keys(admin, "project_conversations") == [True] * FOREIGN_KEYS["project_conversations"]
    # The dataset's projects.conversation_ids drift on purpose: only that WARN check fails.
    assert set(failed_checks(project_fill)) == {("project_conversations", "array_consistency")}
    assert source_checksums(admin, SOURCE) == before

    # The application moves a conversation to another project; the reconcile moves its link.
    moved = next(cid for cid, project in data.conversations.items() if project == data.userless_project)
    admin.execute(
        "update public.conversations set project_id = %s, updated_at = now() where id = %s",
        (data.stale_array_project, moved),
    )
    reconcile = run_job(login_definitions, "project_links_job")
    meta = metadata_of(reconcile, "project_conversations")
    assert (meta["mode"], meta["rows_moved"], meta["rows_inserted"], meta["rows_deleted"]) == ("diff", 1, 0, 0)
    assert project_link_rows(admin, SOURCE)[moved][1] == data.stale_array_project
    assert_links_exact(admin, SOURCE)
    assert {(p, c, a) for c, (_, p, _, a) in project_link_rows(admin, SOURCE).items()} == expected_project_links(
        admin, SOURCE
    )


def test_a_fill_killed_under_another_role_is_taken_over_by_the_login_role_and_ends_exact(
    admin, writer_login, login_definitions
) -> None:
    """The staged pairs of a fill killed under another role (the admin's, which could go on with them) are the login
    role's to drop, as a member of the analytics schema's owner, not to comment on: its fill diffs instead."""
    build_source_data(admin, SOURCE)
    other = PostgresResource(database_url=writer_login.admin_url, source_schema=SOURCE, analytics_schema=ANALYTICS)
    with other.session(autocommit=True) as session:
        end = datetime(2024, 1, 16, tzinfo=UTC)  # DATA_RANGE's window, from the beginning of time
        chunks = day_chunks(
            session, "front_conversations", BEGINNING_OF_TIME, end, FrontLinksConfig().max_fill_chunk_conversations
        )
        killed = stage_first_fill(session, PEOPLE_LINKS, chunks, 2)
        first_slice = {"after_position": 0, "slice_links": 2}
        work = lambda _owns: insert_first_fill_links(session, PEOPLE_LINKS, first_slice)  # noqa: E731
        inserted = in_front_transaction(session, PEOPLE_LINKS, work, staged=killed)
        assert resume_first_fill(session, PEOPLE_LINKS, chunks)[1] == inserted

    run = run_job(login_definitions, "front_links_job", tags=partition_range_tags(*DATA_RANGE))

    assert metadata_of(run, "people_front_conversations")["rows_inserted_in_range"] == killed.pairs - inserted
    assert admin.execute("select to_regclass('analytics.people_front_conversations_first_fill')").fetchone() == (None,)
    assert link_pairs(admin, SOURCE, "people_front_conversations") == expected_people_links(admin, SOURCE)
    assert failed_checks(run) == {}


def test_a_late_change_sensor_tick_as_the_login_role_requests_runs_that_make_the_links_exact(
    admin, login_definitions, login_postgres
) -> None:
    data = build_source_data(admin, SOURCE)
    run_job(login_definitions, "front_links_job", tags=partition_range_tags(*DATA_RANGE))
    run_job(login_definitions, "project_links_job")
    now = admin.execute("select now()").fetchone()[0]
    # Late changes 10 minutes ago to rows created a day before: an unresolved participant is resolved to a
    # person, a conversation changes project.
    admin.execute(
        "update public.contact_methods set person_id = %s, updated_at = %s, created_at = created_at - interval '1 day' where id = %s",
        (data.people[1], now - timedelta(minutes=10), data.unresolved_contact_methods[0]),
    )
    moved = next(cid for cid, project in data.conversations.items() if project == data.userless_project)
    admin.execute(
        "update public.conversations set project_id = %s, updated_at = %s, created_at = created_at - interval '1 day' where id = %s",
        (data.stale_array_project, now - timedelta(minutes=10), moved),
    )
    cursor = json.dumps({"changes_through": (now - timedelta(minutes=20)).isoformat()})
    links_before = link_pairs(admin, SOURCE, "people_front_conversations")
    with dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        resources={"postgres": login_postgres},
        definitions=login_definitions,
    ) as context:
        tick = link_tables_late_changes_sensor.evaluate_tick(context)
    assert {request.job_name for request in tick.run_requests} == {"front_links_job", "project_links_job"}
    for request in tick.run_requests:
        result = run_job(
            login_definitions,
            request.job_name,
            tags=request.tags,
            partition_key=request.partition_key,
            run_config=request.run_config,
        )
        assert set(failed_checks(result)) <= {("project_conversations", "array_consistency")}
    assert_links_exact(admin, SOURCE)
    # The resolved participant now links person 1 to conversations it did not before.
    gained = link_pairs(admin, SOURCE, "people_front_conversations") - links_before
    assert gained and {person for person, _ in gained} == {data.people[1]}
    assert project_link_rows(admin, SOURCE)[moved][1] == data.stale_array_project


def test_a_histories_backfill_as_the_login_role_reads_the_crews_tables_0005_granted(
    admin, login_definitions, writer_login
) -> None:
    scenario = build_scenario(admin, date(2024, 3, 1))
    # The crews' tables exist now: re-applying 0005 grants SELECT on each valid, existing one (not a hostile name).
    with connect(writer_login.admin_url) as conn:
        undone = roll_back_through(conn, WRITER_ROLE_MIGRATION, SOURCE, ANALYTICS)
        assert [m.version for m in migrate(conn, SOURCE, ANALYTICS)] == undone
    # Readable beyond the tables runs read and those the writer owns: the crews' tables, invalid names excepted.
    readable = admin.execute(
        "select relname::text from pg_class where relnamespace = %s::regnamespace and relkind = 'r' "
        "and relowner <> %s::regrole and not relname = any(%s) and has_table_privilege(%s, oid, 'SELECT')",
        (SOURCE, WRITER, list(SOURCE_TABLES), WRITER),
    ).fetchall()
    assert {table for (table,) in readable} == {*scenario.good.values(), UNDATABLE_TABLE.name}

    result = run_job(login_definitions, "conversation_discovery_job", tags=partition_range_tags(*HISTORIES_RANGE))
    assert actual_sessions(admin) == oracle_sessions(admin, scenario)
    assert actual_summaries(admin) == oracle_summaries(admin, scenario)
    meta = metadata_of(result, "histories_sessions")
    assert (meta["crews_processed"], meta["crews_failed"]) == (3, 3)
    reasons = {row["crew"]: row.get("reason", "") for row in meta["crews"]}
    assert not any("cannot read" in reason or "query failed" in reason for reason in reasons.values()), reasons
    # Only the checks that report skipped crews fail, naming exactly the three bad ones (none for a privilege).
    failed = failed_checks(result)
    assert set(failed) == {("histories_sessions", "histories_tables_valid"), ("histories_sessions", "discovery_fresh")}
    assert set(failed[("histories_sessions", "histories_tables_valid")]["bad_crews"]) == set(scenario.bad)
    stats = admin.execute("select sum(sessions), sum(messages) from analytics.daily_conversation_stats").fetchone()
    assert stats == (len(actual_sessions(admin)), sum(row[4] for row in actual_sessions(admin)))


def test_discovery_ticks_as_the_login_role_discover_exactly(admin, login_definitions) -> None:
    create_client(admin, "acme")
    create_histories_table(admin, HistoriesTableSpec("late_histories"))
    create_crew(admin, "late", "acme", "late_histories")
    grant_select(admin, "late_histories")  # a crew's table created after the migration
    session = "99999999-9999-9999-9999-999999999999"
    insert_messages(
        admin,
        "late_histories",
        [
            (session, utc(2024, 3, 1, 23, 59, 58), langchain("human", "still there?")),
            (session, utc(2024, 3, 2, 0, 0, 40), langchain("ai", "yes")),
        ],
    )

    def tick(moment: datetime) -> dg.ExecuteInProcessResult:
        with dg.build_schedule_context(
            scheduled_execution_time=moment, repository_def=login_definitions.get_repository_def()
        ) as context:
            [request] = conversation_discovery_schedule.evaluate_tick(context).run_requests
        return run_job(
            login_definitions, "conversation_discovery_job", tags=request.tags, run_config=request.run_config
        )

    midnight = tick(datetime(2024, 3, 2, 0, 2, tzinfo=UTC))
    assert metadata_of(midnight, "histories_sessions")["mode"] == "full"
    insert_messages(admin, "late_histories", [(session, utc(2024, 3, 2, 0, 6), langchain("human", "thanks"))])
    later = tick(datetime(2024, 3, 2, 0, 10, tzinfo=UTC))
    assert metadata_of(later, "histories_sessions")["mode"] == "incremental"
    scenario = Scenario(good={"late": "late_histories"}, clients={"late": "acme"})
    assert actual_sessions(admin) == oracle_sessions(admin, scenario)
    assert actual_summaries(admin) == oracle_summaries(admin, scenario)
    assert failed_checks(midnight) == failed_checks(later) == {}


# ---------------------------------------------------------------------------------------------
# What the role cannot do


WRITES = {
    "insert": "insert into {} default values",
    "update": "update {} set id = id",
    "delete": "delete from {}",
    "truncate": "truncate {}",
    "alter": "alter table {} add column convo_probe integer",
    "create index": "create index on {} (id)",
}


def test_the_login_role_cannot_write_alter_or_index_any_source_table(admin, writer_login) -> None:
    create_histories_table(admin, HistoriesTableSpec("readable_histories"))
    grant_select(admin, "readable_histories")
    tables = (*SOURCE_TABLES, "readable_histories")
    before = source_checksums(admin, SOURCE)
    outcomes = {}
    with connect(writer_login.url, autocommit=True) as login:
        for table in tables:
            login.execute(
                sql.SQL("select count(*) from {}").format(sql.Identifier(SOURCE, table))
            )  # it may read each one
            for operation, statement in WRITES.items():
                try:
                    login.execute(sql.SQL(statement).format(sql.Identifier(SOURCE, table)))
                    outcomes[(table, operation)] = "succeeded"
                except psycopg.Error as exc:
                    outcomes[(table, operation)] = type(exc).__name__
    assert outcomes == {(table, operation): "InsufficientPrivilege" for table in tables for operation in WRITES}
    assert source_checksums(admin, SOURCE) == before


def test_a_crew_table_the_role_cannot_read_is_reported_with_the_grant_that_fixes_it(
    admin, login_definitions, writer_login
) -> None:
    create_client(admin, "acme")
    # "order" is a reserved word: the GRANT must quote it.
    tables = {"plain": "unreadable_histories", "reserved": "order"}
    scenario = Scenario()
    for seed, (crew, table) in enumerate(tables.items(), start=1):
        create_histories_table(admin, HistoriesTableSpec(table))
        create_crew(admin, crew, "acme", table)
        insert_messages(admin, table, generated_rows("langchain", date(2024, 3, 1), 2, 5, seed))
        scenario.good[crew], scenario.clients[crew] = table, "acme"
    expected = {
        "plain": (
            f"role {writer_login.role} cannot read table public.unreadable_histories: "
            "run GRANT SELECT ON public.unreadable_histories TO convo_pipelines_writer;"
        ),
        "reserved": f'role {writer_login.role} cannot read table public.order: run GRANT SELECT ON public."order" TO convo_pipelines_writer;',
    }

    result = run_job(
        login_definitions, "conversation_discovery_job", tags=partition_range_tags("2024-03-01", "2024-03-03")
    )
    meta = metadata_of(result, "histories_sessions")
    assert {row["crew"]: row.get("reason") for row in meta["crews"]} == expected
    assert failed_checks(result)[("histories_sessions", "histories_tables_valid")]["bad_crews"] == expected
    assert actual_sessions(admin) == set()

    # The GRANT each problem names is the whole fix.
    for reason in expected.values():
        admin.execute(reason.split(": run ", 1)[1])
    result = run_job(
        login_definitions, "conversation_discovery_job", tags=partition_range_tags("2024-03-01", "2024-03-03")
    )
    assert (metadata_of(result, "histories_sessions")["crews_failed"], failed_checks(result)) == (0, {})
    assert actual_sessions(admin) == oracle_sessions(admin, scenario, date(2024, 3, 1), date(2024, 3, 4))


# ---------------------------------------------------------------------------------------------
# Migrating without a superuser


@pytest.fixture
def database_owner(server_url: str, template_database: str) -> Iterator[tuple[str, str]]:
    """A non-superuser CREATEROLE role owning a new, empty database: (role, its URL to that database).
    The template's migrations have created convo_pipelines_writer on the server already."""
    role = f"convo_owner_{uuid.uuid4().hex[:12]}"
    database = f"convo_owned_{uuid.uuid4().hex[:12]}"
    execute_as_admin(server_url, sql.SQL("create role {} login createrole").format(sql.Identifier(role)))
    try:
        execute_as_admin(
            server_url, sql.SQL("create database {} owner {}").format(sql.Identifier(database), sql.Identifier(role))
        )
        try:
            yield role, url_as(with_database(server_url, database), role)
        finally:
            execute_as_admin(
                server_url, sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database))
            )
    finally:
        execute_as_admin(server_url, sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def test_a_createrole_database_owner_applies_and_rolls_back_0005(server_url, database_owner) -> None:
    role, url = database_owner
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as server:
        if server.info.server_version >= 160000:
            # The writer exists already (the suite's template created it). On PostgreSQL 16 a CREATEROLE role
            # creating it would hold exactly this: ADMIN on it, but neither its privileges nor SET ROLE.
            server.execute(
                sql.SQL("grant {} to {} with admin true, inherit false, set false").format(
                    sql.Identifier(WRITER), sql.Identifier(role)
                )
            )
    with connect(url) as conn:
        conn.execute(render_sql("demo/create_source_tables.sql", source=SOURCE, analytics=ANALYTICS))
        conn.commit()
        assert [m.version for m in migrate(conn, SOURCE, ANALYTICS)] == [m.version for m in available_migrations()]
        assert migrate(conn, SOURCE, ANALYTICS) == []  # the owner still migrates: it is a member of the new owner
        owners = conn.execute(
            "select relname::text, relowner::regrole::text from pg_class where relname = any(%s) order by relname",
            ([*LINK_TABLES, "convo_pipelines_migrations", "histories_sessions"],),
        ).fetchall()
        assert {owner for _, owner in owners} == {WRITER} and len(owners) == 5
        # The CREATE privileges lent for the ownership transfer were taken back.
        assert conn.execute(
            "select has_schema_privilege(%s, %s, 'CREATE'), has_database_privilege(%s, current_database(), 'CREATE')",
            (WRITER, SOURCE, WRITER),
        ).fetchone() == (False, False)

        assert roll_back_through(conn, WRITER_ROLE_MIGRATION, SOURCE, ANALYTICS)[0] == WRITER_ROLE_MIGRATION
        owners = conn.execute(
            "select distinct relowner::regrole::text from pg_class where relname = any(%s)",
            ([*LINK_TABLES, "convo_pipelines_migrations", "histories_sessions"],),
        ).fetchall()
        assert owners == [(role,)]
        assert conn.execute(
            "select nspowner::regrole::text from pg_namespace where nspname = %s", (ANALYTICS,)
        ).fetchone() == (role,)
        left = conn.execute(
            "select count(*) from pg_class as rel cross join aclexplode(rel.relacl) as acl where acl.grantee = %s::regrole",
            (WRITER,),
        ).fetchone()[0]
        assert left == 0
        schema_grants = conn.execute(
            "select count(*) from pg_namespace as nsp cross join aclexplode(nsp.nspacl) as acl where acl.grantee = %s::regrole",
            (WRITER,),
        ).fetchone()[0]
        assert schema_grants == 0
        assert conn.execute("select count(*) from pg_roles where rolname = %s", (WRITER,)).fetchone() == (
            1,
        )  # the role stays
        # The rest rolls back too, and everything applies again.
        rolled_back = rollback_last(conn, SOURCE, ANALYTICS)
        while rolled_back is not None:
            rolled_back = rollback_last(conn, SOURCE, ANALYTICS)
        assert applied_versions(conn, SOURCE) == []
        assert len(migrate(conn, SOURCE, ANALYTICS)) == len(available_migrations())
