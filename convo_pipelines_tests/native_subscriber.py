"""A native PostgreSQL subscriber as a consumer of the pipeline's runs: a publication of one of the kinds a DBA
may create (PUBLICATION_KINDS) and a subscription to it from a second server holding the same table definitions.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from convo_pipelines.lib.migrations.shipped import Migration
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.sqlfiles import render_sql
from convo_pipelines_tests.helpers import wait_until
from convo_pipelines_tests.postgres_clusters import ANALYTICS_SCHEMA, SOURCE_SCHEMA, PostgresCluster, database_on
from convo_pipelines_tests.replication_steps import LINK_TABLES, Application

# The publications a DBA may have on the application's database. "none": no publication, no subscriber.
PUBLICATION_KINDS = ("all_tables", "source_schema", "analytics_schema", "link_tables", "app_tables", "none")
CATCH_UP_TIMEOUT = 60


def publication_statement(kind: str, name: str, app_tables: list[str]) -> sql.Composed:
    """CREATE PUBLICATION of one kind: FOR ALL TABLES, FOR TABLES IN SCHEMA (source or analytics), FOR TABLE
    listing the link tables, FOR TABLE listing the application's tables and no link table."""
    create = sql.SQL("create publication {} ").format(sql.Identifier(name))
    if kind == "all_tables":
        return create + sql.SQL("for all tables")
    if kind in ("source_schema", "analytics_schema"):
        schema = SOURCE_SCHEMA if kind == "source_schema" else ANALYTICS_SCHEMA
        return create + sql.SQL("for tables in schema {}").format(sql.Identifier(schema))
    tables = LINK_TABLES if kind == "link_tables" else app_tables
    if kind != "link_tables":
        assert not set(LINK_TABLES) & set(tables)
    return create + sql.SQL("for table {}").format(
        sql.SQL(", ").join(sql.Identifier(SOURCE_SCHEMA, table) for table in tables)
    )


class NativeSubscriber:
    """A publication of one kind on the application's database and a PostgreSQL subscription to it. A subscriber
    takes no DDL from its publisher: like a DBA, the harness gives it a migration's `up` before the publisher
    sends rows of the new shape, its `down` once the subscriber applied the last rows of the old one."""

    def __init__(
        self, publisher: PostgresCluster, publisher_db: str, subscriber: PostgresCluster, subscriber_db: str, kind: str
    ) -> None:
        self.publisher, self.publisher_db = publisher, publisher_db
        self.subscriber, self.subscriber_db = subscriber, subscriber_db
        self.kind = kind
        self.name = f"convo_{kind}"

    @classmethod
    @contextmanager
    def subscribed(
        cls, kind: str, app: Application, publisher: PostgresCluster, publisher_db: str, subscriber: PostgresCluster
    ) -> Iterator[NativeSubscriber]:
        """Publish, give a new database on `subscriber` the publisher's table definitions, subscribe, and wait
        for the initial copy; the subscription is dropped on exit, the publication with the publisher's database."""
        with database_on(subscriber, "convo_subscriber") as subscriber_db:
            follower = cls(publisher, publisher_db, subscriber, subscriber_db, kind)
            with psycopg.connect(publisher.url(publisher_db), autocommit=True) as conn:
                conn.execute(publication_statement(kind, follower.name, app.app_tables()))
            copy_table_definitions(publisher, publisher_db, subscriber, subscriber_db)
            try:
                follower.subscribe()
                yield follower
            finally:
                follower.unsubscribe()

    def subscribe(self) -> None:
        with psycopg.connect(self.subscriber.url(self.subscriber_db), autocommit=True) as conn:
            conn.execute(
                sql.SQL("create subscription {} connection {} publication {}").format(
                    sql.Identifier(self.name),
                    sql.Literal(self.publisher.conninfo(self.publisher_db)),
                    sql.Identifier(self.name),
                )
            )
        copied = wait_until(self._initial_copy_done, timeout=CATCH_UP_TIMEOUT)
        assert copied, f"the subscriber's initial copy did not finish: {self._errors()}\n{self.error_lines()}"

    def unsubscribe(self) -> None:
        with psycopg.connect(self.subscriber.url(self.subscriber_db), autocommit=True) as conn:
            conn.execute(sql.SQL("drop subscription if exists {}").format(sql.Identifier(self.name)))

    def before_migration(self, migration: Migration, direction: str) -> None:
        if direction == "up":
            self._apply_on_subscriber(migration, "up")

    def after_migration(self, migration: Migration, direction: str) -> None:
        if direction == "down":
            self._wait_for_catch_up("the rollback")
            self._apply_on_subscriber(migration, "down")

    def assert_follows(self, step: str) -> None:
        """The subscriber applied everything the publisher wrote, without an error, and its copy of every
        published table holds exactly the publisher's rows."""
        self._wait_for_catch_up(step)
        differences = {
            f"{schema}.{table}": difference
            for schema, table, columns in self.published_tables()
            if (difference := self._table_difference(schema, table, columns))
        }
        assert not differences, f"after {step}, the subscriber ({self.kind}) differs from the publisher: {differences}"

    def published_tables(self) -> list[tuple[str, str, list[str]]]:
        """(schema, table, published columns) of every table the publication holds now."""
        with psycopg.connect(self.publisher.url(self.publisher_db)) as conn:
            return conn.execute(
                "select schemaname, tablename, attnames from pg_publication_tables where pubname = %s order by 1, 2",
                (self.name,),
            ).fetchall()

    def error_lines(self) -> str:
        """The subscriber server's ERROR lines and their context, the last ones first cut to a screenful."""
        lines = self.subscriber.log.read_text(errors="replace").splitlines() if self.subscriber.log.exists() else []
        return "\n".join([line for line in lines if "ERROR" in line or "CONTEXT" in line][-12:])

    def _initial_copy_done(self) -> bool:
        with psycopg.connect(self.subscriber.url(self.subscriber_db)) as conn:
            waiting = conn.execute(
                "select count(*) from pg_subscription_rel as rel join pg_subscription as sub on sub.oid = rel.srsubid "
                "where sub.subname = %s and rel.srsubstate <> 'r'",
                (self.name,),
            ).fetchone()[0]
        return waiting == 0 and self._errors() == (0, 0)

    def _wait_for_catch_up(self, step: str) -> None:
        """Until the subscription confirmed the publisher's whole log up to now; an apply or copy error
        fails at once, naming what the subscriber's server logged."""
        with psycopg.connect(self.publisher.url(self.publisher_db)) as conn:
            # The insert position, not pg_current_wal_lsn(), the written one: with synchronous_commit off
            # the last commit's record may not be written yet.
            target = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]

        def caught_up_or_failed() -> bool:
            return self._errors() != (0, 0) or self._confirmed_through(target)

        wait_until(caught_up_or_failed, timeout=CATCH_UP_TIMEOUT)
        errors = self._errors()
        assert errors == (0, 0), (
            f"after {step}, the subscriber ({self.kind}) failed to apply the publisher's changes "
            f"(apply errors, copy errors: {errors}):\n{self.error_lines()}"
        )
        assert self._confirmed_through(target), (
            f"after {step}, the subscriber ({self.kind}) did not catch up in {CATCH_UP_TIMEOUT} s"
        )

    def _confirmed_through(self, target: str) -> bool:
        with psycopg.connect(self.publisher.url(self.publisher_db)) as conn:
            row = conn.execute(
                "select confirmed_flush_lsn >= %s::pg_lsn from pg_replication_slots where slot_name = %s",
                (target, self.name),
            ).fetchone()
        return bool(row and row[0])

    def _errors(self) -> tuple[int, int]:
        """(apply_error_count, sync_error_count) of the subscription."""
        with psycopg.connect(self.subscriber.url(self.subscriber_db)) as conn:
            row = conn.execute(
                "select apply_error_count, sync_error_count from pg_stat_subscription_stats where subname = %s",
                (self.name,),
            ).fetchone()
        return (row[0], row[1]) if row else (0, 0)

    def _table_difference(self, schema: str, table: str, columns: list[str]) -> dict[str, list[str]]:
        """Rows only the publisher holds and rows only the subscriber holds (a few of each), over the published columns."""
        publisher_rows = rows_as_text(self.publisher.url(self.publisher_db), schema, table, columns)
        subscriber_rows = rows_as_text(self.subscriber.url(self.subscriber_db), schema, table, columns)
        if publisher_rows == subscriber_rows:
            return {}
        return {
            "only on the publisher": sorted(set(publisher_rows) - set(subscriber_rows))[:5],
            "only on the subscriber": sorted(set(subscriber_rows) - set(publisher_rows))[:5],
            "row counts": [str(len(publisher_rows)), str(len(subscriber_rows))],
        }

    def _apply_on_subscriber(self, migration: Migration, direction: str) -> None:
        with connect(self.subscriber.url(self.subscriber_db)) as conn:
            conn.execute(render_sql(migration.file(direction), source=SOURCE_SCHEMA, analytics=ANALYTICS_SCHEMA))
            conn.commit()


def rows_as_text(url: str, schema: str, table: str, columns: list[str]) -> list[str]:
    """Every row of the table as the text of a row of `columns`, sorted (timestamps in UTC)."""
    statement = sql.SQL("select row({})::text as row_text from {} order by row_text").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema, table)
    )
    with psycopg.connect(url) as conn:
        conn.execute("set time zone 'UTC'")
        return [row[0] for row in conn.execute(statement)]


def copy_table_definitions(
    publisher: PostgresCluster, publisher_db: str, subscriber: PostgresCluster, subscriber_db: str
) -> None:
    """The publisher's schema (tables, indexes, views, functions, owners, grants; no data, no publication)
    into the subscriber's database, as a DBA sets up a subscriber; the roles they name are made first."""
    copy_roles(publisher, subscriber)
    dump = subprocess.run(
        [
            str(publisher.bin / "pg_dump"),
            "--schema-only",
            "--no-publications",
            "--no-subscriptions",
            publisher.url(publisher_db),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    restored = subprocess.run(
        [
            str(subscriber.bin / "psql"),
            "--quiet",
            "--no-psqlrc",
            "-v",
            "ON_ERROR_STOP=1",
            subscriber.url(subscriber_db),
        ],
        input=dump,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert restored.returncode == 0, f"the subscriber's schema could not be restored: {restored.stderr[-3000:]}"


def copy_roles(publisher: PostgresCluster, subscriber: PostgresCluster) -> None:
    """Every role of the publisher's server that the subscriber's lacks, made there without login."""
    with psycopg.connect(publisher.url()) as conn:
        roles = {row[0] for row in conn.execute("select rolname from pg_roles where rolname !~ '^pg_'")}
    with psycopg.connect(subscriber.url(), autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("select rolname from pg_roles")}
        for role in sorted(roles - existing):
            conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
