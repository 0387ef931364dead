"""Discovery ticks over many crews: each crew's new rows read exactly, crews with nothing new left alone (no
transaction, lock or merge of their own), a crew added between ticks picked up by the next one, a crew another run
holds waited for, and each table probed through its created_at index."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
from psycopg import sql

from convo_pipelines.defs.histories.assets import histories_assets
from convo_pipelines.defs.histories.crew_processing import crew_lock_key
from convo_pipelines.defs.histories.crews import inspect_crews, load_crews
from convo_pipelines.defs.histories.crews_to_read import rows_to_read_probe
from convo_pipelines.defs.histories.schedules import discovery_tick_run_config
from convo_pipelines.defs.histories.window import Window
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE
from convo_pipelines_tests.histories_data import (
    HistoriesTableSpec,
    Scenario,
    actual_sessions,
    actual_summaries,
    create_client,
    create_crew,
    create_histories_table,
    insert_messages,
    oracle_sessions,
    oracle_summaries,
    shaped,
)

CREWS = 200
DISCOVERY_ASSETS = ("histories_sessions", "conversation_summaries")
SESSION_ID_TYPES = ("uuid", "text", "varchar(255)")


def tick(postgres: PostgresResource, instance: dg.DagsterInstance, day: str) -> dg.ExecuteInProcessResult:
    """A discovery schedule's tick over `day`, recorded in `instance` as the daemon's runs are in the project's."""
    tags = {"dagster/asset_partition_range_start": day, "dagster/asset_partition_range_end": day}
    result = dg.materialize(
        histories_assets,
        resources={"postgres": postgres},
        tags=tags,
        run_config=discovery_tick_run_config(),
        instance=instance,
    )
    assert result.success
    return result


def metadata_of(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)][:1]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def merged_crews(result: dg.ExecuteInProcessResult, asset: str) -> set[str]:
    return {row["crew"] for row in metadata_of(result, asset)["crews"] if row["ok"]}


def add_crew(db: psycopg.Connection, scenario: Scenario, number: int, code: str) -> str:
    table = f"histories_{code}"
    shape = "langchain" if number % 2 else "n8n"
    create_histories_table(db, HistoriesTableSpec(table, shape, SESSION_ID_TYPES[number % 3]))
    create_crew(db, code, "acme", table)
    scenario.good[code], scenario.clients[code] = table, "acme"
    return table


def say(db: psycopg.Connection, table: str, session: str, at: datetime, number: int) -> None:
    """A human message and its answer a second later, in the crew's shape."""
    shape = "langchain" if number % 2 else "n8n"
    insert_messages(
        db,
        table,
        [
            (session, at, shaped(shape, "human", f"hi {number}")),
            (session, at + timedelta(seconds=1), shaped(shape, "ai", "hello")),
        ],
    )


def now_into_the_utc_day(db: psycopg.Connection, at_least: timedelta) -> datetime:
    """The database's now, once it is at least `at_least` past UTC midnight (waiting for that, the few minutes
    after midnight): the tests date their messages on the tick's UTC day."""
    now = db.execute("select now()").fetchone()[0].astimezone(UTC)
    since_midnight = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
    if since_midnight >= at_least:
        return now
    time.sleep((at_least - since_midnight).total_seconds())
    return db.execute("select now()").fetchone()[0].astimezone(UTC)


def test_a_tick_over_many_crews_reads_only_crews_with_new_rows_exactly_and_finds_a_new_crew(db, postgres) -> None:
    # The earlier sessions are older than the second tick's late-commit allowance, and on the same UTC day.
    now = now_into_the_utc_day(db, at_least=LATE_COMMIT_ALLOWANCE * 4)
    since_midnight = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
    day = now.date().isoformat()
    earlier = now - min(timedelta(minutes=30), since_midnight - timedelta(minutes=1))
    create_client(db, "acme")
    scenario = Scenario()
    tables = {}
    with db.transaction():
        for number in range(CREWS):
            code = f"crew_{number:03d}"
            tables[code] = add_crew(db, scenario, number, code)
            # Every fourth crew is empty; the others had a session half an hour ago.
            if number % 4:
                say(db, tables[code], f"00000000-0000-0000-0000-{number:012d}", earlier, number)
    instance = dg.DagsterInstance.ephemeral()

    first = tick(postgres, instance, day)
    for asset in DISCOVERY_ASSETS:
        meta = metadata_of(first, asset)
        # No crew has a row of the day yet: each is read from the day's start, and the empty ones are not merged.
        assert (meta["crews_merged"], meta["crews_without_new_rows"]) == (CREWS * 3 // 4, CREWS // 4)
        assert meta["crews_processed"] == CREWS and meta["mode"] == "mixed"
    assert actual_sessions(db) == oracle_sessions(db, scenario)
    read_since = datetime.fromisoformat(metadata_of(first, "histories_sessions")["written_since"])

    changed = {f"crew_{number:03d}" for number in range(1, CREWS, 20)}
    for code in changed:
        number = int(code.removeprefix("crew_"))
        say(db, tables[code], f"11111111-0000-0000-0000-{number:012d}", now, number)
    # A transaction that committed after the first tick read its crew, its message dated a minute before that tick:
    # within the late-commit allowance, so the next tick reads it although the first tick's start is past it.
    say(db, tables["crew_010"], "22222222-0000-0000-0000-000000000010", read_since - timedelta(minutes=1), 10)
    # An empty crew's first messages, dated before the first tick: it has no row of the day, so it is read whole.
    say(db, tables["crew_004"], "33333333-0000-0000-0000-000000000004", earlier, 4)
    # A crew added between the ticks, its messages written before the first tick.
    added = add_crew(db, scenario, CREWS + 1, "crew_added")
    say(db, added, "44444444-0000-0000-0000-000000000001", earlier, CREWS + 1)

    second = tick(postgres, instance, day)
    expected = changed | {"crew_010", "crew_004", "crew_added"}
    for asset in DISCOVERY_ASSETS:
        meta = metadata_of(second, asset)
        assert merged_crews(second, asset) == expected, asset
        assert (meta["crews_merged"], meta["crews_without_new_rows"]) == (len(expected), CREWS + 1 - len(expected))
        assert meta["crews_processed"] == CREWS + 1 and meta["crews_failed"] == 0
    assert actual_sessions(db) == oracle_sessions(db, scenario)
    assert actual_summaries(db) == oracle_summaries(db, scenario)
    added_rows = db.execute(
        "select count(*) from analytics.histories_sessions where crew_code = 'crew_added'"
    ).fetchone()[0]
    assert added_rows == 1

    # Nothing new: whatever a tick reads again (rows inside the late-commit allowance), it changes nothing.
    before = actual_sessions(db), actual_summaries(db)
    third = tick(postgres, instance, day)
    for asset in DISCOVERY_ASSETS:
        meta = metadata_of(third, asset)
        assert (meta["rows_inserted_in_window"], meta["rows_updated_in_window"], meta["rows_deleted_in_window"]) == (
            0,
            0,
            0,
        )
        assert meta["crews_without_new_rows"] >= CREWS + 1 - len(expected)
    assert (actual_sessions(db), actual_summaries(db)) == before


def test_a_tick_waits_for_a_crew_another_run_holds_then_merges_it(db, db_session, postgres) -> None:
    # Its messages are dated a minute ago, on the tick's UTC day.
    now = now_into_the_utc_day(db, at_least=timedelta(minutes=2))
    create_client(db, "acme")
    scenario = Scenario()
    tables = {code: add_crew(db, scenario, number, code) for number, code in enumerate(("crew_free", "crew_held"))}
    for number, table in enumerate(tables.values()):
        say(db, table, f"55555555-0000-0000-0000-{number:012d}", now - timedelta(minutes=1), number)
    results: list[dg.ExecuteInProcessResult] = []

    def run_tick() -> None:
        # The instance's in-memory storage is made and closed in the thread that uses it.
        with dg.DagsterInstance.ephemeral() as instance:
            results.append(tick(postgres, instance, now.date().isoformat()))

    with psycopg.connect(db.info.dsn) as other_run:
        # Another run merging crew_held: its lock, as every run takes it, until its transaction ends.
        other_run.execute(db_session.sql("histories/lock_crew.sql"), {"crew_lock_key": crew_lock_key("crew_held")})
        runner = threading.Thread(target=run_tick)
        runner.start()
        waiting = 0
        for _ in range(300):
            waiting = db.execute(
                "select count(*) from pg_catalog.pg_locks where locktype = 'advisory' and not granted"
            ).fetchone()[0]
            if waiting or not runner.is_alive():
                break
            time.sleep(0.1)
        # The tick neither skipped the crew nor went on without it: it waits for the lock.
        assert waiting == 1 and runner.is_alive()
        assert {row[0] for row in actual_sessions(db)} == {"crew_free"}
        other_run.rollback()
    runner.join(timeout=120)

    assert results and results[0].success
    for asset in DISCOVERY_ASSETS:
        assert merged_crews(results[0], asset) == set(tables), asset
    assert actual_sessions(db) == oracle_sessions(db, scenario)
    assert actual_summaries(db) == oracle_summaries(db, scenario)


def test_a_tick_probes_a_large_table_through_its_created_at_index(db, db_session) -> None:
    """Half of the table is today's: a plan that stopped at the first row of a scan would read the older half first."""
    today = db.execute("select (now() at time zone 'UTC')::date").fetchone()[0]
    start = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    create_client(db, "acme")
    table = add_crew(db, Scenario(), 1, "crew_large")
    db.execute(
        sql.SQL(
            "insert into {} (session_id, message, created_at) "
            "select 'session ' || (position / 4), %s::jsonb, %s + make_interval(secs => position * 20) "
            "from generate_series(1, 8000) as position"
        ).format(sql.Identifier(table)),
        (json.dumps(shaped("n8n", "human", "hi")), start - timedelta(days=1)),
    )
    db.execute(sql.SQL("analyze {}").format(sql.Identifier(table)))
    [histories] = inspect_crews(db, "public", load_crews(db, "public"))
    window = Window(start, start + timedelta(days=1), one_day=True)

    statement, params = rows_to_read_probe(db_session, [histories], {"crew_large": start}, window)
    plan = "\n".join(row[0] for row in db.execute(sql.SQL("explain ") + statement, params))

    assert "Index Only Scan" in plan or "Index Scan" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert db.execute(statement, params).fetchall() == [("crew_large",)]
