"""A run's steps and checks share its connections: real Dagster runs on a real PostgreSQL, the server's own
session statistics as the witness, and a backend ended for real between two steps."""

import time

import dagster as dg
import psycopg
import pytest

from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines_tests.helpers import pipeline_sessions_left_open, sessions_started

LOCK_KEY = 424242
# How long a terminated backend may take to leave pg_stat_activity.
BACKEND_EXIT_SECONDS = 10


def session_facts(conn: psycopg.Connection) -> dict[str, object]:
    return {
        "pid": conn.execute("select pg_backend_pid()").fetchone()[0],
        "jit": conn.execute("select current_setting('jit')").fetchone()[0],
        "backend_flush_after": conn.execute("select current_setting('backend_flush_after')").fetchone()[0],
        "advisory_locks": conn.execute(
            "select count(*) from pg_locks where pid = pg_backend_pid() and locktype = 'advisory'"
        ).fetchone()[0],
        "read_only": conn.execute("select current_setting('transaction_read_only')").fetchone()[0],
    }


def takes_a_transaction_lock(postgres: PostgresResource) -> int:
    """A step's write transaction as the pipeline's are: a transaction-level advisory lock, gone at commit."""
    with postgres.session() as session:
        session.execute("select pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        return session.execute("select pg_backend_pid()").fetchone()[0]


def two_steps_and_a_check(before_second_step=lambda postgres, first_pid: None) -> list:
    """`first` writes as the pipeline does, `second` reports its session, and a check on `second` reports its own."""
    facts: dict[str, dict[str, object]] = {}

    @dg.asset
    def first(postgres: PostgresResource) -> int:
        return takes_a_transaction_lock(postgres)

    @dg.asset
    def second(first: int, postgres: PostgresResource) -> None:
        before_second_step(postgres, first)
        with postgres.session() as session:
            facts["second"] = session_facts(session.conn)

    @dg.asset_check(asset=second)
    def second_is_fine(postgres: PostgresResource) -> dg.AssetCheckResult:
        with postgres.read_only_session() as session:
            facts["check"] = session_facts(session.conn)
        return dg.AssetCheckResult(passed=True)

    return [first, second, second_is_fine], facts


def test_the_next_step_and_the_check_take_the_same_backend_and_the_pipeline_leaves_no_session_state(postgres, db):
    """One session for the run's two steps and its check, closed with the run. The pipeline keeps nothing on a
    session (a pooler may give it to another client): its settings are SET LOCAL, its locks transaction-level;
    the check's transaction is read-only, the next step's writes are not."""
    definitions, facts = two_steps_and_a_check()
    before = sessions_started(db)
    result = dg.materialize(definitions, resources={"postgres": postgres})
    assert result.success
    first_pid = result.output_for_node("first")
    assert facts["second"]["pid"] == facts["check"]["pid"] == first_pid
    assert (facts["second"]["jit"], facts["second"]["backend_flush_after"]) == ("on", "0")
    assert (facts["check"]["jit"], facts["check"]["backend_flush_after"]) == ("off", "256kB")
    for step in ("second", "check"):
        assert facts[step]["advisory_locks"] == 0
    assert (facts["second"]["read_only"], facts["check"]["read_only"]) == ("off", "on")
    # The run's one session has ended with the run; a session is counted when it starts, and a backend's
    # statistics are all flushed once it has exited.
    assert pipeline_sessions_left_open(db) == 0
    assert sessions_started(db) - before == 1
    assert (
        db.execute("select count(*) from pg_locks where locktype = 'advisory' and objid = %s", (LOCK_KEY,)).fetchone()[
            0
        ]
        == 0
    )


def test_a_kept_connection_the_server_ended_between_steps_is_replaced_without_a_retry(postgres, db, database_url):
    """The server ends the run's idle connection between two steps (as a restart or an operator would):
    the next step gets a new backend at once, with no failed attempt."""

    def end_the_kept_backend(postgres: PostgresResource, first_pid: int) -> None:
        with psycopg.connect(database_url, autocommit=True) as admin:
            assert admin.execute("select pg_terminate_backend(%s)", (first_pid,)).fetchone()[0]
            # The backend is gone once the server has reaped it: only then is the kept connection dead.
            deadline = time.monotonic() + BACKEND_EXIT_SECONDS
            while admin.execute("select count(*) from pg_stat_activity where pid = %s", (first_pid,)).fetchone()[0]:
                assert time.monotonic() < deadline, (
                    f"backend {first_pid} still there {BACKEND_EXIT_SECONDS} s after pg_terminate_backend"
                )
                time.sleep(0.01)

    definitions, facts = two_steps_and_a_check(end_the_kept_backend)
    result = dg.materialize(definitions, resources={"postgres": postgres})
    assert result.success
    assert facts["second"]["pid"] != result.output_for_node("first")
    assert facts["check"]["pid"] == facts["second"]["pid"]
    assert not [event for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert pipeline_sessions_left_open(db) == 0


def test_a_step_that_failed_gives_its_connection_back_to_no_one(postgres, db):
    """A connection whose block raised is closed, not handed to the next step (its transaction may be half done)."""
    pids: dict[str, int] = {}

    @dg.asset
    def fails_inside_a_transaction(postgres: PostgresResource) -> None:
        # dg.Failure is what the step's retry policy sees of an error that is not transient.
        with pytest.raises(dg.Failure) as failure, postgres.session() as session:
            pids["failed"] = session.execute("select pg_backend_pid()").fetchone()[0]
            session.execute("select pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            raise ValueError("the step's own mistake")
        assert "the step's own mistake" in str(failure.value.description)
        with postgres.session() as session:
            pids["next"] = session.execute("select pg_backend_pid()").fetchone()[0]

    assert dg.materialize([fails_inside_a_transaction], resources={"postgres": postgres}).success
    assert pids["next"] != pids["failed"]
    assert pipeline_sessions_left_open(db) == 0


def test_a_connection_kept_longer_than_the_idle_limit_is_closed_not_reused(postgres, db, monkeypatch):
    """A run's step queued long for a pool slot does not get a connection a firewall may have dropped meanwhile."""
    monkeypatch.setattr("convo_pipelines.lib.postgres.kept_connections.MAX_IDLE_SECONDS", 0.0)
    definitions, facts = two_steps_and_a_check()
    result = dg.materialize(definitions, resources={"postgres": postgres})
    assert result.success
    assert facts["second"]["pid"] != result.output_for_node("first")
    assert pipeline_sessions_left_open(db) == 0
