"""Runs through pgbouncer, as hosted PostgreSQL's pooled URLs serve them.

Through Debian's pgbouncer 1.18 in pool_mode = transaction, two overlapping backfills of the Front link
tables hung until killed: a session advisory lock stayed on the pooled server connection that took it
after its client's transaction ended, and session SETs stayed on server connections the app's
transactions then ran on. Here every client of the test's database goes through a real pgbouncer
(transaction and session mode; a pool of POOL_SIZE server connections handed out in turn, so clients
share them and one client's transactions land on several):

- two overlapping backfills, the late-change sensor's scoped run and a third backfill SIGKILLed while a
  server connection serves it, each a `dagster asset materialize` process of its own, all at once,
  while the app reads, inserts and updates through the same pooler;
- then a last backfill with the app quiet.

Then, with every client gone: no run hung (each ended within RUN_DEADLINE_SECONDS) and each but the
killed one succeeded; no advisory lock is left (pg_locks on a direct connection); every server
connection of the pool, each read inside a transaction of its own, holds the server's own settings, no
temporary table and no prepared statement; the app's transactions never failed and never ran with
another setting; the link tables equal the independent oracle. Every problem found is reported at once.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import dagster as dg
import psycopg
import pytest

from convo_pipelines.defs.links.change_fingerprints import SOURCE_JOBS
from convo_pipelines.defs.links.sensor_cursor import write_cursor
from convo_pipelines.defs.links.sensors import link_tables_late_changes_sensor
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.embedded.demo_seed import seed_demo
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.helpers import dagster_cli_environment, definitions_bound_to, materialize_front_links_command
from convo_pipelines_tests.pooler import (
    AdvisoryLock,
    AppReport,
    AppTraffic,
    Pgbouncer,
    ServerState,
    advisory_locks,
    kill_process_group,
    pooled_login,
    ports_connected_to,
    ports_linked_to_a_server,
    running_pgbouncer,
    server_connection_pids,
    server_defaults,
    state_of_every_server_connection,
)
from convo_pipelines_tests.source_data import expected_client_links, expected_people_links, link_pairs

SCHEMA = "public"
UTC = UTC
PEOPLE, CLIENTS = "people_front_conversations", "clients_front_conversations"
# Enough conversations that a first fill takes a while and the runs' transactions overlap; the data
# spans [2024-01-01, 2024-01-15).
CONVERSATIONS = 3_000
DAYS = 14
END = datetime(2024, 1, 15, tzinfo=UTC)
FULL_RANGE = ("2024-01-01", "2024-01-14")
# Overlapping ranges: both start on empty tables, so one's first fill meets the other's writes.
OVERLAPPING_RANGES = {"backfill_early": ("2024-01-01", "2024-01-10"), "backfill_late": ("2024-01-05", "2024-01-14")}
LATE_CHANGE_DAY = "2024-01-10"
# Fewer server connections than clients, so the runs and the app share them.
POOL_SIZE = 3
# A run still going by then is hung: alone each takes seconds, most of them Dagster's start.
RUN_DEADLINE_SECONDS = 150
# The app's transactions beside the runs and on the server connections they leave, at the least, for its
# figures to mean something.
MIN_APP_TRANSACTIONS = 100
# The final run's batches of changed links: small, so that it makes many.
BATCH_ROWS = 50
PEOPLE_STEP_STARTED = f'STEP_START - Started execution of step "{PEOPLE}"'
RUN_SUCCEEDED = "RUN_SUCCESS"
KILLED = "killed"


@pytest.mark.slow
@pytest.mark.parametrize("pool_mode", ["transaction", "session"])
def test_overlapping_and_killed_runs_through_pgbouncer_hang_nothing_and_leave_nothing_on_its_server_connections(
    pool_mode: str, database_url: str, db: psycopg.Connection, tmp_path: Path, project_root: Path
) -> None:
    seed(database_url)
    changed = add_a_late_recipient(db, LATE_CHANGE_DAY)
    with (
        pooled_login(database_url) as login,
        running_pgbouncer(
            database_url, login, tmp_path / "pgbouncer", pool_mode=pool_mode, pool_size=POOL_SIZE
        ) as bouncer,
        Runs(bouncer.url, tmp_path, project_root) as runs,
    ):
        defaults = server_defaults(login.direct_url)
        # Ticked before the app's traffic starts: the sensor reads every change up to its tick, and the app's
        # own writes would be changes too.
        request = late_change_run_request(bouncer.url, changed)
        assert request_scope(request) == (LATE_CHANGE_DAY, {str(changed.conversation)}), (
            "the sensor asked for another run"
        )
        with AppTraffic(bouncer.url, defaults, *app_samples(db)) as app:
            for name, days in OVERLAPPING_RANGES.items():
                runs.materialize(name, days)
            runs.materialize("late_change", (request.partition_key, request.partition_key), request.run_config)
            kill_while_a_server_connection_serves_it(runs.materialize(KILLED, FULL_RANGE), bouncer)
            hung = runs.wait_for_every_run(RUN_DEADLINE_SECONDS)
            app.run_on_until(MIN_APP_TRANSACTIONS, timeout=60)
        # With the app quiet, a last backfill makes the tables exact. A tenth of the people links are gone first, so
        # that it inserts them by batches, the diff handing their pairs over through a server-side cursor.
        db.execute(f"delete from {PEOPLE} where ('x' || substr(md5(id::text), 1, 8))::bit(32)::int % 10 = 0")
        runs.materialize("final", FULL_RANGE, {"ops": {PEOPLE: {"config": {"max_insert_batch_rows": BATCH_ROWS}}}})
        hung += runs.wait_for_every_run(RUN_DEADLINE_SECONDS)
        # Every client of the pooler is gone now: what is left is on the pool's server connections.
        locks = advisory_locks(db)
        server_pids = server_connection_pids(bouncer)
        states = state_of_every_server_connection(bouncer.url, len(server_pids))
        pooler_log = bouncer.log()

    problems = [
        *run_problems(runs.started, hung),
        *batch_problems(runs.started["final"]),
        *leftover_problems(locks, server_pids, states, defaults),
        *app_problems(app.report),
        *exactness_problems(db, changed),
    ]
    logs = "\n".join(run.tail() for run in runs.started.values()) + f"\n--- pgbouncer ---\n{pooler_log[-3000:]}"
    assert problems == [], f"through pgbouncer in {pool_mode} pooling:\n- " + "\n- ".join(problems) + f"\n{logs}"


def test_the_time_zone_a_connection_sets_follows_it_through_pgbouncer_onto_every_server_connection(
    database_url: str, tmp_path: Path
) -> None:
    """connect() sets its session's TimeZone once, in autocommit, before handing the connection out. In
    transaction pooling each transaction may run on another server connection: pgbouncer tracks TimeZone per
    client (the server's ParameterStatus) and sets it on whichever server connection the client's transaction
    gets, so every transaction of the pipeline's client reads stamps in its zone, and another client's, on the
    same server connections, in its own."""
    with (
        pooled_login(database_url) as login,
        running_pgbouncer(database_url, login, tmp_path / "pgbouncer", pool_mode="transaction", pool_size=2) as bouncer,
    ):
        default = server_defaults(login.direct_url)["TimeZone"]
        zone = "Asia/Kolkata" if default != "Asia/Kolkata" else "America/New_York"
        pipeline_seen, other_seen = [], []
        with (
            connect(bouncer.url, time_zone=zone) as pipeline,
            psycopg.connect(bouncer.url, prepare_threshold=None, autocommit=True) as other,
        ):
            # The other client holds a server connection while the pipeline's transaction takes a second one; from
            # then on the pool hands its two in turn (server_round_robin), and two transactions of the pipeline for
            # one of the other client's give each client both.
            with other.transaction():
                other_seen.append(other.execute(SERVER_AND_ZONE).fetchone())
                pipeline_seen.append(pipeline.execute(SERVER_AND_ZONE).fetchone())
                pipeline.commit()
            for _ in range(6):
                for _ in range(2):
                    pipeline_seen.append(pipeline.execute(SERVER_AND_ZONE).fetchone())
                    pipeline.commit()
                other_seen.append(other.execute(SERVER_AND_ZONE).fetchone())
        log = bouncer.log()
    servers = {pid for pid, _ in pipeline_seen}
    assert len(servers) == 2 and {pid for pid, _ in other_seen} == servers, (pipeline_seen, other_seen, log[-2000:])
    assert {zone for _, zone in pipeline_seen} == {zone}
    assert {zone for _, zone in other_seen} == {default}


SERVER_AND_ZONE = "select pg_backend_pid(), current_setting('TimeZone')"


# ---------------------------------------------------------------------------------------------
# What went wrong


def run_problems(runs: dict[str, RunProcess], hung: list[str]) -> list[str]:
    """A hung run, a failed run, or a killed run that had ended before its kill."""
    problems = [f"{name} hung: still going {RUN_DEADLINE_SECONDS} s after it started" for name in hung]
    killed = runs[KILLED]
    if killed.process.returncode != -9 or killed.succeeded():
        problems.append(f"{KILLED} ended by itself (exit {killed.process.returncode}) before its kill")
    for name, run in runs.items():
        if name not in hung and name != KILLED and not (run.process.returncode == 0 and run.succeeded()):
            problems.append(f"{name} failed (exit {run.process.returncode}): {run.first_error()}")
    return problems


def batch_problems(final: RunProcess) -> list[str]:
    """The final run did not change the people links by batches of conversations."""
    if f"{PEOPLE}: changed conversations: " in final.output():
        return []
    return [f"the final run changed no batch of {PEOPLE} conversations (max_insert_batch_rows {BATCH_ROWS})"]


def leftover_problems(
    locks: list[AdvisoryLock], server_pids: set[int], states: list[ServerState], defaults: dict[str, str]
) -> list[str]:
    """Anything a client left on the server once every client had gone."""
    problems = [f"advisory lock left once every client had gone: {lock}" for lock in locks]
    if not 1 <= len(server_pids) <= POOL_SIZE:
        problems.append(f"{len(server_pids)} server connections, for a pool of {POOL_SIZE}")
    if {state.pid for state in states} != server_pids:
        problems.append(
            f"inspected server connections {sorted(state.pid for state in states)}, not all of {sorted(server_pids)}"
        )
    for state in states:
        changed = {name: value for name, value in state.settings.items() if value != defaults[name]}
        if changed:
            problems.append(
                f"server connection {state.pid} kept settings {changed} (the server's: { {name: defaults[name] for name in changed} })"
            )
        if state.temporary_tables:
            problems.append(f"server connection {state.pid} kept {state.temporary_tables} temporary tables")
        if state.prepared_statements:
            problems.append(f"server connection {state.pid} kept {state.prepared_statements} prepared statements")
    return problems


def app_problems(report: AppReport) -> list[str]:
    """The app's transactions failed, met the pipeline's settings or temporary tables, or hardly ran."""
    problems = [f"the app's transactions failed {count} times: {error}" for error, count in report.errors.items()]
    problems += [
        f"the app's transactions ran {count} times with {name} = {value!r}"
        for (name, value), count in report.foreign_settings.items()
    ]
    if report.temporary_tables_seen:
        problems.append(f"the app's transactions met {report.temporary_tables_seen} temporary tables")
    if report.transactions < MIN_APP_TRANSACTIONS:
        problems.append(
            f"the app ran {report.transactions} transactions beside and after the runs, fewer than {MIN_APP_TRANSACTIONS}"
        )
    return problems


def exactness_problems(db: psycopg.Connection, changed: LateChange) -> list[str]:
    """Links missing from or extra in each Front link table against the independent oracle."""
    problems = []
    for table, expected in ((PEOPLE, expected_people_links(db, SCHEMA)), (CLIENTS, expected_client_links(db, SCHEMA))):
        try:
            stored = link_pairs(db, SCHEMA, table)
        except AssertionError as duplicates:
            problems.append(str(duplicates))
            continue
        if stored != expected:
            problems.append(f"{table}: {len(expected - stored)} links missing, {len(stored - expected)} extra")
    if changed.pair not in expected_people_links(db, SCHEMA):
        problems.append(f"the late change {changed} is not a link of the oracle: the test's data is wrong")
    return problems


# ---------------------------------------------------------------------------------------------
# The data and the late change


def seed(database_url: str) -> None:
    """The demo's source tables, every row dated in January 2024 (so none counts as a late change)."""
    with connect(database_url) as conn:
        seed_demo(
            conn,
            source_schema=SCHEMA,
            analytics_schema="analytics",
            conversations=CONVERSATIONS,
            days=DAYS,
            end=END,
            report=lambda _line: None,
        )


@dataclass(frozen=True)
class LateChange:
    conversation: UUID
    person: UUID

    @property
    def pair(self) -> tuple[UUID, UUID]:
        return (self.person, self.conversation)


def add_a_late_recipient(db: psycopg.Connection, day: str) -> LateChange:
    """A person who was not in a conversation of `day` receives one of its messages, stamped 10 minutes ago."""
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    conversation, message = db.execute(
        "select c.id, m.id from public.front_conversations as c join public.front_messages as m on m.front_conversation_id = c.id "
        "where c.created_at >= %s and c.created_at < %s order by c.id, m.id limit 1",
        (start, start + timedelta(days=1)),
    ).fetchone()
    person, contact_method = db.execute(
        "select cm.person_id, cm.id from public.contact_methods as cm join public.people as p on p.id = cm.person_id "
        "where cm.person_id not in ("
        "  select reached.person_id from public.front_message_recipients as r "
        "  join public.front_messages as m on m.id = r.front_message_id "
        "  join public.contact_methods as reached on reached.id = r.contact_method_id "
        "  where m.front_conversation_id = %s and reached.person_id is not null) "
        "order by cm.id limit 1",
        (conversation,),
    ).fetchone()
    db.execute(
        "insert into public.front_message_recipients (front_message_id, contact_method_id, role, created_at, updated_at) "
        "values (%s, %s, 'cc', now() - interval '10 minutes', now() - interval '10 minutes')",
        (message, contact_method),
    )
    return LateChange(conversation, person)


def late_change_run_request(pooled_url: str, changed: LateChange) -> dg.RunRequest:
    """The late-change sensor's tick, evaluated through the pooler from a cursor an hour ago."""
    postgres = PostgresResource(database_url=pooled_url)
    instance = dg.DagsterInstance.ephemeral()
    # The sensor names conversations only on days its instance saw filled whole; the backfills fill
    # them on instances of their own, so this one is told, as a shared instance would know.
    for day in range(1, DAYS + 1):
        for asset in (PEOPLE, CLIENTS):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=asset, partition=f"2024-01-{day:02d}")
            )
    cursor = write_cursor(dict.fromkeys(SOURCE_JOBS, datetime.now(UTC) - timedelta(hours=1)), {})
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"postgres": postgres}, definitions=definitions_bound_to(postgres)
    ) as context:
        result = link_tables_late_changes_sensor.evaluate_tick(context)
    front = [request for request in result.run_requests or [] if request.job_name == "front_links_job"]
    assert len(front) == 1, (
        f"expected one front_links_job run for {changed}, got {result.run_requests}: {result.skip_message}"
    )
    return front[0]


def request_scope(request: dg.RunRequest) -> tuple[str | None, set[str]]:
    """The partition a run request targets and the conversations it names."""
    named = {
        conversation
        for op in (request.run_config or {}).get("ops", {}).values()
        for conversation in op["config"]["only_conversation_ids"]
    }
    return request.partition_key, named


def app_samples(db: psycopg.Connection) -> tuple[list, list, list]:
    """Ids the app picks from: people, messages, and contact methods of existing people."""
    people = [row[0] for row in db.execute("select id from public.people order by id limit 200")]
    messages = [row[0] for row in db.execute("select id from public.front_messages order by id limit 2000")]
    contact_methods = [
        row[0]
        for row in db.execute("select id from public.contact_methods where person_id is not null order by id limit 500")
    ]
    return people, messages, contact_methods


# ---------------------------------------------------------------------------------------------
# The runs, each a process of its own


@dataclass
class RunProcess:
    """One `dagster asset materialize` process and its output."""

    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def succeeded(self) -> bool:
        return RUN_SUCCEEDED in self.output()

    def first_error(self) -> str:
        """The first line that names an error (Dagster prints the step's failure, then its cause), else the last line."""
        lines = [line.strip() for line in self.output().splitlines() if line.strip()]
        return next(
            (line for line in lines if "Failure: " in line or "Error: " in line), lines[-1] if lines else "no output"
        )

    def tail(self) -> str:
        return f"--- {self.name} (exit {self.process.returncode}) ---\n{self.output()[-3000:]}"


class Runs:
    """`dagster asset materialize` processes of both Front link assets, each on a Dagster instance of its
    own with DATABASE_URL the pooled URL; any still going when the block ends is killed."""

    def __init__(self, pooled_url: str, tmp_path: Path, project_root: Path) -> None:
        self.pooled_url, self.tmp_path, self.project_root = pooled_url, tmp_path, project_root
        self.started: dict[str, RunProcess] = {}

    def __enter__(self) -> Runs:
        return self

    def __exit__(self, *_exc: object) -> None:
        for run in self.started.values():
            if run.process.poll() is None:
                kill_process_group(run.process)

    def materialize(self, name: str, partitions: tuple[str, str], run_config: dict | None = None) -> RunProcess:
        """Start a run over `partitions` (first and last, inclusive)."""
        folder = self.tmp_path / name
        folder.mkdir()
        command = materialize_front_links_command(*partitions, run_config=run_config)
        log = folder / "run.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                command,
                cwd=self.project_root,
                env=dagster_cli_environment(folder, DATABASE_URL=self.pooled_url),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started[name] = RunProcess(name, process, log)
        return self.started[name]

    def wait_for_every_run(self, seconds: float) -> list[str]:
        """Wait for every run to end; the names of those still going after `seconds`, which are killed."""
        deadline = time.monotonic() + seconds
        for run in self.started.values():
            with contextlib.suppress(subprocess.TimeoutExpired):  # a hung run is named below
                run.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        hung = [name for name, run in self.started.items() if run.process.poll() is None]
        for name in hung:
            kill_process_group(self.started[name].process)
        return hung


def kill_while_a_server_connection_serves_it(
    run: RunProcess, bouncer: Pgbouncer, timeout: float = RUN_DEADLINE_SECONDS
) -> None:
    """SIGKILL the run (its whole process group) once its people step has started and pgbouncer has linked one
    of its clients to a server connection: in transaction mode that client is inside a transaction."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(bouncer.admin_url, autocommit=True, prepare_threshold=None) as admin:
        while time.monotonic() < deadline and run.process.poll() is None:
            if PEOPLE_STEP_STARTED in run.output():
                linked = ports_linked_to_a_server(admin, bouncer.database)
                if linked & ports_connected_to(run.process.pid, bouncer.port):
                    kill_process_group(run.process)
                    return
            time.sleep(0.01)
