"""histories_sessions, conversation_summaries, daily_conversation_stats: equal to an independent
recomputation, idempotent, partition-isolated, timezone-proof, and unhurt by bad crews."""

from __future__ import annotations

import threading
import time
from datetime import date

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from convo_benchmarks.seed_histories import seed_histories
from convo_pipelines.defs.histories.assets import histories_assets
from convo_pipelines.defs.histories.checks import histories_checks
from convo_pipelines.defs.histories.crew_merges import HISTORIES_SESSIONS_MERGE, merge_crew
from convo_pipelines.defs.histories.crew_processing import crew_lock_key
from convo_pipelines.defs.histories.crews import inspect_histories_table, load_crews
from convo_pipelines.defs.histories.run_metadata import row_count_metadata
from convo_pipelines.defs.histories.schedules import discovery_tick_run_config
from convo_pipelines.defs.histories.schemas import (
    CONVERSATION_SUMMARIES_SCHEMA,
    DAILY_CONVERSATION_STATS_SCHEMA,
    HISTORIES_SESSIONS_SCHEMA,
)
from convo_pipelines.defs.histories.window import Window
from convo_pipelines.defs.partitions import PartitionWindow
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines_tests.histories_data import (
    HOSTILE_TABLE_NAME,
    HistoriesTableSpec,
    Scenario,
    actual_sessions,
    actual_summaries,
    build_scenario,
    create_client,
    create_crew,
    create_histories_table,
    insert_messages,
    langchain,
    n8n,
    oracle_sessions,
    oracle_summaries,
    read_raw,
    utc,
)

START = date(2024, 3, 1)
RANGE = ("2024-03-01", "2024-03-20")  # the generated sessions end before 2024-03-20


def run(
    postgres: PostgresResource, first: str, last: str | None = None, run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    """One run of the three histories assets over the partition range first..last (one partition by default)."""
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first}
    result = dg.materialize(histories_assets, resources={"postgres": postgres}, tags=tags, run_config=run_config)
    assert result.success
    return result


def metadata_of(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)][:1]
    return {key: value.value for key, value in event.materialization.metadata.items()}


@pytest.fixture
def scenario(db: psycopg.Connection) -> Scenario:
    return build_scenario(db, START)


def test_range_backfill_equals_an_independent_recomputation(db, postgres, scenario) -> None:
    # From the first partition, which opens at the beginning of time, to past the scenario's last day:
    # a fixed range, so the run's work does not grow with today's date.
    result = run(postgres, "2024-01-01", RANGE[1])
    expected_sessions = oracle_sessions(db, scenario)
    assert len(expected_sessions) > 100
    assert actual_sessions(db) == expected_sessions
    assert actual_summaries(db) == oracle_summaries(db, scenario)
    # Summaries of sessions crossing midnight / lasting days exist and cover every day.
    assert db.execute("select max(active_days) from analytics.conversation_summaries").fetchone()[0] >= 3
    stats = db.execute("select sum(sessions), sum(messages) from analytics.daily_conversation_stats").fetchone()
    assert stats == (len(expected_sessions), sum(row[4] for row in expected_sessions))
    meta = metadata_of(result, "histories_sessions")
    assert meta["rows_in_window"] == len(expected_sessions)
    # Not every partition up to today: the whole table is not counted (a full scan), and a range's
    # total is not a partition's row count.
    assert "dagster/row_count" not in meta and "dagster/partition_row_count" not in meta
    assert meta["malformed_messages_in_window"] == sum(row[7] for row in expected_sessions) > 0
    # The summaries' run shows its newest rows as a small table.
    preview = metadata_of(result, "conversation_summaries")["newest_rows"]
    ends = [record.data["ended_at"] for record in preview.records]
    assert len(ends) == 10 and ends == sorted(ends, reverse=True)
    assert {"crew_code", "session_id", "message_count"} <= {column.name for column in preview.schema.columns}


def test_a_window_over_every_partition_counts_the_whole_table(db, postgres, scenario) -> None:
    run(postgres, "2024-01-01", RANGE[1])
    everything = Window.of(PartitionWindow(start=None, end=None, reaches_last_partition=True))
    assert everything.whole and everything.unpartitioned
    with postgres.session() as session:
        sessions = row_count_metadata(session, "histories_sessions", everything)
        summaries = row_count_metadata(session, "conversation_summaries", everything)
    assert sessions["dagster/row_count"] == sessions["rows_in_window"] == len(oracle_sessions(db, scenario))
    assert summaries["dagster/row_count"] == len(oracle_summaries(db, scenario))
    # A window that stops before today's partition is not everything, even from the first partition on.
    assert not Window.of(PartitionWindow(start=None, end=utc(2024, 3, 20), reaches_last_partition=False)).whole


def test_bad_crews_are_named_and_never_hurt_good_ones(db, postgres, scenario) -> None:
    result = run(postgres, *RANGE)
    for asset in ("histories_sessions", "conversation_summaries"):
        meta = metadata_of(result, asset)
        assert meta["crews_processed"] == 3 and meta["crews_failed"] == 3
        reasons = {row["crew"]: row.get("reason", "") for row in meta["crews"]}
        assert "not a valid table name" in reasons["hostile"]
        assert "public.no_such_histories does not exist" in reasons["ghost"]
        assert (
            "neither a created_at column nor an integer id" in reasons["undatable"]
            and "public.undatable_histories.id is uuid" in reasons["undatable"]
        )
        assert "`hostile`" in meta["bad_crews"] and "`ghost`" in meta["bad_crews"]
    # The hostile name was never executed, and good crews' data is all there.
    assert db.execute("select to_regclass('public.people')").fetchone()[0] == "people"
    assert {row[0] for row in actual_sessions(db)} == set(scenario.good)


def end_backends_waiting_for_crew_lock(dsn: str, stop: threading.Event, ended: list[int]) -> None:
    """Until `stop`, terminate every pipeline backend that waits for a crew's advisory lock, as a server
    restart or an operator would: every attempt of the step loses its connection inside that crew."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            for (pid,) in conn.execute(
                "select pid from pg_stat_activity where datname = current_database() and application_name = 'convo_pipelines' "
                "and wait_event_type = 'Lock' and wait_event = 'advisory'"
            ).fetchall():
                conn.execute("select pg_terminate_backend(%s)", (pid,))
                ended.append(pid)
            time.sleep(0.05)


@pytest.mark.slow
def test_a_connection_lost_mid_crew_fails_the_run_and_never_counts_as_a_discovery(db, postgres) -> None:
    create_client(db, "acme")
    for code in ("a_first", "b_second"):
        create_histories_table(db, HistoriesTableSpec(f"{code}_histories"))
        create_crew(db, code, "acme", f"{code}_histories")
        insert_messages(
            db,
            f"{code}_histories",
            [("12121212-1212-1212-1212-121212121212", utc(2024, 3, 2, 10), langchain("human", "hi"))],
        )
    everything = [*histories_assets, *histories_checks]
    tags = {"dagster/asset_partition_range_start": "2024-03-02", "dagster/asset_partition_range_end": "2024-03-02"}
    stop, ended = threading.Event(), []
    with dg.DagsterInstance.ephemeral() as instance, psycopg.connect(db.info.dsn, autocommit=True) as holder:
        # Holding b_second's crew lock makes every attempt wait inside that crew, where its backend is ended.
        holder.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (crew_lock_key("b_second"),))
        terminator = threading.Thread(target=end_backends_waiting_for_crew_lock, args=(db.info.dsn, stop, ended))
        terminator.start()
        try:
            # The step's retry policy tries again after each loss (tens of seconds of pauses), then fails.
            result = dg.materialize(
                everything, resources={"postgres": postgres}, tags=tags, instance=instance, raise_on_error=False
            )
        finally:
            stop.set()
            terminator.join()
        assert len(ended) >= 2  # retried, and lost again
        # Not a bad crew: the run fails, nothing claims success, the crew before it kept its commit.
        assert not result.success
        assert not result.get_asset_materialization_events()
        assert "terminating connection" in str(result.failure_data_for_node("histories_sessions").error)
        assert {row[0] for row in actual_sessions(db)} == {"a_first"}
        # So the freshness check, evaluated on its own, still finds no discovery.
        fresh_check = [
            check for check in histories_checks if "discovery_fresh" in {key.name for key in check.check_keys}
        ]
        alone = dg.materialize(
            everything,
            resources={"postgres": postgres},
            instance=instance,
            selection=dg.AssetSelection.checks(*fresh_check),
        )
        [fresh] = alone.get_asset_check_evaluations()
        assert not fresh.passed and fresh.metadata["last_success"].value == "never"


def test_a_crew_whose_query_fails_is_reported_and_the_others_commit(db, postgres, scenario) -> None:
    # A table the pipeline's role may not read: the crew's statement fails inside its own transaction.
    db.execute("create role histories_limited_user nologin")
    try:
        db.execute("grant usage on schema public, analytics to histories_limited_user")
        db.execute("grant select on all tables in schema public to histories_limited_user")
        db.execute("grant select, insert, update, delete on all tables in schema analytics to histories_limited_user")
        db.execute("grant execute on function analytics.parse_json_or_null(text) to histories_limited_user")
        db.execute("revoke select on public.globex_histories from histories_limited_user")
        # Every new connection to this database, the pipeline's included, runs as the limited role.
        db.execute(
            sql.SQL("alter database {} set role = histories_limited_user").format(sql.Identifier(db.info.dbname))
        )
        result = run(postgres, *RANGE)
        reasons = {row["crew"]: row.get("reason", "") for row in metadata_of(result, "histories_sessions")["crews"]}
        # Found in the catalog before any query on the table, with the GRANT that fixes it.
        assert reasons["globex_bot"] == (
            "role histories_limited_user cannot read table public.globex_histories: "
            "run GRANT SELECT ON public.globex_histories TO histories_limited_user;"
        )
        assert {row[0] for row in actual_sessions(db)} == {"acme_support", "acme_sales"}
    finally:
        db.execute(sql.SQL("alter database {} reset role").format(sql.Identifier(db.info.dbname)))
        db.execute("drop owned by histories_limited_user")
        db.execute("drop role histories_limited_user")


def test_rerun_changes_nothing_not_even_updated_at(db, postgres, scenario) -> None:
    run(postgres, *RANGE)
    summaries_before = db.execute(
        "select crew_code, session_id, updated_at from analytics.conversation_summaries"
    ).fetchall()
    sessions_before = actual_sessions(db)
    result = run(postgres, *RANGE)
    assert actual_sessions(db) == sessions_before
    assert (
        db.execute("select crew_code, session_id, updated_at from analytics.conversation_summaries").fetchall()
        == summaries_before
    )
    for asset in ("histories_sessions", "conversation_summaries"):
        meta = metadata_of(result, asset)
        assert (meta["rows_inserted_in_window"], meta["rows_updated_in_window"], meta["rows_deleted_in_window"]) == (
            0,
            0,
            0,
        )


def test_a_bulk_write_gathers_the_tables_statistics_and_a_run_that_wrote_little_leaves_them(
    db, postgres, scenario
) -> None:
    """Without statistics (autovacuum not there yet) the checks after a run and the next ticks are planned
    for a third of the table changed: hash joins over all of it for a tick's few sessions."""
    for table in ("histories_sessions", "conversation_summaries"):
        db.execute(
            sql.SQL("delete from pg_statistic where starelid = {}::regclass").format(sql.Literal(f"analytics.{table}"))
        )
    result = run(postgres, *RANGE)
    gathered = db.execute(
        "select tablename from pg_stats where schemaname = 'analytics' and attname = 'updated_at'"
    ).fetchall()
    assert sorted(table for (table,) in gathered) == ["conversation_summaries", "histories_sessions"]
    assert [
        metadata_of(result, asset)["statistics_refreshed"] for asset in ("histories_sessions", "conversation_summaries")
    ] == [True, True]
    rerun = run(postgres, *RANGE)
    assert [
        metadata_of(rerun, asset)["statistics_refreshed"] for asset in ("histories_sessions", "conversation_summaries")
    ] == [False, False]


def test_a_partition_run_replaces_only_its_days_and_whole_sessions(db, postgres) -> None:
    create_client(db, "acme")
    create_histories_table(db, HistoriesTableSpec("support_histories"))
    create_crew(db, "support", "acme", "support_histories")
    week = "11111111-1111-1111-1111-111111111111"
    gone = "22222222-2222-2222-2222-222222222222"
    insert_messages(
        db,
        "support_histories",
        [
            *[(week, utc(2024, 3, day, 10), langchain("human", f"day {day}")) for day in range(1, 8)],
            (gone, utc(2024, 3, 4, 9), langchain("human", "soon deleted")),
            (gone, utc(2024, 3, 4, 9, 1), langchain("ai", "")),
        ],
    )
    run(postgres, "2024-03-01", "2024-03-07")
    assert db.execute(
        "select active_days, message_count from analytics.conversation_summaries where session_id = %s", (week,)
    ).fetchone() == (7, 7)

    # Late changes: a message added on 03-04 and on 03-06, the whole "gone" session deleted.
    insert_messages(
        db,
        "support_histories",
        [
            (week, utc(2024, 3, 4, 11), langchain("ai", "late reply")),
            (week, utc(2024, 3, 6, 11), langchain("ai", "late reply")),
        ],
    )
    db.execute("delete from public.support_histories where session_id = %s", (gone,))
    result = run(postgres, "2024-03-04")
    # A one-day tick counts its day only: no full-table count.
    meta = metadata_of(result, "histories_sessions")
    assert meta["dagster/partition_row_count"] == 1 and "dagster/row_count" not in meta

    days = dict(
        db.execute(
            "select activity_date, message_count from analytics.histories_sessions where session_id = %s", (week,)
        ).fetchall()
    )
    assert days[date(2024, 3, 4)] == 2  # replaced
    assert days[date(2024, 3, 6)] == 1  # other partition untouched
    assert (
        db.execute("select count(*) from analytics.histories_sessions where session_id = %s", (gone,)).fetchone()[0]
        == 0
    )
    # The summary of the touched session is recomputed over ALL its days, including 03-06's new message.
    assert db.execute(
        "select message_count, ai_message_count, active_days from analytics.conversation_summaries where session_id = %s",
        (week,),
    ).fetchone() == (9, 2, 7)
    assert (
        db.execute("select count(*) from analytics.conversation_summaries where session_id = %s", (gone,)).fetchone()[0]
        == 0
    )


def test_first_human_message_durations_and_message_shapes(db, postgres) -> None:
    create_client(db, "acme")
    create_histories_table(db, HistoriesTableSpec("shapes_histories", session_id_type="text", message_type="text"))
    create_crew(db, "shapes", "acme", "shapes_histories")
    long_text = "é" * 250
    insert_messages(
        db,
        "shapes_histories",
        [
            ("s1", utc(2024, 3, 2, 23, 59, 0), langchain("human", "")),  # empty: skipped, not malformed
            ("s1", utc(2024, 3, 2, 23, 59, 30), n8n("human", "lower id wins")),  # tie on created_at -> lowest id
            ("s1", utc(2024, 3, 2, 23, 59, 30), n8n("human", "higher id")),
            ("s1", utc(2024, 3, 3, 0, 0, 5), langchain("ai", "")),  # tool call: empty AI content
            ("s1", utc(2024, 3, 3, 0, 1, 0), "not json at all"),  # not JSON: skipped and counted
            ("s1", utc(2024, 3, 3, 0, 1, 1), '["an", "array"]'),  # malformed: not an object
            ("s1", utc(2024, 3, 3, 0, 1, 2), '{"data": {"content": "x"}}'),  # malformed: no type
            ("s1", utc(2024, 3, 3, 0, 1, 3), '{"type": "robot"}'),  # malformed: unknown type
            ("s1", utc(2024, 3, 3, 0, 1, 4), n8n("system", "sys")),
            ("s2", utc(2024, 3, 3, 8), langchain("human", long_text)),
        ],
    )
    result = run(postgres, "2024-03-02", "2024-03-03")
    rows = db.execute(
        "select activity_date, message_count, human_message_count, ai_message_count, malformed_message_count "
        "from analytics.histories_sessions where session_id = 's1' order by activity_date"
    ).fetchall()
    assert rows == [(date(2024, 3, 2), 3, 3, 0, 0), (date(2024, 3, 3), 5, 0, 1, 3)]
    assert metadata_of(result, "histories_sessions")["skipped_rows"] == {"shapes": {"invalid_json": 1}}
    s1 = db.execute(
        "select message_count, human_message_count, ai_message_count, duration_seconds, active_days, first_human_message "
        "from analytics.conversation_summaries where session_id = 's1'"
    ).fetchone()
    assert s1 == (8, 3, 1, 124, 2, "lower id wins")
    assert (
        db.execute(
            "select first_human_message from analytics.conversation_summaries where session_id = 's2'"
        ).fetchone()[0]
        == "é" * 200
    )


def test_activity_date_is_the_utc_day_whatever_the_server_timezone(db, postgres, database_url) -> None:
    db.execute(sql.SQL("alter database {} set timezone = 'America/Los_Angeles'").format(sql.Identifier(db.info.dbname)))
    create_client(db, "acme")
    create_histories_table(db, HistoriesTableSpec("tz_histories"))
    create_crew(db, "tz", "acme", "tz_histories")
    # 2024-03-02 03:00 UTC is still 2024-03-01 in Los Angeles.
    insert_messages(
        db, "tz_histories", [("33333333-3333-3333-3333-333333333333", utc(2024, 3, 2, 3), langchain("human", "hi"))]
    )
    run(postgres, "2024-03-02")
    assert db.execute("select activity_date from analytics.histories_sessions").fetchall() == [(date(2024, 3, 2),)]
    # The SQL itself, on a connection left in the database's Los Angeles time zone, gives the same day.
    with psycopg.connect(database_url.replace("postgresql+psycopg2", "postgresql")) as conn:
        assert conn.execute("show timezone").fetchone()[0] == "America/Los_Angeles"
        conn.execute("delete from analytics.histories_sessions")
        [crew] = load_crews(conn, "public")
        window = Window(utc(2024, 3, 2), utc(2024, 3, 3))
        session = Session(conn, postgres.source_schema, postgres.analytics_schema)
        merged = merge_crew(session, inspect_histories_table(conn, "public", crew), HISTORIES_SESSIONS_MERGE, window)
        assert merged.counts["rows_inserted"] == 1
        assert conn.execute("select activity_date from analytics.histories_sessions").fetchall() == [
            (date(2024, 3, 2),)
        ]


def test_removed_crews_leave_the_window_and_client_moves_follow(db, postgres, scenario) -> None:
    run(postgres, *RANGE)
    db.execute("delete from public.crews where code = 'acme_sales'")
    db.execute(
        "update public.crews set client_id = (select id from public.clients where code = 'globex') where code = 'acme_support'"
    )
    run(postgres, *RANGE)
    assert {row[0] for row in actual_sessions(db)} == {"acme_support", "globex_bot"}
    assert (
        db.execute("select count(*) from analytics.conversation_summaries where crew_code = 'acme_sales'").fetchone()[0]
        == 0
    )
    assert db.execute(
        "select distinct client_code from analytics.conversation_summaries where crew_code = 'acme_support'"
    ).fetchall() == [("globex",)]


def test_every_analytics_table_and_column_has_a_comment(db) -> None:
    missing = db.execute(
        """
        select c.relname, a.attname
        from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        left join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = 'analytics' and c.relkind in ('r', 'v', 'm')
          and (obj_description(c.oid, 'pg_class') is null or col_description(c.oid, a.attnum) is null)
        """
    ).fetchall()
    assert missing == []
    relations = {
        row[0]
        for row in db.execute(
            "select relname from pg_class where relnamespace = 'analytics'::regnamespace and relkind in ('r', 'v')"
        )
    }
    # histories_id_ranges: the times of the messages of crews dated by id (internal to the pipeline).
    assert relations == {
        "histories_sessions",
        "conversation_summaries",
        "daily_conversation_stats",
        "histories_id_ranges",
    }


@pytest.mark.parametrize(
    ("table", "schema"),
    [
        ("histories_sessions", HISTORIES_SESSIONS_SCHEMA),
        ("conversation_summaries", CONVERSATION_SUMMARIES_SCHEMA),
        ("daily_conversation_stats", DAILY_CONVERSATION_STATS_SCHEMA),
    ],
)
def test_column_schemas_in_dagster_match_the_tables(db, table, schema) -> None:
    columns = [
        row[0]
        for row in db.execute(
            "select column_name from information_schema.columns where table_schema = 'analytics' and table_name = %s order by ordinal_position",
            (table,),
        )
    ]
    assert columns == [column.name for column in schema.columns]


def test_analytics_reader_can_only_read_analytics(db) -> None:
    assert db.execute("select rolcanlogin from pg_roles where rolname = 'analytics_reader'").fetchone() == (False,)
    db.execute("create table analytics.created_later (x int)")  # default privileges cover it
    with db.transaction():
        db.execute("set local role analytics_reader")
        for relation in ("histories_sessions", "conversation_summaries", "daily_conversation_stats", "created_later"):
            db.execute(sql.SQL("select count(*) from analytics.{}").format(sql.Identifier(relation)))
    for statement in (
        "insert into analytics.histories_sessions (crew_code, session_id, activity_date, message_count, human_message_count, "
        "ai_message_count, malformed_message_count, first_message_at, last_message_at) values ('c', 's', current_date, 1, 0, 0, 0, now(), now())",
        "delete from analytics.conversation_summaries",
        "create table analytics.mine (x int)",
        "select count(*) from public.people",
        "select count(*) from public.crews",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
            db.execute("set local role analytics_reader")
            db.execute(statement)


def test_hostile_table_name_is_never_quoted_into_sql(db) -> None:
    create_client(db, "acme")
    create_crew(db, "hostile", "acme", HOSTILE_TABLE_NAME)
    [crew] = load_crews(db, "public")
    table = inspect_histories_table(db, "public", crew)
    assert not table.is_valid and "not a valid table name" in table.reason()


def test_demo_seeder_histories_are_discovered_exactly(db, postgres) -> None:
    with psycopg.connect(db.info.dsn) as conn:
        counts = seed_histories(conn, source_schema="public", messages=3000, crews=3, days=5, end=utc(2024, 3, 6))
    assert counts["crews"] == 3 and counts["histories_messages"] == 3000
    assert counts["histories_chat_sessions"] > 100
    crews = db.execute(
        "select cr.code, cr.histories_table_name, cl.code from public.crews as cr join public.clients as cl on cl.id = cr.client_id"
    ).fetchall()
    scenario = Scenario(
        good={code: table for code, table, _ in crews}, clients={code: client for code, _, client in crews}
    )
    assert sum(len(read_raw(db, table)) for table in scenario.good.values()) == 3000
    types = dict(
        db.execute(
            "select table_name, data_type from information_schema.columns where column_name = 'session_id' and table_name like '%demo_crew%'"
        ).fetchall()
    )
    assert sorted(types.values()) == ["character varying", "text", "uuid"]
    run(postgres, "2024-03-01", "2024-03-05")
    assert actual_sessions(db) == oracle_sessions(db, scenario)
    assert actual_summaries(db) == oracle_summaries(db, scenario)
    assert sum(row[7] for row in actual_sessions(db)) == counts["histories_malformed_messages"]


@pytest.mark.parametrize("message_type", ["jsonb", "json"])
def test_first_human_message_reads_the_text_blocks_of_list_content(db, postgres, message_type) -> None:
    # LangChain stores multimodal content as a list of blocks; only the text blocks are the message's text.
    create_client(db, "acme")
    table = f"blocks_{message_type}_histories"
    create_histories_table(db, HistoriesTableSpec(table, message_type=message_type))
    create_crew(db, f"blocks_{message_type}", "acme", table)
    session = "44444444-4444-4444-4444-444444444444"
    image_only = {"type": "human", "data": {"content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}}
    blocks = {
        "type": "human",
        "data": {
            "content": [
                {"type": "image_url", "image_url": {"url": "data:,"}},
                {"type": "text", "text": "what is on"},
                {"type": "text", "text": "this picture?"},
            ]
        },
    }
    insert_messages(
        db,
        table,
        [
            (session, utc(2024, 3, 2, 9, 0), image_only),  # no text at all: empty, so not the first human message
            (session, utc(2024, 3, 2, 9, 1), blocks),
            (session, utc(2024, 3, 2, 9, 2), langchain("ai", "a cat")),
        ],
    )
    run(postgres, "2024-03-02")
    summary = db.execute(
        "select message_count, human_message_count, first_human_message from analytics.conversation_summaries"
    ).fetchone()
    assert summary == (3, 2, "what is on this picture?")


TICK_DAY = "2024-03-21"  # after the generated sessions, which end before 2024-03-20


def tick(postgres: PostgresResource) -> dg.ExecuteInProcessResult:
    """What a discovery schedule tick over TICK_DAY runs."""
    return run(postgres, TICK_DAY, run_config=discovery_tick_run_config())


def crew_modes(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, str]:
    return {row["crew"]: row["mode"] for row in metadata_of(result, asset)["crews"] if row["ok"]}


def rows_written(result: dg.ExecuteInProcessResult, asset: str) -> tuple[int, int, int]:
    meta = metadata_of(result, asset)
    return meta["rows_inserted_in_window"], meta["rows_updated_in_window"], meta["rows_deleted_in_window"]


def summaries_updated_at(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "select crew_code, session_id, updated_at from analytics.conversation_summaries order by 1, 2"
    ).fetchall()


def oldest_session(db: psycopg.Connection, table: str) -> str:
    return db.execute(
        sql.SQL("select session_id::text from {} order by id limit 1").format(sql.Identifier("public", table))
    ).fetchone()[0]


def test_incremental_ticks_equal_a_full_recompute(db, postgres, scenario) -> None:
    support, sales, globex = (scenario.good[code] for code in ("acme_support", "acme_sales", "globex_bot"))
    continuing = oldest_session(db, support)  # a generated session with earlier days and a summary
    midnight = "aaaaaaaa-0000-0000-0000-000000000001"
    morning = "aaaaaaaa-0000-0000-0000-000000000002"
    insert_messages(
        db,
        support,
        [
            (midnight, utc(2024, 3, 20, 23, 59, 50), langchain("human", "still open?")),
            (midnight, utc(2024, 3, 21, 0, 0, 10), langchain("ai", "yes")),
            (
                "aaaaaaaa-0000-0000-0000-000000000005",
                utc(2024, 3, 21, 3, 0),
                langchain("human", "up early"),
            ),  # never touched again
            (morning, utc(2024, 3, 21, 9, 0), langchain("human", "good morning")),
        ],
    )
    insert_messages(db, sales, [("sales-morning", utc(2024, 3, 21, 9, 30), n8n("human", "prices?"))])
    run(postgres, "2024-03-01", TICK_DAY)
    # globex_bot has no row on the tick's day yet; the others' watermarks are 09:00 and 09:30.

    insert_messages(
        db,
        support,
        [
            ("aaaaaaaa-0000-0000-0000-000000000003", utc(2024, 3, 21, 10, 0), langchain("human", "")),
            ("aaaaaaaa-0000-0000-0000-000000000003", utc(2024, 3, 21, 10, 0, 1), langchain("human", "new session")),
            ("aaaaaaaa-0000-0000-0000-000000000003", utc(2024, 3, 21, 10, 0, 5), langchain("ai", "")),  # a tool call
            (continuing, utc(2024, 3, 21, 10, 1), langchain("human", "back again")),
            (midnight, utc(2024, 3, 21, 10, 2), langchain("ai", "closing")),
            # A session whose only message is dated inside the late-commit overlap before the 09:00
            # watermark: a transaction that committed late.
            ("aaaaaaaa-0000-0000-0000-000000000004", utc(2024, 3, 21, 8, 58, 30), langchain("human", "late commit")),
        ],
    )
    insert_messages(
        db,
        sales,
        [
            ("sales-new", utc(2024, 3, 21, 10, 0), n8n("human", "hello")),
            ("sales-new", utc(2024, 3, 21, 10, 0, 1), '{"type": "robot", "content": "beep"}'),  # malformed
            ("sales-new", utc(2024, 3, 21, 10, 0, 2), '"just a string"'),  # malformed
            ("sales-morning", utc(2024, 3, 21, 10, 5), n8n("ai", "")),
        ],
    )
    insert_messages(db, globex, [("globex-new", utc(2024, 3, 21, 10, 0), langchain("human", "hi globex"))])

    result = tick(postgres)
    for asset in ("histories_sessions", "conversation_summaries"):
        assert crew_modes(result, asset) == {
            "acme_support": "incremental",
            "acme_sales": "incremental",
            "globex_bot": "full",
        }
        meta = metadata_of(result, asset)
        assert (meta["mode"], meta["crews_incremental"], meta["crews_full"]) == ("mixed", 2, 1)
        # Bad crews are reported exactly as by a full run.
        assert meta["crews_failed"] == 3 and "`hostile`" in meta["bad_crews"] and "`ghost`" in meta["bad_crews"]
    assert actual_sessions(db) == oracle_sessions(db, scenario)
    assert actual_summaries(db) == oracle_summaries(db, scenario)
    meta = metadata_of(result, "histories_sessions")
    # A tick reads only what is new: it reports what it wrote and recomputed, no figure of the whole day.
    assert not {"rows_in_window", "sessions_in_window", "messages_in_window", "malformed_messages_in_window"} & set(
        meta
    )
    assert meta["sql_seconds"] <= meta["seconds"]
    support_row = next(row for row in meta["crews"] if row["crew"] == "acme_support")
    assert (
        support_row["session_days_recomputed"] == 5
    )  # new, continuing, midnight, late commit, morning (in the overlap)

    sessions_before, updated_before = actual_sessions(db), summaries_updated_at(db)
    again = tick(postgres)
    for asset in ("histories_sessions", "conversation_summaries"):
        assert metadata_of(again, asset)["mode"] == "incremental"
        assert rows_written(again, asset) == (0, 0, 0)
    assert actual_sessions(db) == sessions_before and summaries_updated_at(db) == updated_before

    # A full recompute of every day finds nothing to change.
    full = run(postgres, "2024-01-01", TICK_DAY)
    for asset in ("histories_sessions", "conversation_summaries"):
        assert metadata_of(full, asset)["mode"] == "full"
        assert rows_written(full, asset) == (0, 0, 0)
    assert summaries_updated_at(db) == updated_before


def test_deletions_and_very_late_commits_wait_for_a_full_recompute(db, postgres) -> None:
    create_client(db, "acme")
    create_histories_table(db, HistoriesTableSpec("late_histories"))
    create_crew(db, "late", "acme", "late_histories")
    kept, removed = "bbbbbbbb-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"
    insert_messages(
        db,
        "late_histories",
        [
            (kept, utc(2024, 3, 21, 9, 0), langchain("human", "first")),
            (removed, utc(2024, 3, 21, 9, 20), langchain("human", "soon deleted")),
        ],
    )
    first = tick(postgres)
    assert metadata_of(first, "histories_sessions")["mode"] == "full"  # nothing on the day yet
    db.execute("delete from public.late_histories where session_id = %s", (removed,))
    # Dated 10 minutes before the 09:20 watermark, beyond the late-commit overlap.
    insert_messages(db, "late_histories", [(kept, utc(2024, 3, 21, 9, 10), langchain("ai", "very late commit"))])
    before = (actual_sessions(db), summaries_updated_at(db))
    blind = tick(postgres)
    assert metadata_of(blind, "histories_sessions")["mode"] == "incremental"
    assert (actual_sessions(db), summaries_updated_at(db)) == before

    # A range of days is always recomputed fully, whatever the config says (the tick after midnight).
    caught = run(postgres, "2024-03-20", TICK_DAY, run_config=discovery_tick_run_config())
    assert metadata_of(caught, "histories_sessions")["mode"] == "full"
    assert db.execute("select session_id, message_count from analytics.histories_sessions").fetchall() == [(kept, 2)]
    assert db.execute("select session_id, message_count from analytics.conversation_summaries").fetchall() == [
        (kept, 2)
    ]


def crews_figures(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dict[str, object]]:
    return {row["crew"]: row for row in metadata_of(result, asset)["crews"] if row["ok"]}


def test_a_long_range_is_merged_in_slices_of_its_own_transactions_and_stays_exact(db, postgres, scenario) -> None:
    # A crew whose created_at has no index is merged in one transaction: each slice would read its whole table.
    unindexed = HistoriesTableSpec("acme_unindexed_histories", index_created_at=False)
    create_histories_table(db, unindexed)
    create_crew(db, "acme_unindexed", "acme", unindexed.name)
    insert_messages(
        db,
        unindexed.name,
        [("5f0e0b7e-3a4e-4b55-9c1e-2d2f8c1b9a01", utc(2024, 3, 2, 23, 50), langchain("human", "hi"))],
    )
    scenario.good["acme_unindexed"], scenario.clients["acme_unindexed"] = unindexed.name, "acme"
    # A message dated after every partition is in no window: a full run counts it once, not once per slice.
    insert_messages(db, "globex_histories", [("session-far", utc(2999, 1, 1), langchain("human", "later"))])
    db.commit()

    # Two-day slices from the first partition (2024-01-01) cut the scenario's days (2024-03-01 to 03-04) at
    # 03-01, 03-03 and 03-05, across sessions that span midnight.
    sliced = run(postgres, "2024-01-01", RANGE[1], run_config=slicing(days=2))
    assert actual_sessions(db) == {row for row in oracle_sessions(db, scenario) if row[1] != "session-far"}
    assert actual_summaries(db) == {row for row in oracle_summaries(db, scenario) if row[1] != "session-far"}
    for asset in ("histories_sessions", "conversation_summaries"):
        transactions = {crew: row["transactions"] for crew, row in crews_figures(sliced, asset).items()}
        assert transactions["acme_unindexed"] == 1
        assert all(count > 30 for crew, count in transactions.items() if crew != "acme_unindexed"), transactions

    # One transaction per crew computes the same figures, and finds nothing left to change.
    whole = run(postgres, "2024-01-01", RANGE[1], run_config=slicing(days=1000))
    assert {row["transactions"] for row in crews_figures(whole, "histories_sessions").values()} == {1}
    for figure in (
        "rows_in_window",
        "sessions_in_window",
        "messages_in_window",
        "malformed_messages_in_window",
        "skipped_rows",
    ):
        assert metadata_of(sliced, "histories_sessions")[figure] == metadata_of(whole, "histories_sessions")[figure], (
            figure
        )
    assert metadata_of(whole, "histories_sessions")["skipped_rows"]["globex_bot"]["created_at_out_of_range"] == 1
    for asset in ("histories_sessions", "conversation_summaries"):
        assert (
            metadata_of(whole, asset)["rows_inserted_in_window"]
            == metadata_of(whole, asset)["rows_updated_in_window"]
            == 0
        )


def slicing(days: int) -> dict:
    config = {"max_days_per_transaction": days}
    return {
        "ops": {
            name: {"config": config}
            for name in ("histories_sessions", "conversation_summaries", "daily_conversation_stats")
        }
    }
