"""Runs that recover by themselves, on a real PostgreSQL and real Dagster processes.

- A run whose process is SIGKILLed is marked failed and its pool slots are freed by the project's
  own instance configuration (dagster.yaml, run by a real `dagster-daemon run`), so the next
  writing run of the pool completes instead of waiting forever.
- A step whose PostgreSQL backend is terminated is retried (TRANSIENT_ERRORS_RETRY) and ends exact.
- A database that stays unreachable fails the step after the last retry with one line naming the
  database, never the password; an error that is not transient fails at once, without retries.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from convo_pipelines.cli.dev import PROJECT_DAGSTER_YAML
from convo_pipelines.defs.alerts import RunFailureAlert, run_failure_alert
from convo_pipelines.defs.links.assets import clients_front_conversations, people_front_conversations
from convo_pipelines.defs.links.late_change_runs import LATE_CHANGE_RUN_TAGS
from convo_pipelines.defs.links.project_assets import project_conversations
from convo_pipelines.defs.links.table_state.lock import LOCK_CLASS
from convo_pipelines.defs.resources import (
    APP_DATABASE_POOL,
    TRANSIENT_ERRORS_RETRY,
    PostgresResource,
)
from convo_pipelines.lib.postgres.urls import dagster_storage_url, database_location
from convo_pipelines_tests.helpers import (
    PROJECT_VARIABLES,
    environment_without,
    fresh_database,
    wait_until,
)
from convo_pipelines_tests.ports import free_port
from convo_pipelines_tests.source_data import (
    build_source_data,
    expected_client_links,
    expected_people_links,
    link_pairs,
)

SCHEMA = "public"
PEOPLE = "people_front_conversations"
CLIENTS = "clients_front_conversations"
FRONT_ASSETS = [people_front_conversations, clients_front_conversations]
FULL_RANGE = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-20"}
BIN = Path(sys.executable).parent
# The only change the test makes to the project's dagster.yaml: the monitoring daemon looks every
# second and frees a dead run's slots 15 seconds after it ended (30 s and 60 s in production), so the
# test waits seconds rather than a minute and a half. The 15 s leave the test time to see the slots
# still taken once the runs are marked failed, however busy the machine. Storage, queue and pool
# limits are the project's.
TEST_MONITORING_INTERVALS = {"poll_interval_seconds": 1, "free_slots_after_run_end_seconds": 15}
# How long to wait for the run behind two killed ones before calling it hung: the runs marked failed (at once),
# their slots freed (15 s + up to 1 s), the queue's next tick (5 s) launching the run it held, the run itself (its
# process loads the code: seconds, more on a busy machine). Without the monitoring daemon it never finishes.
NEXT_RUN_DEADLINE_SECONDS = 70


def jan(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# A killed run does not hang the pool


@pytest.fixture
def project_instance(
    tmp_path: Path, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dg.DagsterInstance, Path]]:
    """The project's Dagster instance (its dagster.yaml, monitoring intervals tuned down) on a fresh
    PostgreSQL database for Dagster's storage; yields the instance and its DAGSTER_HOME."""
    with fresh_database(server_url, "convo_dagster") as storage_database:
        home = tmp_path / "dagster_home"
        home.mkdir()
        config = yaml.safe_load(PROJECT_DAGSTER_YAML.read_text())
        config["run_monitoring"].update(TEST_MONITORING_INTERVALS)
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        monkeypatch.setenv("DAGSTER_STORAGE_URL", dagster_storage_url(storage_database))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance, home


def test_the_test_instance_is_the_project_configuration_with_shorter_intervals(project_instance) -> None:
    instance, home = project_instance
    project = yaml.safe_load(PROJECT_DAGSTER_YAML.read_text())
    tested = yaml.safe_load((home / "dagster.yaml").read_text())
    assert {key: value for key, value in tested["run_monitoring"].items() if key not in TEST_MONITORING_INTERVALS} == {
        key: value for key, value in project["run_monitoring"].items() if key not in TEST_MONITORING_INTERVALS
    }
    assert {key: value for key, value in tested.items() if key != "run_monitoring"} == {
        key: value for key, value in project.items() if key != "run_monitoring"
    }
    # What production gets: monitoring on, dead runs' slots freed within minutes, no short run limit.
    monitoring = project["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["poll_interval_seconds"] + monitoring["free_slots_after_run_end_seconds"] <= 180
    assert monitoring.get("max_runtime_seconds", 0) == 0 or monitoring["max_runtime_seconds"] >= 4 * 3600
    assert instance.run_monitoring_enabled
    assert "MONITORING" in instance.get_required_daemon_types()
    assert instance.event_log_storage.supports_global_concurrency_limits


@pytest.mark.slow
def test_killed_runs_fail_and_free_their_pool_slots_so_the_next_run_completes(
    project_instance, db: psycopg.Connection, database_url: str, project_root: Path, tmp_path: Path
) -> None:
    instance, home = project_instance
    env, daemon_log = daemon_environment(home, database_url), tmp_path / "daemon.log"
    with daemon_beside_the_people_lock(db, env, project_root, daemon_log) as holder:
        with ThreadPoolExecutor(max_workers=2) as launcher:
            killed = list(
                launcher.map(lambda day: launch_front_links_run(env, project_root, day), ["2024-01-08", "2024-01-09"])
            )
        assert wait_until(lambda: pipeline_backends_waiting_on_the_lock(db) == 2, timeout=90), daemon_log.read_text()[
            -3000:
        ]
        assert slot_holders(instance) == set(killed)  # the pool (default_limit 2) is full
        # The next writing run of the pool: launched at once (the pool's op_granularity_run_buffer), its step
        # queues for a slot while the pool is full, so it never reaches the table's lock.
        next_run = launch_front_links_run(env, project_root, "2024-01-10")
        assert wait_until(lambda: next_run in runs_waiting_for_a_slot(instance), timeout=90), run_messages(
            instance, next_run
        )[-20:]
        assert slot_holders(instance) == set(killed)
        assert pipeline_backends_waiting_on_the_lock(db) == 2

        for run_id in killed:
            os.kill(run_worker_pid(instance, run_id), signal.SIGKILL)
        # The code server that launched them sees their processes gone and marks the runs failed ...
        assert wait_until(
            lambda: all(run_status(instance, run_id) == dg.DagsterRunStatus.FAILURE for run_id in killed), timeout=30
        )
        for run_id in killed:
            crash = f"Run execution process for {run_id} was terminated by signal 9 (SIGKILL)."
            assert any(crash in message for message in run_messages(instance, run_id))
        # ... but that leaves their slots taken (what hung every later run): freeing them is the
        # monitoring daemon's work, free_slots_after_run_end_seconds after the runs ended.
        assert slot_holders(instance) == set(killed)
        holder.rollback()  # the dead runs' backends end once they can no longer talk to their client

        assert wait_until(lambda: run_status(instance, next_run) in FINISHED, timeout=NEXT_RUN_DEADLINE_SECONDS + 30)
        # The killed runs ended moments apart: the daemon may free the second one's slot a poll after the first,
        # once the next run has already taken the first and finished.
        assert wait_until(lambda: slot_holders(instance) == set(), timeout=30), slot_holders(instance)

    assert run_status(instance, next_run) == dg.DagsterRunStatus.SUCCESS, run_messages(instance, next_run)[-20:]
    # The alert of a killed run says why it failed, though no step failed.
    alert = alert_for(instance, killed[0])
    assert alert.failed_steps == () and alert.partitions == "partition 2024-01-08"
    assert f"Run execution process for {killed[0]} was terminated by signal 9 (SIGKILL)." in alert.error
    # The run after them wrote its day exactly.
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA, jan(10), jan(11)) != set()
    assert link_pairs(db, SCHEMA, CLIENTS) == expected_client_links(db, SCHEMA, jan(10), jan(11)) != set()
    # Runs without the late-change sensor's retry tag are not launched again (run_retries' max_retries is 0).
    assert retries_of(instance, killed[0]) == retries_of(instance, killed[1]) == []


@pytest.mark.slow
def test_a_killed_late_change_run_is_launched_once_more_and_its_retry_ends_exact(
    project_instance, db: psycopg.Connection, database_url: str, project_root: Path, tmp_path: Path
) -> None:
    """A tick requests each change once, so a late-change run that fails must not lose it: the sensor tags its
    runs for one retry, and the daemon (run_retries in dagster.yaml) launches a killed one again."""
    instance, home = project_instance
    env, daemon_log = daemon_environment(home, database_url), tmp_path / "daemon.log"
    with daemon_beside_the_people_lock(db, env, project_root, daemon_log) as holder:
        killed = launch_front_links_run(env, project_root, "2024-01-08", LATE_CHANGE_RUN_TAGS)
        assert wait_until(lambda: pipeline_backends_waiting_on_the_lock(db) == 1, timeout=90), daemon_log.read_text()[
            -3000:
        ]
        os.kill(run_worker_pid(instance, killed), signal.SIGKILL)
        assert wait_until(lambda: run_status(instance, killed) == dg.DagsterRunStatus.FAILURE, timeout=30)
        holder.rollback()
        retries = wait_until(lambda: retries_of(instance, killed), timeout=90)
        assert len(retries) == 1, daemon_log.read_text()[-3000:]
        assert wait_until(lambda: run_status(instance, retries[0]) in FINISHED, timeout=NEXT_RUN_DEADLINE_SECONDS + 30)

    assert run_status(instance, retries[0]) == dg.DagsterRunStatus.SUCCESS, run_messages(instance, retries[0])[-20:]
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA, jan(8), jan(9)) != set()
    assert link_pairs(db, SCHEMA, CLIENTS) == expected_client_links(db, SCHEMA, jan(8), jan(9)) != set()


@contextmanager
def daemon_beside_the_people_lock(
    db: psycopg.Connection, env: dict[str, str], project_root: Path, daemon_log: Path
) -> Iterator[psycopg.Connection]:
    """The test data, a real `dagster-daemon run`, and a connection holding the people table's writer lock (each
    run's people step waits on it holding a pool slot), yielded to release it with `rollback()`."""
    build_source_data(db)
    with running_daemon(env, project_root, daemon_log), psycopg.connect(env["DATABASE_URL"]) as holder:
        holder.execute("select pg_advisory_xact_lock(%s, hashtext('public.people_front_conversations'))", (LOCK_CLASS,))
        yield holder


def daemon_environment(home: Path, database_url: str) -> dict[str, str]:
    """The environment of the daemon and the CLI launching runs: the test's instance and database only."""
    return environment_without(
        PROJECT_VARIABLES | {"DAGSTER_HOME"},
        DAGSTER_HOME=str(home),
        DAGSTER_STORAGE_URL=os.environ["DAGSTER_STORAGE_URL"],
        DATABASE_URL=database_url,
        ENABLE_BACKGROUND_JOBS="false",  # no schedule or sensor launches runs of its own meanwhile
    )


def retries_of(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Ids of the runs Dagster launched to retry this one."""
    return [run.run_id for run in instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))]


def alert_for(instance: dg.DagsterInstance, run_id: str) -> RunFailureAlert:
    """What run_failure_alert_sensor says about this failed run."""
    failure = next(
        entry.dagster_event
        for entry in instance.all_logs(run_id)
        if entry.dagster_event_type == dg.DagsterEventType.RUN_FAILURE
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run_id),
    )
    return run_failure_alert(context.for_run_failure(), webserver_url=None)


FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@contextmanager
def running_daemon(env: dict[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` on the project's code location, stopped (with its code server) on exit."""
    with log.open("w") as output:
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-m", "convo_pipelines.definitions"],
            env=env,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield daemon
        finally:
            # The daemon, its code server and the run processes it launched share one process group.
            os.killpg(daemon.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.wait(timeout=30)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()


def launch_front_links_run(env: dict[str, str], cwd: Path, day: str, tags: dict[str, str] | None = None) -> str:
    """Submit a front_links_job run for one day (with `tags`) to the instance's queue, as `dagster job launch` does;
    returns its id."""
    run_id = str(uuid.uuid4())
    completed = subprocess.run(
        [
            str(BIN / "dagster"),
            "job",
            "launch",
            "-m",
            "convo_pipelines.definitions",
            "-j",
            "front_links_job",
            "--run-id",
            run_id,
            "--tags",
            json.dumps({"dagster/partition": day, **(tags or {})}),
        ],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    return run_id


def pipeline_backends_waiting_on_the_lock(db: psycopg.Connection) -> int:
    return db.execute(
        "select count(*) from pg_stat_activity where datname = current_database() "
        "and application_name = 'convo_pipelines' and wait_event = 'advisory'"
    ).fetchone()[0]


def slot_holders(instance: dg.DagsterInstance) -> set[str]:
    """Ids of the runs holding a slot of the app_database pool."""
    return {slot.run_id for slot in instance.event_log_storage.get_concurrency_info(APP_DATABASE_POOL).claimed_slots}


def runs_waiting_for_a_slot(instance: dg.DagsterInstance) -> set[str]:
    """Ids of the runs with a step queued for a slot of the app_database pool, none assigned to it yet."""
    return instance.event_log_storage.get_concurrency_info(APP_DATABASE_POOL).pending_run_ids


def run_status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus | None:
    run = instance.get_run_by_id(run_id)
    return run.status if run else None


def run_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [entry.message for entry in instance.all_logs(run_id)]


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int:
    """The pid of the process executing the run, from the engine event Dagster logs when it starts."""
    for message in run_messages(instance, run_id):
        found = re.search(r"Started process for run \(pid: (\d+)\)", message)
        if found:
            return int(found.group(1))
    raise AssertionError(f"run {run_id} logged no process id: {run_messages(instance, run_id)}")


# ---------------------------------------------------------------------------------------------
# Transient database errors are retried, the others are not


def test_a_terminated_backend_is_retried_and_the_run_ends_exact(
    db: psycopg.Connection, database_url: str, postgres
) -> None:
    build_source_data(db)
    instance = dg.DagsterInstance.ephemeral()
    results: list[dg.ExecuteInProcessResult] = []
    with psycopg.connect(database_url) as holder:
        holder.execute("select pg_advisory_xact_lock(%s, hashtext('public.people_front_conversations'))", (LOCK_CLASS,))
        runner = threading.Thread(
            target=lambda: results.append(
                dg.materialize(
                    FRONT_ASSETS,
                    resources={"postgres": postgres},
                    tags=FULL_RANGE,
                    instance=instance,
                    raise_on_error=False,
                )
            )
        )
        runner.start()
        assert wait_until(lambda: pipeline_backends_waiting_on_the_lock(db) == 1 or not runner.is_alive(), timeout=60)
        backend = db.execute(
            "select pid from pg_stat_activity where datname = current_database() "
            "and application_name = 'convo_pipelines' and wait_event = 'advisory'"
        ).fetchone()[0]
        assert db.execute("select pg_terminate_backend(%s)", (backend,)).fetchone()[0]
        holder.rollback()
    runner.join(timeout=120)

    assert results and results[0].success
    retries = [event for event in results[0].all_events if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert [event.step_key for event in retries] == [PEOPLE]
    # Dagster's retry request, caused by the one-line error, caused by psycopg's.
    retry_error = error_chain(retries[0].event_specific_data.error)
    assert retry_error[1] == (
        f"convo_pipelines.defs.resources.DatabaseUnavailable: lost the connection to PostgreSQL at {database_location(database_url)} "
        "(attempt 1 of 4, retrying): terminating connection due to administrator command"
    )
    assert retry_error[2].endswith("AdminShutdown: terminating connection due to administrator command")
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    assert link_pairs(db, SCHEMA, CLIENTS) == expected_client_links(db, SCHEMA)


def test_a_connection_lost_inside_a_block_that_handled_the_error_is_retried(postgres) -> None:
    """A block that catches the lost connection itself (as histories do per crew) does not pass for done."""
    attempts: list[int] = []

    @dg.asset(retry_policy=TRANSIENT_ERRORS_RETRY)
    def swallows_its_lost_connection(context: dg.AssetExecutionContext, postgres: PostgresResource) -> None:
        attempts.append(context.retry_number)
        with postgres.session() as session:
            if context.retry_number == 0:
                try:
                    session.execute("select pg_terminate_backend(pg_backend_pid())")
                except psycopg.Error:
                    pass  # recorded and ignored, as a per-crew failure would be

    result = dg.materialize([swallows_its_lost_connection], resources={"postgres": postgres})

    assert result.success and attempts == [0, 1]
    [retry] = [event for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert "lost the connection to PostgreSQL at" in error_chain(retry.event_specific_data.error)[1]


@pytest.mark.slow  # waits out the three retry pauses (about 33 s)
def test_an_unreachable_database_fails_after_the_last_retry_with_one_line(tmp_path: Path) -> None:
    port = free_port()
    unreachable = PostgresResource(database_url=f"postgresql://convo:s3cret-pw@127.0.0.1:{port}/convo")
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [project_conversations], resources={"postgres": unreachable}, instance=instance, raise_on_error=False
    )

    assert not result.success
    events = result.all_events
    assert (
        sum(event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for event in events)
        == TRANSIENT_ERRORS_RETRY.max_retries
    )
    failure = next(event for event in events if event.is_step_failure)
    description = failure.event_specific_data.user_failure_data.description
    assert description == (
        f"could not connect to PostgreSQL at 127.0.0.1:{port} database convo after 4 attempts: "
        f'connection failed: connection to server at "127.0.0.1", port {port} failed: Connection refused'
    )
    assert failure.event_specific_data.error.cause is None  # one error, not a chain of tracebacks
    everything = "\n".join(
        [
            *(str(event.event_specific_data) for event in events),
            *(entry.message for entry in instance.all_logs(result.run_id)),
        ]
    )
    assert "s3cret-pw" not in everything


def test_an_error_that_is_not_transient_fails_at_once(db: psycopg.Connection, postgres) -> None:
    build_source_data(db)
    db.execute(
        "create function fail_link_insert() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$"
    )
    db.execute(
        "create trigger fail_link_insert before insert on people_front_conversations for each row execute function fail_link_insert()"
    )
    result = dg.materialize(
        [people_front_conversations], resources={"postgres": postgres}, tags=FULL_RANGE, raise_on_error=False
    )

    assert not result.success
    assert not any(event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for event in result.all_events)
    failure = next(event for event in result.all_events if event.is_step_failure)
    description = failure.event_specific_data.user_failure_data.description
    assert (
        description
        == f"PostgreSQL at {database_location(postgres.database_url)} failed the step (P0001): injected failure"
    )
    assert failure.event_specific_data.error.cause is not None  # the original error and its traceback stay below it


def error_chain(error) -> list[str]:
    """The first line of an error and of each of its causes, outermost first."""
    lines = []
    while error is not None:
        lines.append(error.message.strip().splitlines()[0])
        error = error.cause
    return lines
