"""Failures that reach people, on a real PostgreSQL and a real Dagster instance.

- A failed run makes run_failure_alert_sensor post one Slack-compatible message (job, partitions,
  failed step, the error in one line, a link to the run) to a real HTTP server; without
  ALERT_WEBHOOK_URL it logs the same; a webhook that keeps failing shows on the sensor's tick
  without the URL's secret.
- A failed blocking check of people_front_conversations keeps clients_front_conversations, which is
  computed from it, from running in the same run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from convo_pipelines.cli.dev import PROJECT_DAGSTER_YAML
from convo_pipelines.defs.alerts import run_failure_alert_sensor
from convo_pipelines.lib.errors import ConfigError
from convo_pipelines.lib.postgres.urls import dagster_storage_url, database_location
from convo_pipelines.lib.settings import Settings, get_settings
from convo_pipelines_tests.helpers import fresh_database
from convo_pipelines_tests.source_data import (
    build_source_data,
    expected_client_links,
    expected_people_links,
    link_pairs,
)

SCHEMA = "public"
PEOPLE = "people_front_conversations"
CLIENTS = "clients_front_conversations"
WEBHOOK_SECRET = "T000/B000/s3cr3t-webhook-token"
WEBSERVER_URL = "https://dagster.example.com:3000"
FULL_RANGE = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-20"}


@pytest.fixture
def project_instance(tmp_path: Path, server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """The project's Dagster instance (its dagster.yaml as is) on a fresh PostgreSQL database for Dagster's storage."""
    with fresh_database(server_url, "convo_dagster") as storage_database:
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(PROJECT_DAGSTER_YAML.read_text())
        monkeypatch.setenv("DAGSTER_STORAGE_URL", dagster_storage_url(storage_database))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance


@contextmanager
def alert_settings(monkeypatch: pytest.MonkeyPatch, **variables: str) -> Iterator[Settings]:
    """The process's settings with these variables set (others unset), read afresh."""
    for name in ("ALERT_WEBHOOK_URL", "DAGSTER_WEBSERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        get_settings.cache_clear()  # the next reader, after monkeypatch restores the environment, reads it afresh


@contextmanager
def webhook(status: int = 200) -> Iterator[tuple[str, list[dict]]]:
    """A real HTTP server on 127.0.0.1 (ephemeral port) answering every POST with `status`; yields
    its URL (with a secret path, as Slack's are) and the requests it received."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "content_type": self.headers["Content-Type"], "json": json.loads(body)})
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            """Quiet: http.server would print every request on stderr."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/services/{WEBHOOK_SECRET}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def evaluate_sensor(instance: dg.DagsterInstance, cursor: str | None):
    """One tick of the project's run_failure_alert_sensor against the instance, as the daemon evaluates it."""
    return run_failure_alert_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))


def fail_people_inserts(db: psycopg.Connection) -> None:
    db.execute(
        "create function fail_link_insert() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$"
    )
    db.execute(
        "create trigger fail_link_insert before insert on people_front_conversations for each row execute function fail_link_insert()"
    )


def run_failing_front_links_job(definitions: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """front_links_job for 2024-01-10, whose people step fails on a (non-transient) database error."""
    job = definitions.resolve_job_def("front_links_job")
    result = job.execute_in_process(instance=instance, partition_key="2024-01-10", raise_on_error=False)
    assert not result.success
    return result


# ---------------------------------------------------------------------------------------------
# The run failure sensor


def test_a_failed_run_posts_one_alert_with_job_partition_step_error_and_link(
    project_instance, definitions, db, database_url, monkeypatch
) -> None:
    build_source_data(db)
    fail_people_inserts(db)
    with (
        webhook() as (url, received),
        alert_settings(monkeypatch, ALERT_WEBHOOK_URL=url, DAGSTER_WEBSERVER_URL=WEBSERVER_URL),
    ):
        first_tick = evaluate_sensor(project_instance, None)  # starts watching from now
        result = run_failing_front_links_job(definitions, project_instance)
        second_tick = evaluate_sensor(project_instance, first_tick.cursor)
        third_tick = evaluate_sensor(project_instance, second_tick.cursor)

    assert not first_tick.dagster_run_reactions
    assert [reaction.dagster_run.run_id for reaction in second_tick.dagster_run_reactions] == [result.run_id]
    assert all(reaction.error is None for reaction in second_tick.dagster_run_reactions)
    assert not third_tick.dagster_run_reactions
    assert len(received) == 1  # once, not on every tick
    post = received[0]
    assert post["path"] == f"/services/{WEBHOOK_SECRET}"
    assert post["content_type"] == "application/json"
    error = f"PostgreSQL at {database_location(database_url)} failed the step (P0001): injected failure"
    assert post["json"]["text"].splitlines() == [
        "Run failed: front_links_job (partition 2024-01-10)",
        "failed step: people_front_conversations",
        f"error: {error}",
        f"run: {WEBSERVER_URL}/runs/{result.run_id}",
    ]
    block = post["json"]["blocks"][0]
    assert block["type"] == "section" and block["text"]["type"] == "mrkdwn"
    assert f"<{WEBSERVER_URL}/runs/{result.run_id}|{result.run_id}>" in block["text"]["text"]
    assert error in block["text"]["text"]


def test_without_a_webhook_the_alert_is_logged(project_instance, definitions, db, monkeypatch, capfd) -> None:
    build_source_data(db)
    fail_people_inserts(db)
    with alert_settings(monkeypatch):
        first_tick = evaluate_sensor(project_instance, None)
        result = run_failing_front_links_job(definitions, project_instance)
        capfd.readouterr()
        second_tick = evaluate_sensor(project_instance, first_tick.cursor)
        logged = capfd.readouterr().err  # the sensor's log, as the daemon writes it

    assert [reaction.error for reaction in second_tick.dagster_run_reactions] == [None]
    assert logged.count("Run failed: front_links_job (partition 2024-01-10)") == 1
    assert "WARNING" in logged
    assert "failed step: people_front_conversations" in logged
    assert "failed the step (P0001): injected failure" in logged
    assert f"run: {result.run_id}" in logged  # no UI address: the run id


def test_a_webhook_that_keeps_failing_shows_on_the_tick_without_its_secret(
    project_instance, definitions, db, monkeypatch
) -> None:
    build_source_data(db)
    fail_people_inserts(db)
    with webhook(status=500) as (url, received), alert_settings(monkeypatch, ALERT_WEBHOOK_URL=url):
        first_tick = evaluate_sensor(project_instance, None)
        result = run_failing_front_links_job(definitions, project_instance)
        second_tick = evaluate_sensor(project_instance, first_tick.cursor)

    assert len(received) == 3  # tried three times
    [reaction] = second_tick.dagster_run_reactions
    error = reaction.error.to_string()
    assert f"could not post the alert for run {result.run_id} to ALERT_WEBHOOK_URL (http://127.0.0.1:" in error
    assert "HTTP 500" in error
    assert "s3cr3t" not in error


def test_alert_variables_are_validated_without_showing_secrets() -> None:
    settings = Settings.from_env(
        {"ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B1/xyz", "DAGSTER_WEBSERVER_URL": WEBSERVER_URL}
    )
    assert settings.alert_webhook_url == "https://hooks.slack.com/services/T1/B1/xyz"
    assert settings.dagster_webserver_url == WEBSERVER_URL
    unset = Settings.from_env({})
    assert unset.alert_webhook_url is None and unset.dagster_webserver_url is None
    for variable, value in [
        ("ALERT_WEBHOOK_URL", "hooks.slack.com/services/T1/B1/s3cr3t"),
        ("ALERT_WEBHOOK_URL", "ftp://hooks.example.com/services/s3cr3t"),
        ("ALERT_WEBHOOK_URL", "https://user:s3cr3t@hooks.example.com:notaport/x"),
        ("DAGSTER_WEBSERVER_URL", "dagster.example.com:3000"),
        ("DAGSTER_WEBSERVER_URL", "https://admin:s3cr3t@/runs"),
    ]:
        with pytest.raises(ConfigError) as raised:
            Settings.from_env({variable: value})
        assert str(raised.value).startswith(f"{variable}=")
        assert "s3cr3t" not in str(raised.value)


# ---------------------------------------------------------------------------------------------
# Blocking checks


def test_a_failed_blocking_check_stops_the_client_links_in_the_same_run(definitions, db) -> None:
    build_source_data(db)
    # A bug that writes one link too many: a person to a conversation none of their contact methods received.
    expected = expected_people_links(db, SCHEMA)
    person = sorted({owner for owner, _ in expected})[0]
    conversation = sorted({c for _, c in expected} - {c for owner, c in expected if owner == person})[0]
    assert (person, conversation) not in expected
    db.execute(
        sql.SQL(
            "create function add_wrong_link() returns trigger language plpgsql as $$ begin "
            "if pg_trigger_depth() = 1 then "
            "insert into people_front_conversations (person_id, front_conversation_id, front_conversation_created_at) "
            "select {person}, fc.id, fc.created_at from front_conversations as fc where fc.id = {conversation} "
            "on conflict do nothing; "
            "end if; return null; end $$"
        ).format(person=sql.Literal(str(person)), conversation=sql.Literal(str(conversation)))
    )
    db.execute(
        "create trigger add_wrong_link after insert on people_front_conversations for each statement execute function add_wrong_link()"
    )
    job = definitions.resolve_job_def("front_links_job")

    result = job.execute_in_process(tags=FULL_RANGE, raise_on_error=False)

    assert not result.success
    assert result.asset_materializations_for_node(PEOPLE)  # committed before its checks ran
    assert (person, conversation) in link_pairs(db, SCHEMA, PEOPLE)
    evaluations = {
        event.asset_check_evaluation_data.check_name: event.asset_check_evaluation_data.passed
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and event.asset_check_evaluation_data.asset_check_key.asset_key == dg.AssetKey(PEOPLE)
    }
    # late_change_indexes (WARN) names the source's missing indexes: no index here, and it blocks nothing.
    assert evaluations == {
        "no_duplicate_pairs": True,
        "no_orphans": True,
        "matches_source": False,
        "late_change_indexes": False,
    }
    assert not result.asset_materializations_for_node(CLIENTS)
    assert link_pairs(db, SCHEMA, CLIENTS) == set()  # the client links never ran on the wrong people links
    started = {event.step_key for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_START}
    assert PEOPLE in started and CLIENTS not in started
    # The people links' checks run in one step, which fails on its blocking check's ERROR.
    failures = [event for event in result.all_events if event.is_step_failure]
    assert [event.step_key for event in failures] == [f"{PEOPLE}_checks"]
    assert (
        f"1 blocking asset check failed with ERROR severity:\n{PEOPLE}: matches_source\n"
        in failures[0].event_specific_data.error.message
    )

    # The same run without the bug goes through to the client links.
    db.execute("drop trigger add_wrong_link on people_front_conversations")
    db.execute(
        "delete from people_front_conversations where person_id = %s and front_conversation_id = %s",
        (person, conversation),
    )
    assert job.execute_in_process(tags=FULL_RANGE).success
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    assert link_pairs(db, SCHEMA, CLIENTS) == expected_client_links(db, SCHEMA)
