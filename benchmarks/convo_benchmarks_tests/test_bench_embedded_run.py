"""`convo-pipelines bench` at a small scale on an embedded server it starts, so the tool never rots: every
figure is measured and sane.

No timing is asserted (timings belong to the benchmark's own output); what is asserted is what the
figures mean: a re-run writes nothing, a change is written, a discovery tick finds the new
sessions, a logical subscriber catches up without errors and holds what the upstream holds, and the
embedded server is left as the bench found it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from convo_benchmarks.bench_report import GENERATED_NOTICE
from convo_benchmarks.bench_verdicts import verdicts
from convo_benchmarks_tests.bench_figures import (
    APP_MEASUREMENTS,
    APP_RUN_KINDS,
    CATCH_UP_MEASUREMENTS,
    CLIENT_FRESHNESS_MEASUREMENTS,
    FRESHNESS_MEASUREMENTS,
    HISTORIES_MEASUREMENTS,
    LINK_MEASUREMENTS,
    READ_QUESTIONS,
    SUBSCRIBER_MEASUREMENTS,
    wal_by_kind,
)
from convo_benchmarks_tests.bench_invocations import BENCH_UNSET, run_bench
from convo_pipelines.lib.embedded.server import embedded_is_running, embedded_pgdata
from convo_pipelines_tests.helpers import CLI, environment_without

PNG = b"\x89PNG\r\n\x1a\n"


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
    # One verdict line per aim, each MET, MISSED or NOT MEASURED: the ones the JSON it wrote gives.
    verdict_lines = [
        line for line in finished.stdout.splitlines() if line.startswith(("MET ", "MISSED ", "NOT MEASURED "))
    ]
    assert verdict_lines == [verdict.line() for verdict in verdicts(report)]

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
    # The run is in each of the three questions' tables, linked to its JSON, where every other figure lives; the
    # setting the bench gave the server is named, and the picture drawn.
    assert [f"(bench/{out.name})" in table for table in text.split("\n## ")[1:4]] == [True] * 3
    assert "set by the bench for bench: `shared_buffers` 96MB" in text and "`wal_level` logical" in text
    assert "not measured" not in text.lower() and (tmp_path / "images" / "performance.png").read_bytes().startswith(PNG)
    # One verdict row per aim the run measured.
    verdict_rows = text.split("\n## Verdicts\n", 1)[1].split("\n## ", 1)[0].count("\n| ") - 1
    assert verdict_rows == sum(verdict.met is not None for verdict in verdicts(report))
