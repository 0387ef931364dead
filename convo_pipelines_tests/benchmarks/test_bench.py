"""`convo-pipelines bench` at a small scale, so the tool never rots: every figure is measured and sane.

No timing is asserted (timings belong to the benchmark's own output); what is asserted is what the
figures mean: a re-run writes nothing, a change is written, a discovery tick finds the new
sessions, a logical subscriber catches up without errors and holds what the upstream holds, the
embedded server is left as the bench found it, and under DATABASE_URL a server without
wal_level = logical is refused before anything is created.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from convo_benchmarks.bench_replication_figures import LagSample, peak_lag_bytes, peak_lag_seconds
from convo_benchmarks.bench_report import GENERATED_NOTICE, reproduce_command
from convo_benchmarks.bench_runs import run_watching_rss
from convo_benchmarks.bench_tables import describe_data
from convo_benchmarks.bench_verdicts import scale_verdicts, verdicts
from convo_benchmarks.bench_wal_kinds import WAL_KINDS
from convo_pipelines.lib.embedded.server import embedded_is_running, embedded_pgdata
from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines_tests.helpers import CLI, PROJECT_VARIABLES, environment_without
from convo_pipelines_tests.postgres_clusters import running_cluster

FRESHNESS_MEASUREMENTS = {
    "freshness_p50",
    "freshness_p95",
    "freshness_max",
    "freshness_new_recipient",
    "freshness_recipient_removed",
    "freshness_contact_method_resolved",
    "freshness_person_moved",
    "freshness_conversation_moved",
    "freshness_recipient_deleted",
    "freshness_app_longest_statement",
}
# A Zero client's live query beside the same daemon (bench_client_freshness.py), on a server at wal_level = logical.
CLIENT_FRESHNESS_MEASUREMENTS = {
    "client_freshness_p50",
    "client_freshness_p95",
    "client_freshness_max",
    "client_freshness_new_recipient",
    "client_freshness_recipient_removed",
    "client_freshness_contact_method_resolved",
    "client_freshness_person_moved",
    "client_freshness_conversation_moved",
    *(
        f"client_freshness_part_{part}_{share}"
        for part in ("sensor", "queue", "run_to_table", "table_to_client")
        for share in ("p50", "p95")
    ),
}


def wal_by_kind(key: str) -> set[str]:
    """The WAL of `key` (a WAL figure) by kind of record, as a bench on a server whose WAL it reads records it."""
    return {f"{key}_{kind}" for kind in WAL_KINDS}


LINK_MEASUREMENTS = {
    *wal_by_kind("full_backfill_wal"),
    *wal_by_kind("matview_build_wal"),
    "seed",
    "full_backfill_sql",
    "full_backfill_wal",
    "full_backfill_checks",
    "full_backfill_overhead",
    "full_backfill_whole",
    "peak_rss",
    "disk_used",
    "rerun_sql",
    "rerun_rows_written",
    "one_day_sql",
    "one_day_rows_written",
    "scoped_sql",
    "scoped_rows_written",
    "scoped_overhead",
    "scoped_stock_overhead",
    "read_side",
    "plain_floor",
    "seeds_batches",
    "round_trip",
    "matview_build",
    "matview_build_wal",
    "matview_refresh_unchanged",
    "matview_refresh_after_change",
    "dbt_build",
    "dbt_build_whole",
    "dbt_build_wal",
    "dbt_merge_rerun",
    "dbt_merge_rerun_wal",
    "dbt_delete_insert_rerun",
    "dbt_delete_insert_rerun_wal",
    "sensor_tick_sql",
    "sensor_tick_indexed_sql",
    "full_backfill_checks_sql",
    "rerun_checks_sql",
    "one_day_checks_sql",
    "scoped_checks_sql",
    "project_reconcile_sql",
    "project_reconcile_checks_sql",
    "project_scoped_sql",
    "project_scoped_rows_written",
    "project_scoped_checks_sql",
    "scoped_run_dagster_wall",
    "full_backfill_steps",
}
SUBSCRIBER_MEASUREMENTS = {
    "subscriber_full_backfill_sql",
    "subscriber_catch_up_after_first_fill",
    "subscriber_peak_lag_during_first_fill",
    "subscriber_peak_lag_wal_during_first_fill",
}
READ_QUESTIONS = {
    "conversation_people",
    "conversation_clients",
    "person_newest_conversations",
    "client_newest_conversations",
    "project_conversations",
}
AIMS = 23
# The catch-up re-run after a first fill beside the app: the range re-run beside the app, or alone after --one-first-fill.
CATCH_UP_MEASUREMENTS = {"rerun_after_app_sql", "rerun_after_app_rows_written"}
APP_RUN_KINDS = {"first_fill", "first_fill_with_subscriber", "range_rerun", "project_reconcile", "histories_backfill"}
APP_MEASUREMENTS = {
    "app_baseline_longest_statement",
    *(f"app_{kind}_{figure}" for kind in APP_RUN_KINDS for figure in ("longest_statement", "pipeline_wait")),
}
HISTORIES_MEASUREMENTS = {
    *wal_by_kind("histories_full_backfill_wal"),
    "seed_histories",
    "histories_full_backfill_sql",
    "histories_full_backfill_wal",
    "histories_full_backfill_checks",
    "histories_full_backfill_overhead",
    "histories_full_backfill_whole",
    "histories_peak_rss",
    "histories_rerun_sql",
    "histories_rerun_rows_written",
    "tick_sql",
    "tick_steps",
    "tick_checks",
    "tick_overhead",
    "tick_stock_overhead",
    "tick_rows_written",
    "tick_sessions_found",
    "histories_full_backfill_checks_sql",
    "histories_rerun_checks_sql",
    "tick_checks_sql",
    "seed_many_crews",
    "discovery_full_1000_crews_sql",
    "discovery_tick_1000_crews_sql",
    "discovery_tick_1000_crews_steps",
    "discovery_tick_1000_crews_checks_sql",
    "discovery_tick_1000_crews_peak_rss",
    "discovery_tick_1000_crews_sessions_found",
    "histories_full_backfill_steps",
}


def scratch_leftovers(server_url: str) -> set[str]:
    """Scratch databases on the server and scratch schemas in its database, by name."""
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as conn:
        databases = conn.execute("select datname from pg_database where datname like 'convo\\_bench\\_%'").fetchall()
        schemas = conn.execute("select nspname from pg_namespace where nspname like 'convo\\_bench\\_%'").fetchall()
    return {row[0] for row in databases + schemas}


@pytest.fixture
def convo_home() -> Iterator[Path]:
    """A CONVO_HOME of its own, for an embedded server the bench starts (not under pytest's basetemp, for the reason
    conftest.py gives: the server's user must traverse the folders above its data)."""
    home = Path(tempfile.mkdtemp(prefix="convo-bench-home-"))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


# What a bench run must not inherit from the shell: the project's variables and a Dagster instance.
BENCH_UNSET = PROJECT_VARIABLES | {"DAGSTER_HOME", "DAGSTER_STORAGE_URL"}


def run_bench(out: Path, args: list[str], **environment: str) -> subprocess.CompletedProcess[str]:
    """`convo-pipelines bench <args> --json out` without the project's variables, `environment` added; it must succeed."""
    environ = environment_without(BENCH_UNSET, **environment)
    finished = subprocess.run(
        [CLI, "bench", *args, "--json", str(out)], env=environ, capture_output=True, text=True, timeout=1200
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return finished


def refused_bench_error(args: list[str], **environment: str) -> str:
    """The one-line error of `convo-pipelines bench <args>`, which must refuse them (exit 2), `environment` added to
    a shell without the project's variables."""
    environ = environment_without(BENCH_UNSET, **environment)
    finished = subprocess.run([CLI, "bench", *args], env=environ, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 2, finished.stdout[-3000:] + finished.stderr[-3000:]
    # The bench's own progress lines (the embedded server it started and stopped) go to stdout.
    assert len(finished.stderr.strip().splitlines()) == 1, finished.stderr
    return finished.stderr.strip()


# The benchmark end to end: nineteen `dagster asset materialize` processes, the app workload beside five of them and
# a logical subscriber's own server, three to four minutes; `make test-slow` (and CI) runs it. On an embedded server
# it starts, as the committed runs are made: the one path where the bench sets wal_level = logical itself.
@pytest.mark.slow
def test_bench_measures_links_histories_and_a_subscriber_on_an_embedded_server_it_leaves_as_it_was(
    convo_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    finished = run_bench(
        out,
        [
            "--conversations",
            "300",
            "--history-rows",
            "3000",
            "--days",
            "5",
            "--repeats",
            "1",
            "--read-ids",
            "50",
            "--freshness-samples",
            "1",
            # A setting that needs a restart, off PostgreSQL's default of 128MB.
            "--server-setting",
            "shared_buffers=96MB",
        ],
        CONVO_HOME=str(convo_home),
    )
    # The bench stopped the server it started, its wal_level and the run's setting reset for its next start.
    assert not embedded_is_running(convo_home)
    auto_conf = (embedded_pgdata(convo_home) / "postgresql.auto.conf").read_text()
    assert "wal_level" not in auto_conf and "shared_buffers" not in auto_conf
    assert "| first full backfill: SQL |" in finished.stdout
    assert "histories: 1/1 chunks" in finished.stdout  # the seeding's progress line

    report = json.loads(out.read_text())
    # The run had the setting it asked for, and says so.
    assert report["machine"]["server_settings"]["shared_buffers"] == "96MB"
    assert report["machine"]["server_settings_set_by_bench"] == {"shared_buffers": "96MB"}
    figures = report["measurements"]
    assert set(figures) == (
        LINK_MEASUREMENTS
        | SUBSCRIBER_MEASUREMENTS
        | HISTORIES_MEASUREMENTS
        | APP_MEASUREMENTS
        | CATCH_UP_MEASUREMENTS
        | FRESHNESS_MEASUREMENTS
        | CLIENT_FRESHNESS_MEASUREMENTS
    )
    # Every app change reached its link row through the daemon, one of each kind, and a Zero client's live query
    # through zero-cache; the hard delete, which the sensor cannot see, through the sync on its minutely cron (a
    # sample not right in time has a note).
    assert figures["freshness_p95"]["note"] == "5 changes, 1 of each kind; missed: 0"
    assert figures["client_freshness_p95"]["note"] == "5 changes, 1 of each kind; missed: 0"
    assert figures["freshness_recipient_deleted"]["note"] == ""
    assert all(
        figure["runs"] >= 1 and figure["min"] <= figure["median"] <= figure["max"] for figure in figures.values()
    )
    # The measurements that take seconds at any scale run three times even at --repeats 1; the bulk ones once,
    # each after a checkpoint (the test server's role may run one).
    short = (
        "one_day_sql",
        "scoped_sql",
        "scoped_checks_sql",
        "scoped_stock_overhead",
        "project_scoped_sql",
        "tick_sql",
        "tick_stock_overhead",
    )
    assert {figures[key]["runs"] for key in short} == {3}
    assert figures["full_backfill_sql"]["runs"] == figures["read_side"]["runs"] == 1
    assert report["machine"]["checkpoint_before_bulk_measurements"] is True
    # The first fills were real first fills (the tables reset to never filled, foreign keys dropped), not diffs.
    assert figures["full_backfill_sql"]["note"] == "people_front_conversations bulk, clients_front_conversations bulk"
    assert report["app_beside_runs"]["first_fill"]["run_modes"] == figures["full_backfill_sql"]["note"]
    assert report["app_beside_runs"]["first_fill_with_subscriber"]["run_modes"] == figures["full_backfill_sql"]["note"]
    assert figures["subscriber_full_backfill_sql"]["note"] == figures["full_backfill_sql"]["note"]
    assert (
        report["app_beside_runs"]["range_rerun"]["run_modes"]
        == "people_front_conversations diff, clients_front_conversations diff"
    )
    assert figures["rerun_rows_written"]["max"] == 0
    # pg_waldump read the WAL of each first fill and of the views' build from the server's files: its kinds add up to
    # what the server's WAL position moved by (less the pages' headers), and a fill logs its rows and index entries.
    for key in ("full_backfill_wal", "matview_build_wal", "histories_full_backfill_wal"):
        by_kind = sum(figures[kind]["median"] for kind in wal_by_kind(key))
        assert 0.8 * figures[key]["median"] <= by_kind <= 1.05 * figures[key]["median"] + 0.2, key
    assert (
        figures["full_backfill_wal_table_rows"]["median"] > 0
        and figures["full_backfill_wal_index_entries"]["median"] > 0
    )
    # The timed sensor tick found the new recipients' conversations (some messages may share one).
    assert figures["sensor_tick_sql"]["note"] == figures["sensor_tick_indexed_sql"]["note"]
    assert 50 <= int(figures["sensor_tick_sql"]["note"].split()[0]) <= 100
    # Every kind of run's checks were timed inside PostgreSQL, apart from their Dagster steps.
    checked = {key.removesuffix("_checks_sql") for key in figures if key.endswith("_checks_sql")}
    assert checked == {
        "full_backfill",
        "rerun",
        "one_day",
        "scoped",
        "project_reconcile",
        "project_scoped",
        "histories_full_backfill",
        "histories_rerun",
        "tick",
        "discovery_tick_1000_crews",
    }
    assert all(figures[f"{kind}_checks_sql"]["min"] > 0 for kind in checked), figures
    assert figures["one_day_rows_written"]["min"] >= 1
    assert figures["scoped_rows_written"]["min"] >= 1
    assert figures["project_scoped_rows_written"]["min"] >= 1  # each moved conversation's link, moved in place
    assert figures["histories_rerun_rows_written"]["max"] == 0
    assert figures["tick_sessions_found"]["min"] >= 10
    # Each new session is a new histories_sessions row and a new conversation_summaries row.
    assert figures["tick_rows_written"]["min"] >= 20
    assert report["counts"]["people_front_conversations"] > 0
    assert report["counts"]["histories_messages"] == 3000
    assert report["counts"]["conversation_summaries"] > 0
    sized = {(size["schema"], size["table"]) for size in report["sizes"]}
    assert {
        ("source", "people_front_conversations"),
        ("source", "clients_front_conversations"),
        ("analytics", "histories_sessions"),
        ("analytics", "conversation_summaries"),
    } <= sized
    assert len([table for schema, table in sized if schema == "source" and "chat_histories" in table]) == 3

    # The subscriber applied every first fill it was attached to (alone, then beside the app): caught up after
    # the run, without an apply error, its copies of the link tables equal to the upstream's.
    assert report["machine"]["wal_level"] == "logical"
    subscribed = report["replication"]
    assert [fill["label"] for fill in subscribed] == ["first fill, nothing else running", "first fill beside the app"]
    for fill in subscribed:
        assert fill["failure"] is None and fill["apply_errors"] == 0, fill
        assert fill["lag_samples"] >= 1, fill
        assert fill["tables_equal"] and set(fill["tables"]) == {
            "people_front_conversations",
            "clients_front_conversations",
        }
        assert all(table["subscriber_rows"] == table["upstream_rows"] for table in fill["tables"].values())
    # Alone, nothing changed the links after the fill: the subscriber holds a whole first fill.
    assert all(table["upstream_rows"] > 0 for table in subscribed[0]["tables"].values())
    assert figures["subscriber_catch_up_after_first_fill"]["median"] == subscribed[0]["catch_up_seconds"]
    assert {"subscriber_peak_lag_during_first_fill", "subscriber_peak_lag_wal_during_first_fill"} <= set(figures)
    assert "| logical subscriber, per first fill |" in finished.stdout

    # The app workload ran beside each kind of run and alone: every statement kind many times, the
    # longest statement and the pipeline's longest lock wait measured, in the JSON and the table.
    beside = report["app_beside_runs"]
    assert set(beside) == APP_RUN_KINDS
    for kind, app in beside.items():
        assert app["statements"] >= 20 and app["workload"]["monitor_polls"] >= 10, (kind, app["workload"])
        assert (
            app["baseline_longest_statement_ms"] > 0
            and 0 < app["longest_statement_ms"] == app["workload"]["longest_statement_ms"]
        )
        assert app["over_baseline_ms"] == round(app["longest_statement_ms"] - app["baseline_longest_statement_ms"], 3)
        assert app["errors"] == {}, (kind, app["errors"])
        assert app["run_failure"] is None, (kind, app["run_failure"])
        assert {"delete_person", "insert_recipient", "read_person_newest_conversations"} <= set(
            app["workload"]["statements"]
        )
    # The pipeline's reads of the source tables were seen by the lock monitor during the first fill.
    assert "AccessShareLock" in beside["first_fill"]["workload"]["pipeline_lock_modes"]["front_message_recipients"]
    assert "| app beside the first fill of the Front link tables |" in finished.stdout
    assert "longest app statement under baseline + 100 ms" in finished.stdout

    # Every question timed both ways, each over at least one id, with ordered percentiles.
    assert {(row["question"], row["path"]) for row in report["reads"]} == {
        (question, path) for question in READ_QUESTIONS for path in ("links", "joins")
    }
    assert all(1 <= row["ids"] <= 50 and 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] for row in report["reads"])
    assert set(report["read_speedups"]) == READ_QUESTIONS
    # One verdict line per aim, each MET, MISSED or NOT MEASURED.
    verdict_lines = [
        line for line in finished.stdout.splitlines() if line.startswith(("MET ", "MISSED ", "NOT MEASURED "))
    ]
    assert len(verdict_lines) == AIMS

    # The docs' performance page is generated from the JSON, replacing whatever the file held.
    page = tmp_path / "performance.md"
    page.write_text("old figures\n")
    rendered = subprocess.run(
        [CLI, "bench-report", str(out), "--page", str(page)],
        env=environment_without(BENCH_UNSET, CONVO_HOME=str(convo_home)),
        capture_output=True,
        text=True,
    )
    assert rendered.returncode == 0, rendered.stderr
    text = page.read_text()
    assert "old figures" not in text and text.startswith("# Performance") and GENERATED_NOTICE in text
    # Its Reproduce command writes the JSON where the docs' page reads it from.
    assert reproduce_command({**report, "file": out.name}) in text
    assert f"--json docs/bench/{out.name}" in text and "| first full backfill: SQL |" in text and "p95 speed-up" in text
    assert "The logical subscriber at 300 conversations" in text and "wal_level = logical" in text
    assert "Every run's PostgreSQL settings, unless its own paragraph says otherwise: `checkpoint_timeout`" in text
    assert "`shared_buffers`" in text and (tmp_path / "images" / "performance.png").read_bytes().startswith(PNG)
    assert text.count("**MET** ") + text.count("**MISSED** ") + text.count("**NOT MEASURED** ") == AIMS


PNG = b"\x89PNG\r\n\x1a\n"
CONTENDER_MEASUREMENTS = {
    "plain_floor",
    "seeds_batches",
    "matview_build",
    "matview_build_wal",
    *wal_by_kind("matview_build_wal"),
    "matview_refresh_unchanged",
    "matview_refresh_after_change",
    *(key for key in LINK_MEASUREMENTS if key.startswith("dbt_")),
}


# The ten-million run's options on a small seed: a dozen `dagster asset materialize` processes, about a minute.
@pytest.mark.slow
def test_bench_without_contenders_times_its_one_first_fill_beside_the_app(server_url: str, tmp_path: Path) -> None:
    out = tmp_path / "one_fill.json"
    before = scratch_leftovers(server_url)
    run_bench(
        out,
        [
            *("--conversations", "300", "--history-rows", "0", "--days", "5", "--repeats", "1"),
            *("--read-ids", "20", "--freshness-samples", "0", "--skip-replication"),
            *("--skip-contenders", "--one-first-fill"),
        ],
        DATABASE_URL=server_url,
    )
    report = json.loads(out.read_text())
    figures = report["measurements"]
    assert (report["contenders"], report["first_fill_beside_app"]) == (False, True)
    beside = report["app_beside_runs"]
    assert set(beside) == {"first_fill", "range_rerun", "project_reconcile"}
    # The first fill ran beside the app, whose writes the server's WAL counts too: no WAL figure of the fill alone.
    assert set(figures) == LINK_MEASUREMENTS - CONTENDER_MEASUREMENTS - {
        "full_backfill_wal",
        *wal_by_kind("full_backfill_wal"),
    } | CATCH_UP_MEASUREMENTS | {
        "app_baseline_longest_statement",
        *(f"app_{kind}_{figure}" for kind in beside for figure in ("longest_statement", "pipeline_wait")),
    }
    # ONE first fill: its SQL and its app figures come from the same run, a real first fill.
    assert figures["full_backfill_sql"]["runs"] == figures["app_first_fill_longest_statement"]["runs"] == 1
    assert figures["full_backfill_sql"]["note"] == "people_front_conversations bulk, clients_front_conversations bulk"
    assert beside["first_fill"]["run_modes"] == figures["full_backfill_sql"]["note"]
    assert beside["first_fill"]["statements"] >= 20 and beside["first_fill"]["run_failure"] is None
    assert "AccessShareLock" in beside["first_fill"]["workload"]["pipeline_lock_modes"]["front_message_recipients"]
    # What the app wrote beside the fill is taken in by a re-run of its own: the timed re-run finds nothing changed.
    assert figures["rerun_after_app_rows_written"]["min"] >= 1
    assert figures["rerun_rows_written"]["max"] == 0
    assert {"shared_buffers", "max_wal_size", "synchronous_commit"} <= set(report["machine"]["server_settings"])
    assert not Path(f"{out}.partial").exists()  # what it saved while it ran, removed once the JSON is whole
    assert scratch_leftovers(server_url) == before

    page = tmp_path / "performance.md"
    rendered = subprocess.run(
        [CLI, "bench-report", str(out), "--page", str(page)],
        env=environment_without(BENCH_UNSET),
        capture_output=True,
        text=True,
    )
    assert rendered.returncode == 0, rendered.stderr
    text = page.read_text()
    assert "its first fill timed once, beside the app workload (`--one-first-fill`)" in text
    assert "no contenders (`--skip-contenders`)" in text and "| plain floor" not in text


MANY_CREWS_MEASUREMENTS = {key for key in HISTORIES_MEASUREMENTS if "1000_crews" in key} | {"seed_many_crews"}


# A thousand crews seeded and a dozen `dagster asset materialize` processes: a minute or two, so `make test-slow`.
@pytest.mark.slow
def test_bench_only_crews_measures_the_many_crews_tick_alone_on_a_server_without_logical_wal_level(
    server_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "crews.json"
    before = scratch_leftovers(server_url)
    finished = run_bench(
        out,
        ["--only-crews", "--conversations", "300", "--history-rows", "3000", "--days", "5", "--repeats", "1"],
        DATABASE_URL=server_url,
    )
    report = json.loads(out.read_text())
    figures = report["measurements"]
    assert set(figures) == {"seed", "seed_histories"} | MANY_CREWS_MEASUREMENTS
    assert report["only"] == "crews"
    # At least three ticks, each finding the crews given a new session, and its verdict on the page's aim.
    assert figures["discovery_tick_1000_crews_sql"]["runs"] >= 3
    assert figures["discovery_tick_1000_crews_sessions_found"]["min"] >= 1
    assert "merged" in figures["discovery_tick_1000_crews_sql"]["note"]
    assert any(
        line.startswith(("MET ", "MISSED ")) and "discovery tick over 1,000 crews" in line
        for line in finished.stdout.splitlines()
    )
    assert scratch_leftovers(server_url) == before


def test_the_many_crews_verdict_compares_the_median_tick_with_one_second() -> None:
    def crews_verdict(median: float | None) -> str:
        figure = {"median": median, "min": (median or 0) / 2, "max": (median or 0) * 2, "runs": 3}
        run = {"measurements": {} if median is None else {"discovery_tick_1000_crews_sql": figure}}
        [line] = [verdict.line() for verdict in verdicts(run) if "discovery tick over 1,000 crews" in verdict.aim]
        return line

    assert crews_verdict(0.4).startswith("MET ")
    assert "median 400.0 ms of SQL over 3 ticks (min 200.0 ms, max 800.0 ms)" in crews_verdict(0.4)
    assert crews_verdict(1.2).startswith("MISSED ")
    assert crews_verdict(None).startswith("NOT MEASURED ")


def test_a_run_saved_before_the_apps_part_says_its_one_fill_has_no_app_figures() -> None:
    figure = {"median": 5.0, "min": 5.0, "max": 5.0, "runs": 1}
    run = {
        "conversations": 300,
        "days": 5,
        "counts": {},
        "max_messages": 3,
        "machine": {"platform": "Linux"},
        "first_fill_beside_app": True,
        "measurements": {"rerun_after_app_sql": figure, "rerun_rows_written": figure},
        "app_beside_runs": {},
    }
    assert "the run stopped before the app's part" in describe_data(run)
    assert "stopped" not in describe_data({**run, "app_beside_runs": {"first_fill": {}}})
    # Before bench_rerun_after_app, the first re-run took in the app's writes, and the page says how many.
    del run["measurements"]["rerun_after_app_sql"]
    assert "its re-run took in what the app wrote meanwhile (5 rows written)" in describe_data(run)


def test_each_run_on_the_page_says_which_code_it_measured() -> None:
    machine = {"platform": "Linux-6.18-vm1"}
    run = {"conversations": 300, "days": 5, "counts": {}, "max_messages": 3, "measurements": {}, "machine": machine}
    commit = "3f176c414b6cdfbbb7d1e38e0854b6d445b249a0"
    assert describe_data({**run, "revision": commit}).endswith(
        "; measured the code of commit 3f176c414b on Linux-6.18-vm1"
    )
    changed = describe_data({**run, "revision": commit + "+changes"})
    assert changed.endswith("; measured the code of commit 3f176c414b with uncommitted changes on Linux-6.18-vm1")
    assert describe_data(run).endswith("; measured code older than the bench's record of its commit on Linux-6.18-vm1")


def test_a_run_on_a_server_the_bench_set_says_which_settings_it_set() -> None:
    machine = {
        "platform": "Linux-vm1",
        "server_settings_set_by_bench": {"shared_buffers": "6GB", "max_wal_size": "16GB"},
    }
    run = {"conversations": 300, "days": 5, "counts": {}, "max_messages": 3, "measurements": {}, "machine": machine}
    assert (
        "; on the embedded server set for the run to `max_wal_size` 16GB, `shared_buffers` 6GB (`--server-setting`)"
        in describe_data(run)
    )
    assert "--server-setting" not in describe_data({**run, "machine": {"platform": "Linux-vm1"}})


def test_the_scale_verdict_compares_first_fills_of_the_same_shape_ten_times_apart() -> None:
    def run(conversations: int, fill_seconds: float, max_messages: int | None = 3, only: str = "") -> dict:
        figure = {"median": fill_seconds, "min": fill_seconds, "max": fill_seconds, "runs": 1}
        shape = {} if max_messages is None else {"max_messages": max_messages}
        return {
            "conversations": conversations,
            "only": only,
            "measurements": {"full_backfill_sql": figure},
            "machine": {"platform": "Linux-vm1"},
            **shape,
        }

    small, large = run(1_000_000, 100.0), run(10_000_000, 1050.0)
    demo_small, other_only = run(1_000_000, 50.0, max_messages=None), run(1_000_000, 10.0, only="freshness")
    [(small_title, large_title, verdict)] = scale_verdicts([demo_small, small, other_only, large])
    assert (small_title, large_title) == (
        "1,000,000 conversations, 1-3 messages each",
        "10,000,000 conversations, 1-3 messages each",
    )
    assert verdict.line().startswith("MET ") and "10.50x (1050.00 s against 100.00 s)" in verdict.line()
    [(_, _, missed)] = scale_verdicts([small, run(10_000_000, 1150.0)])
    assert missed.line().startswith("MISSED ")
    assert scale_verdicts([demo_small, large]) == []
    # Runs of different commits, or of a checkout with changes, give no verdict: they measured different code.
    [(_, _, other_code)] = scale_verdicts([{**small, "revision": "abc"}, large])
    assert other_code.line().startswith("NOT MEASURED ") and "the two runs measured different code" in other_code.line()
    [(_, _, changed)] = scale_verdicts([{**small, "revision": "abc+changes"}, {**large, "revision": "abc+changes"}])
    assert changed.line().startswith("NOT MEASURED ")
    [(_, _, same)] = scale_verdicts([{**small, "revision": "abc"}, {**large, "revision": "abc"}])
    assert same.line().startswith("MET ") and "different machines" not in same.line()
    # Nor do runs on two machines of one shape, whose speed differs.
    [(_, _, elsewhere)] = scale_verdicts([small, {**large, "machine": {"platform": "Linux-vm2"}}])
    assert elsewhere.line().startswith("NOT MEASURED ") and "ran on different machines" in elsewhere.line()
    # A first fill timed beside the app workload pairs only with another timed so: the app's writes slow it.
    beside = {"first_fill_beside_app": True}
    assert [verdict.figure for _, _, verdict in scale_verdicts([{**small, **beside}, small, {**large, **beside}])] == [
        "10.50x (1050.00 s against 100.00 s)"
    ]
    # A run on a server set otherwise pairs with its own kind only: each pair is judged on one setting.
    tuned = {"platform": "Linux-vm1", "server_settings": {"shared_buffers": "6GB"}}
    small_tuned, large_tuned = {**small, "machine": tuned}, {**run(10_000_000, 900.0), "machine": tuned}
    pairs = scale_verdicts([small, large, small_tuned, large_tuned])
    assert [(verdict.line().split()[0], verdict.figure.split("x")[0]) for _, _, verdict in pairs] == [
        ("MET", "10.50"),
        ("MET", "9.00"),
    ]


def test_bench_refuses_a_database_url_without_logical_wal_level_before_creating_anything() -> None:
    # A server of its own: the suite's may run with wal_level = logical (a TEST_DATABASE_URL's, say).
    with running_cluster("bench_replica", wal_level="replica") as cluster:
        server_url = cluster.url()
        before = scratch_leftovers(server_url)
        error = refused_bench_error(["--conversations", "300"], DATABASE_URL=server_url)
        assert "wal_level = logical" in error and "--skip-replication" in error
        assert scratch_leftovers(server_url) == before


def test_bench_refuses_to_set_a_server_setting_on_a_database_url_before_creating_anything(server_url: str) -> None:
    before = scratch_leftovers(server_url)
    error = refused_bench_error(
        ["--conversations", "300", "--skip-replication", "--server-setting", "shared_buffers=1GB"],
        DATABASE_URL=server_url,
    )
    assert "--server-setting" in error and "DATABASE_URL" in error
    assert scratch_leftovers(server_url) == before


def test_bench_names_a_misspelt_server_setting_and_leaves_the_embedded_server_as_it_was(convo_home: Path) -> None:
    error = refused_bench_error(
        ["--conversations", "300", "--skip-replication", "--server-setting", "shared_bufers=1GB"],
        CONVO_HOME=str(convo_home),
    )
    assert "PostgreSQL has no setting named shared_bufers" in error
    assert not embedded_is_running(convo_home)
    assert "shared_bufers" not in (embedded_pgdata(convo_home) / "postgresql.auto.conf").read_text()


def test_bench_report_names_a_file_that_is_not_a_bench_run(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    page.write_text("# Kept\n")
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"conversations": 1, "measurements": {}}))
    rendered = subprocess.run([CLI, "bench-report", str(run), "--page", str(page)], capture_output=True, text=True)
    assert rendered.returncode == 2
    assert str(run) in rendered.stderr and "not what `bench --json` writes" in rendered.stderr
    assert page.read_text() == "# Kept\n"


def test_a_run_that_prints_more_than_a_pipe_holds_is_watched_to_its_end() -> None:
    # 1 MiB of output: through an unread pipe the process would block after 64 KiB and the watch never end.
    script = "import sys\nfor _ in range(1024): sys.stdout.write('x' * 1023 + '\\n')\nsys.exit(3)"
    returncode, output, peak_mb = run_watching_rss([sys.executable, "-c", script], dict(os.environ))
    assert returncode == 3
    assert len(output) == 1024 * 1024
    assert peak_mb > 1


def test_the_subscriber_lag_is_the_age_of_the_newest_upstream_position_it_confirmed() -> None:
    # The upstream's WAL at 100, 200, 300, 400 at 0, 1, 2, 3 s; the subscriber confirms 100, 100, 300, 400.
    samples = [
        LagSample(0.0, 100, 100),
        LagSample(1.0, 200, 100),
        LagSample(2.0, 300, 300),
        LagSample(3.0, 400, 400),
    ]
    # At 1 s its copy is the upstream's as of 0 s; caught up at 2 and 3 s.
    assert peak_lag_seconds(samples) == 1.0
    assert peak_lag_bytes(samples) == 100
    # Confirmed behind every sample: as old as the first sample at least.
    assert peak_lag_seconds([LagSample(5.0, 100, 50), LagSample(7.5, 200, 50)]) == 2.5
    assert peak_lag_seconds([]) == 0.0 and peak_lag_bytes([]) == 0
