"""The schedules and the late-change sensor run by a real `dagster-daemon run`, as in production.

Two daemons run side by side over the same wait, each on its own application database and its own
PostgreSQL-backed Dagster storage, with the same data and the same changes made at the same moments:

- with CONVERSATION_DISCOVERY_CRON="* * * * *", chat messages reach analytics.conversation_summaries
  through the discovery schedule's ticks (a first, full tick, then an incremental one for messages
  written after it), and a recipient added late to an old Front conversation reaches
  people_front_conversations through link_tables_late_changes_sensor;
- with ENABLE_BACKGROUND_JOBS=false, the daemon is alive (its heartbeats say so) and nothing fires.

The test instance is the project's dagster.yaml with shorter daemon intervals (TEST_INSTANCE_TUNING).
The cron's one-minute granularity remains, so each part waits about one to two minutes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import psutil
import psycopg
import pytest
import yaml

from convo_pipelines.cli.dev import PROJECT_DAGSTER_YAML
from convo_pipelines.defs.links.assets import clients_front_conversations, people_front_conversations
from convo_pipelines.defs.links.change_fingerprints import FRONT_SOURCE
from convo_pipelines.defs.links.sensor_cursor import read_cursor
from convo_pipelines.defs.partitions import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    partition_range_tags,
)
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.urls import dagster_storage_url
from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE
from convo_pipelines_tests.helpers import PROJECT_VARIABLES, environment_without, fresh_database
from convo_pipelines_tests.histories_data import (
    HistoriesTableSpec,
    Scenario,
    actual_sessions,
    actual_summaries,
    create_client,
    create_crew,
    create_histories_table,
    insert_messages,
    langchain,
    oracle_sessions,
    oracle_summaries,
)
from convo_pipelines_tests.source_data import (
    SourceData,
    build_source_data,
    date_source_rows_at_baseline,
    expected_client_links,
    expected_people_links,
    link_pairs,
)

pytestmark = pytest.mark.slow

SCHEMA = "public"
DAGSTER_DAEMON = str(Path(sys.executable).parent / "dagster-daemon")
# Shorter than production, the rest of the project's dagster.yaml unchanged (its run queue is read every
# second already): run monitoring polls every 2 s (30 s in the project's file).
TEST_INSTANCE_TUNING = {"run_monitoring": {"poll_interval_seconds": 2}}
DISCOVERY_SCHEDULE = "conversation_discovery_schedule"
LATE_CHANGES_SENSOR = "link_tables_late_changes_sensor"
# Everything arranged before the daemons start is dated here, long before any cursor: only the
# changes the test makes afterwards are late changes.
CREW, HISTORIES_TABLE, CLIENT = "daemon_crew", "daemon_histories", "acme"
# Code server start, a one-minute cron or sensor interval, a run process loading the code: generous
# on a busy 2-core machine, and only a failing test waits that long.
STARTUP_TIMEOUT = 150
TICK_RUN_TIMEOUT = 180
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@dataclass
class Deployment:
    """One application database with its own Dagster instance (DAGSTER_HOME, storage) and, once started, daemon."""

    name: str
    database_url: str
    home: Path
    storage_url: str
    instance: dg.DagsterInstance
    db: psycopg.Connection
    source: SourceData
    scenario: Scenario
    fill_run_id: str  # the run that filled the link tables before the daemon started
    log: Path

    def daemon_environment(self, **variables: str) -> dict[str, str]:
        return environment_without(
            PROJECT_VARIABLES | {"DAGSTER_HOME", "DAGSTER_STORAGE_URL"},
            DAGSTER_HOME=str(self.home),
            DAGSTER_STORAGE_URL=self.storage_url,
            DATABASE_URL=self.database_url,
            **variables,
        )

    def runs(self, tag: str, name: str, created_after: datetime | None = None) -> list[dg.DagsterRun]:
        return list(self.instance.get_runs(filters=dg.RunsFilter(tags={tag: name}, created_after=created_after)))

    def daemon_output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def tuned_instance_config() -> dict:
    config = yaml.safe_load(PROJECT_DAGSTER_YAML.read_text())
    config["run_monitoring"].update(TEST_INSTANCE_TUNING["run_monitoring"])
    return config


@contextmanager
def deployment(name: str, database_url: str, server_url: str, tmp_path: Path) -> Iterator[Deployment]:
    """The database arranged (source data with its link tables filled, a crew with chat messages), and its instance."""
    with ExitStack() as stack:
        storage = stack.enter_context(fresh_database(server_url, "convo_dagster"))
        home = tmp_path / f"{name}_dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(yaml.safe_dump(tuned_instance_config()))
        storage_url = dagster_storage_url(storage)
        # The instance reads DAGSTER_STORAGE_URL (dagster.yaml) once, when it is created.
        previous = os.environ.get("DAGSTER_STORAGE_URL")
        os.environ["DAGSTER_STORAGE_URL"] = storage_url
        try:
            instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
        finally:
            if previous is None:
                del os.environ["DAGSTER_STORAGE_URL"]
            else:
                os.environ["DAGSTER_STORAGE_URL"] = previous
        db = stack.enter_context(connect(database_url, autocommit=True))
        source = build_source_data(db, SCHEMA)
        scenario = arrange_crew(db)
        date_source_rows_at_baseline(db, SCHEMA)
        fill_run_id = fill_front_links(database_url, instance)
        log = tmp_path / f"{name}_daemon.log"
        yield Deployment(name, database_url, home, storage_url, instance, db, source, scenario, fill_run_id, log)


def arrange_crew(db: psycopg.Connection) -> Scenario:
    create_client(db, CLIENT)
    create_histories_table(db, HistoriesTableSpec(HISTORIES_TABLE, session_id_type="text"))
    create_crew(db, CREW, CLIENT, HISTORIES_TABLE)
    return Scenario(good={CREW: HISTORIES_TABLE}, clients={CREW: CLIENT})


def fill_front_links(database_url: str, instance: dg.DagsterInstance) -> str:
    """Both Front link tables over every day of the data, recorded in the deployment's instance (so the
    sensor finds the days fully materialized and scopes its run to the changed conversation)."""
    result = dg.materialize(
        [people_front_conversations, clients_front_conversations],
        resources={"postgres": PostgresResource(database_url=database_url)},
        tags=partition_range_tags("2024-01-01", "2024-01-15"),
        instance=instance,
    )
    assert result.success
    return result.run_id


@contextmanager
def running_daemon(target: Deployment, **variables: str) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` for this deployment; it, its code server and its runs are killed on exit."""
    with target.log.open("w") as output:
        daemon = subprocess.Popen(
            [DAGSTER_DAEMON, "run", "-m", "convo_pipelines.definitions"],
            env=target.daemon_environment(**variables),
            cwd=Path(__file__).resolve().parent.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield daemon
    finally:
        stop_process_group(daemon)


def stop_process_group(leader: subprocess.Popen) -> None:
    """SIGTERM the group (the daemon, its code server, run processes), SIGKILL what is left after 20 s."""
    group = leader.pid
    _signal_group(group, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        leader.wait(timeout=20)
    deadline = time.monotonic() + 20
    while _group_members(group) and time.monotonic() < deadline:
        time.sleep(0.5)
    _signal_group(group, signal.SIGKILL)
    leader.wait()
    assert not _group_members(group), "a process of the daemon's group survived SIGKILL"


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def _group_members(group: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == group and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def wait_for(what: str, condition: Callable[[], object], timeout: float, *daemons: Deployment) -> object:
    """Poll `condition` until it returns something truthy; fail with the daemons' output after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    logs = "\n".join(f"--- {d.name} daemon:\n{d.daemon_output()}" for d in daemons)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")


def sensor_cursor(target: Deployment) -> datetime | None:
    """The late-change sensor's cursor (its first tick sets it), or None before that tick."""
    for state in target.instance.all_instigator_state():
        cursor = getattr(state.instigator_data, "cursor", None)
        if state.name == LATE_CHANGES_SENSOR and cursor:
            return read_cursor(cursor).changes_after[FRONT_SOURCE]
    return None


def finished_run(
    target: Deployment, tag: str, name: str, created_after: datetime | None = None
) -> dg.DagsterRun | None:
    """The oldest finished run of this schedule or sensor (created after `created_after`), if any."""
    finished = [run for run in target.runs(tag, name, created_after) if run.status in FINISHED]
    return finished[-1] if finished else None  # get_runs lists the newest first


def db_now(db: psycopg.Connection) -> datetime:
    return db.execute("select now()").fetchone()[0]


def write_chat_messages(db: psycopg.Connection, rows: list[tuple[str, timedelta, dict]]) -> None:
    """Messages of the crew written now by the chat app: (session id, age, message)."""
    now = db_now(db)
    insert_messages(db, HISTORIES_TABLE, [(session, now - age, message) for session, age, message in rows])


def add_late_recipient(target: Deployment, dated: datetime) -> tuple:
    """A recipient added to a message of an old conversation (2024-01-10), stamped `dated`: a person
    not linked to that conversation yet. Returns the (person, conversation) link it implies."""
    conversation = target.source.first_instant_of_jan_10
    linked = link_pairs(target.db, SCHEMA, "people_front_conversations")
    person = next(
        p for p in target.source.people if p != target.source.deleted_person and (p, conversation) not in linked
    )
    contact_method = next(cm for cm, owner in target.source.contact_methods.items() if owner == person)
    target.db.execute(
        "insert into public.front_message_recipients (front_message_id, contact_method_id, created_at, updated_at) "
        "select min(id::text)::uuid, %s, %s, %s from public.front_messages where front_conversation_id = %s",
        (contact_method, dated, dated, conversation),
    )
    return person, conversation


def latest_mode(target: Deployment, asset: str) -> str:
    """How the latest materialization of a histories asset read its messages: "full" or "incremental"."""
    [record] = target.instance.fetch_materializations(dg.AssetKey(asset), limit=1).records
    return record.asset_materialization.metadata["mode"].value


def assert_tick_read_as_its_range_says(target: Deployment, tick: dg.DagsterRun) -> None:
    """A tick over one day reads only the new messages; a tick whose range crosses UTC midnight (a test
    running then) recomputes both days fully, as the schedule's docstring says."""
    one_day = tick.tags[PARTITION_RANGE_START_TAG] == tick.tags[PARTITION_RANGE_END_TAG]
    if one_day:
        assert tick.run_config["ops"]["conversation_summaries"]["config"] == {"only_new_messages": True}
    else:
        assert not tick.run_config, tick.run_config
    assert latest_mode(target, "conversation_summaries") == ("incremental" if one_day else "full")


@pytest.fixture
def deployments(
    database_url: str, server_url: str, template_database: str, tmp_path: Path
) -> Iterator[tuple[Deployment, Deployment]]:
    """(background jobs on, background jobs off): two deployments arranged identically."""
    with ExitStack() as stack:
        other_database = stack.enter_context(fresh_database(server_url, "convo_test", template=template_database))
        running = stack.enter_context(deployment("jobs_on", database_url, server_url, tmp_path))
        stopped = stack.enter_context(deployment("jobs_off", other_database, server_url, tmp_path))
        yield running, stopped


def test_schedule_and_sensor_fire_through_the_daemon_and_nothing_fires_when_disabled(deployments) -> None:
    running, stopped = deployments
    both = (running, stopped)
    # Dated the moment they are written, once the daemons run, as are the later ones: a tick created after
    # them then covers their UTC day even when the test runs across midnight.
    first_messages = [
        ("session-a", timedelta(milliseconds=1), langchain("human", "hello, is anyone there?")),
        ("session-a", timedelta(0), langchain("ai", "yes, how can I help?")),
    ]
    later_messages = [
        ("session-a", timedelta(0), langchain("human", "thanks!")),
        ("session-b", timedelta(seconds=1), langchain("human", "a new conversation")),
        ("session-b", timedelta(0), langchain("ai", "welcome")),
    ]
    with ExitStack() as daemons:
        started = time.monotonic()
        daemons.enter_context(
            running_daemon(running, CONVERSATION_DISCOVERY_CRON="* * * * *", ENABLE_BACKGROUND_JOBS="true")
        )
        daemons.enter_context(
            running_daemon(stopped, CONVERSATION_DISCOVERY_CRON="* * * * *", ENABLE_BACKGROUND_JOBS="false")
        )

        # The sensor's first tick only sets its cursor: its window's lower bound, the database's now() -
        # LATE_COMMIT_ALLOWANCE. A change dated 30 s after that bound (a late commit: already 90 s old when it is
        # made) is inside the next tick's window, which therefore requests its run. Both deployments get it.
        cursor = wait_for("the sensor's first tick", lambda: sensor_cursor(running), STARTUP_TIMEOUT, *both)
        late_change = cursor + LATE_COMMIT_ALLOWANCE / 4
        expected_link = add_late_recipient(running, late_change)
        assert add_late_recipient(stopped, late_change) == expected_link

        # A tick after the first messages reads them.
        first_written = datetime.now().astimezone()
        for target in both:
            write_chat_messages(target.db, first_messages)
        first_tick = wait_for(
            "a discovery run of a tick after the first messages",
            lambda: finished_run(running, "dagster/schedule_name", DISCOVERY_SCHEDULE, created_after=first_written),
            TICK_RUN_TIMEOUT,
            *both,
        )
        assert first_tick.status == dg.DagsterRunStatus.SUCCESS, running.daemon_output()
        assert actual_summaries(running.db) == oracle_summaries(running.db, running.scenario)
        assert {row[1] for row in actual_summaries(running.db)} == {"session-a"}

        # Messages written after that tick: a later tick reads just them and refreshes the summaries.
        written_after = datetime.now().astimezone()
        for target in both:
            write_chat_messages(target.db, later_messages)
        later_tick = wait_for(
            "a discovery run of a tick after the new messages",
            lambda: finished_run(running, "dagster/schedule_name", DISCOVERY_SCHEDULE, created_after=written_after),
            TICK_RUN_TIMEOUT,
            *both,
        )
        assert later_tick.status == dg.DagsterRunStatus.SUCCESS, running.daemon_output()
        assert actual_summaries(running.db) == oracle_summaries(running.db, running.scenario)
        assert actual_sessions(running.db) == oracle_sessions(running.db, running.scenario)
        assert {row[1]: row[3] for row in actual_summaries(running.db)} == {"session-a": 3, "session-b": 2}
        assert_tick_read_as_its_range_says(running, later_tick)

        # The sensor's run for the late change: the one day, scoped to the one conversation.
        sensor_run = wait_for(
            "the late-change sensor's run",
            lambda: finished_run(running, "dagster/sensor_name", LATE_CHANGES_SENSOR),
            TICK_RUN_TIMEOUT,
            *both,
        )
        assert sensor_run.status == dg.DagsterRunStatus.SUCCESS, running.daemon_output()
        assert [run.job_name for run in running.runs("dagster/sensor_name", LATE_CHANGES_SENSOR)] == ["front_links_job"]
        assert sensor_run.tags["dagster/partition"] == "2024-01-10"
        scopes = {tuple(op["config"]["only_conversation_ids"]) for op in sensor_run.run_config["ops"].values()}
        assert scopes == {(str(expected_link[1]),)}
        assert expected_link in link_pairs(running.db, SCHEMA, "people_front_conversations")
        assert link_pairs(running.db, SCHEMA, "people_front_conversations") == expected_people_links(running.db, SCHEMA)
        assert link_pairs(running.db, SCHEMA, "clients_front_conversations") == expected_client_links(
            running.db, SCHEMA
        )
        waited = time.monotonic() - started

        # Over the same wait (in which the schedule ticked twice and the sensor requested a run), the
        # daemon with background jobs off was alive and launched nothing.
        heartbeats = stopped.instance.get_daemon_heartbeats()
        for daemon_type in ("SCHEDULER", "SENSOR"):
            assert daemon_type in heartbeats, f"{daemon_type} never beat:\n{stopped.daemon_output()}"
            assert time.time() - heartbeats[daemon_type].timestamp < 60, (
                f"{daemon_type} stopped beating:\n{stopped.daemon_output()}"
            )
    print(f"\nwaited {waited:.0f} s for the schedule's two ticks and the sensor's run")

    assert [run.run_id for run in stopped.instance.get_runs()] == [stopped.fill_run_id]
    ticked = [
        state.name
        for state in stopped.instance.all_instigator_state()
        if stopped.instance.get_ticks(state.instigator_origin_id, state.selector_id)
    ]
    assert ticked == []
    assert actual_summaries(stopped.db) == set()
    assert expected_link not in link_pairs(stopped.db, SCHEMA, "people_front_conversations")
