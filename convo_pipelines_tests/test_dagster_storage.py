"""Dagster's storage as the project's dagster.yaml configures it (PooledPostgresStorage), on a real PostgreSQL.

- A run keeps its storage connections: it opens a handful, where the same run on dagster-postgres'
  stock storage (`storage: postgres:`, the same tables) opens one per storage operation.
- A kept connection the server terminated is replaced at its next use: the next run succeeds.
- Disposing the instance closes the kept connections.
- Its tables go to the schema its URL names (how the bench keeps its runs beside its scratch tables).
- A range run's per-partition materializations are recorded in one insert, unless DAGSTER_EVENT_BATCH_SIZE is 0.
- A storage out of reach (or none chosen, under a validation) lets the instance be made; its first use stops the
  process with one line.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from convo_pipelines.cli.dev import PROJECT_DAGSTER_YAML
from convo_pipelines.lib.errors import ConfigError
from convo_pipelines.lib.postgres.urls import dagster_storage_url, psycopg_url
from convo_pipelines_tests.helpers import fresh_database, sessions_started, wait_until

STOCK_STORAGE_YAML = (
    "storage:\n  postgres:\n    postgres_url:\n      env: DAGSTER_STORAGE_URL\ntelemetry:\n  enabled: false\n"
)
DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-11")


@dg.asset(partitions_def=DAYS)
def counted_days(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    days = context.partition_keys
    context.log.info(f"days {days[0]} to {days[-1]}")
    return dg.MaterializeResult(metadata={"days": len(days)})


@pytest.fixture
def storage_database(server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with fresh_database(server_url, "convo_dagster") as url:
        monkeypatch.setenv("DAGSTER_STORAGE_URL", dagster_storage_url(url))
        yield url


@contextmanager
def instance_from(home: Path, dagster_yaml: str) -> Iterator[dg.DagsterInstance]:
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(dagster_yaml)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


PROBE = "storage-test-probe"


def probe(storage_database: str) -> psycopg.Connection:
    """A connection of the test's own, named so that the backend counts leave it out even while it exits.

    A closed connection's backend stays in pg_stat_activity for a moment after the client has gone, so the
    previous probe could otherwise be counted as a connection the instance left open.
    """
    return psycopg.connect(psycopg_url(storage_database), autocommit=True, application_name=PROBE)


def other_backends(watcher: psycopg.Connection) -> list[int]:
    """The watcher's database's backends other than the test's probes."""
    watcher.execute("select pg_stat_clear_snapshot()")
    rows = watcher.execute(
        "select pid from pg_stat_activity where datname = current_database() and application_name <> %s", (PROBE,)
    ).fetchall()
    return [pid for (pid,) in rows]


def backends_on(storage_database: str) -> list[int]:
    """The storage database's backends other than the test's probes."""
    with probe(storage_database) as conn:
        return other_backends(conn)


def materialize_ten_days(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [counted_days],
        instance=instance,
        tags={"dagster/asset_partition_range_start": "2026-01-01", "dagster/asset_partition_range_end": "2026-01-10"},
    )


def sessions_of_one_run(storage_database: str, home: Path, dagster_yaml: str) -> int:
    """Sessions one run opened to the storage database, read once the instance's backends have all exited; one
    probe watches throughout, opened before the count starts."""
    with probe(storage_database) as watcher:
        with instance_from(home, dagster_yaml) as instance:
            before = sessions_started(watcher)
            assert materialize_ten_days(instance).success
        wait_until(lambda: not other_backends(watcher), timeout=10)
        return sessions_started(watcher) - before


def test_a_run_keeps_its_storage_connections(storage_database: str, tmp_path: Path) -> None:
    pooled = sessions_of_one_run(storage_database, tmp_path / "pooled", PROJECT_DAGSTER_YAML.read_text())
    stock = sessions_of_one_run(storage_database, tmp_path / "stock", STOCK_STORAGE_YAML)
    assert pooled <= 20, f"a run of 10 partitions opened {pooled} connections to Dagster's storage"
    assert stock >= 3 * pooled, f"the stock storage opened {stock} connections, the project's {pooled}"


def transactions_recording_materializations(storage_database: str, run_id: str) -> int:
    """How many transactions wrote the run's asset materializations (their rows' distinct xmin)."""
    with probe(storage_database) as conn:
        return conn.execute(
            "select count(distinct xmin::text) from event_logs"
            " where run_id = %s and dagster_event_type = 'ASSET_MATERIALIZATION'",
            (run_id,),
        ).fetchone()[0]


@pytest.mark.parametrize(("batch_size", "transactions"), [("", 1), ("0", 10)])
def test_a_range_runs_materializations_are_recorded_in_one_insert(
    storage_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: str, transactions: int
) -> None:
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", batch_size)  # empty: the storage sets its own
    with instance_from(tmp_path / "home", PROJECT_DAGSTER_YAML.read_text()) as instance:
        result = materialize_ten_days(instance)
        assert result.success
        assert transactions_recording_materializations(storage_database, result.run_id) == transactions
        materialized = instance.get_materialized_partitions(counted_days.key)
    assert materialized == set(DAYS.get_partition_keys()[:10])


def test_a_terminated_storage_connection_is_replaced(storage_database: str, tmp_path: Path) -> None:
    with instance_from(tmp_path / "home", PROJECT_DAGSTER_YAML.read_text()) as instance:
        assert materialize_ten_days(instance).success
        kept = backends_on(storage_database)
        assert kept, "the instance keeps no connection to its storage"
        with probe(storage_database) as conn:
            for pid in kept:
                conn.execute("select pg_terminate_backend(%s)", (pid,))
        result = materialize_ten_days(instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id).is_success
        assert len(instance.get_runs()) == 2


def test_disposing_the_instance_closes_its_connections(storage_database: str, tmp_path: Path) -> None:
    with instance_from(tmp_path / "home", PROJECT_DAGSTER_YAML.read_text()) as instance:
        assert materialize_ten_days(instance).success
        # The schedule storage too, which the daemon uses and the instance never disposes itself.
        assert instance.all_instigator_state() == []
        assert len(backends_on(storage_database)) >= 3
    # A connection Dagster checked out and dropped without returning it is closed when Python collects it
    # (SQLAlchemy's pools close what they no longer reach); what the instance keeps must close at disposal.
    gc.collect()
    assert wait_until(lambda: backends_on(storage_database) == [], timeout=10), backend_details(storage_database)


def backend_details(storage_database: str) -> list[tuple]:
    """What a backend left on the storage database was last doing, for the failure's message."""
    with probe(storage_database) as conn:
        return conn.execute(
            "select pid, application_name, state, backend_start, state_change, left(query, 200) from pg_stat_activity "
            "where datname = current_database() and application_name <> %s",
            (PROBE,),
        ).fetchall()


def test_the_storage_keeps_its_tables_in_the_schema_its_url_names(
    storage_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How the bench keeps its runs' storage beside its scratch tables: a schema of its own, named in the URL."""
    with probe(storage_database) as conn:
        conn.execute("create schema scratch_dagster")
    monkeypatch.setenv("DAGSTER_STORAGE_URL", dagster_storage_url(storage_database, schema="scratch_dagster"))
    with instance_from(tmp_path / "home", PROJECT_DAGSTER_YAML.read_text()) as instance:
        assert materialize_ten_days(instance).success
    with probe(storage_database) as conn:
        schemas = {
            row[0]
            for row in conn.execute("select table_schema from information_schema.tables where table_name = 'runs'")
        }
    assert schemas == {"scratch_dagster"}
    with pytest.raises(ConfigError, match="'scratch; drop'"):
        dagster_storage_url(storage_database, schema="scratch; drop")


def with_storage_config(lines: str) -> str:
    """The project's dagster.yaml with these lines as its storage's config."""
    project = PROJECT_DAGSTER_YAML.read_text()
    assert "    config: {}\n" in project
    return project.replace(
        "    config: {}\n", "    config:\n" + "".join(f"      {line}\n" for line in lines.splitlines())
    )


def test_pool_mode_transaction_keeps_no_connection(storage_database: str, tmp_path: Path) -> None:
    """For a storage URL that is a transaction pooler's: one connection per operation, as dagster-postgres."""
    with instance_from(tmp_path / "home", with_storage_config("pool_mode: transaction")) as instance:
        assert materialize_ten_days(instance).success
        assert instance.all_instigator_state() == []
        assert wait_until(lambda: backends_on(storage_database) == [], timeout=10)


def test_a_wrong_pool_mode_is_one_line_naming_it(storage_database: str, tmp_path: Path) -> None:
    expected = r"^convo_pipelines: dagster.yaml's storage pool_mode is 'sessions': expected"
    with (
        pytest.raises(SystemExit, match=expected),
        instance_from(tmp_path / "home", with_storage_config("pool_mode: sessions")) as instance,
    ):
        instance.get_runs()


def test_the_instance_keeps_a_week_of_sensor_ticks_that_requested_runs(storage_database: str, tmp_path: Path) -> None:
    """Each late-change tick stores its cursor (a fingerprint per stamp bucket): Dagster's default keeps the ticks
    that requested runs forever. The daemon purges by these settings (read as Dagster's own tick purge reads them)."""
    from dagster._core.definitions.run_request import InstigatorType  # no public name; read as the daemon reads it

    with instance_from(tmp_path / "home", PROJECT_DAGSTER_YAML.read_text()) as instance:
        days = instance.get_tick_retention_settings(InstigatorType.SENSOR)
    assert {status.value.lower(): kept for status, kept in days.items()} == {
        "started": -1,
        "skipped": 7,
        "success": 7,
        "failure": 30,
    }


def test_a_storage_out_of_reach_stops_the_instance_at_its_first_use_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no server behind DATABASE_URL, the project's instance is still made (definitions load with it), and the
    first thing that needs its storage stops the process with one line naming it, never the password."""
    monkeypatch.delenv("DAGSTER_STORAGE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cr%40t-pw@127.0.0.1:1/app")
    with (
        instance_from(tmp_path / "home", PROJECT_DAGSTER_YAML.read_text()) as instance,
        pytest.raises(SystemExit) as stopped,
    ):
        instance.get_runs()
    line = str(stopped.value)
    assert line.splitlines() == [line]
    assert line.startswith("convo_pipelines: Dagster's storage ") and "cannot be used for Dagster's storage" in line
    assert "s3cr" not in line


def test_a_validation_chooses_no_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `dagster definitions validate` or `dg check defs` (DAGSTER_IS_DEFS_VALIDATION_CLI), the project's
    instance chooses no storage: it connects nowhere, a code location's load finds no stored state, and a use of
    its storage (which a validation never makes) would stop the process saying so."""
    monkeypatch.delenv("DAGSTER_STORAGE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cr%40t-pw@127.0.0.1:1/app")
    monkeypatch.setenv("DAGSTER_IS_DEFS_VALIDATION_CLI", "1")
    with instance_from(tmp_path / "home", PROJECT_DAGSTER_YAML.read_text()) as instance:
        assert instance.run_storage.get_cursor_values({"any"}) == {}
        with pytest.raises(
            SystemExit, match=r"^convo_pipelines: Dagster's storage is not chosen while definitions are"
        ):
            instance.get_runs()
