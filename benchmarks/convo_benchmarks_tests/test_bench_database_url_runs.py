"""`convo-pipelines bench` at a small scale on the server DATABASE_URL names, with the options of its
largest runs: one first fill beside the app without contenders, the views' build as the one contender, and the
many crews' tick alone; it leaves no scratch database or schema behind."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from convo_benchmarks_tests.bench_figures import (
    CATCH_UP_MEASUREMENTS,
    CONTENDER_MEASUREMENTS,
    LINK_MEASUREMENTS,
    MANY_CREWS_MEASUREMENTS,
    wal_by_kind,
)
from convo_benchmarks_tests.bench_invocations import BENCH_UNSET, run_bench, scratch_leftovers
from convo_pipelines_tests.helpers import CLI, environment_without


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

    # Its one first fill is shown as timed beside the app, and no peer stands beside it (`--skip-contenders`).
    first_fill = first_fill_line_of_the_page(out, tmp_path)
    assert " beside the app |" in first_fill
    assert "; view " not in first_fill and "; dbt " not in first_fill


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


# Both first fills (alone, then beside the app) and the views' build on a small seed: about a minute.
@pytest.mark.slow
def test_bench_with_the_view_build_only_times_the_views_build_and_no_other_contender(
    server_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "view_only.json"
    run_bench(
        out,
        [
            *("--conversations", "300", "--history-rows", "0", "--days", "5", "--repeats", "1"),
            *("--read-ids", "20", "--freshness-samples", "0", "--skip-replication", "--view-build-only"),
        ],
        DATABASE_URL=server_url,
    )
    report = json.loads(out.read_text())
    figures = set(report["measurements"])
    assert CONTENDER_MEASUREMENTS & figures == {"matview_build", "matview_build_wal"} | (
        wal_by_kind("matview_build_wal") & figures
    )
    assert report["left_out"] == {
        "the plain floor, the materialized views' refreshes, dbt and the seeds' batches": "`--view-build-only`"
    }
    first_fill = first_fill_line_of_the_page(out, tmp_path)
    # The first fill stands beside the view's build alone; the re-runs, which the views' refreshes would match,
    # beside nothing.
    assert first_fill.count("; view ") == 1 and "; dbt " not in first_fill


def first_fill_line_of_the_page(out: Path, tmp_path: Path) -> str:
    """The first fill's line of the run `out` in the durations table of the page `bench-report` renders of it."""
    page = tmp_path / "performance.md"
    rendered = subprocess.run(
        [CLI, "bench-report", str(out), "--page", str(page)],
        env=environment_without(BENCH_UNSET),
        capture_output=True,
        text=True,
    )
    assert rendered.returncode == 0, rendered.stderr
    durations = page.read_text().split("\n## How long each kind of run takes\n", 1)[1].split("\n## ", 1)[0]
    [first_fill] = [line for line in durations.splitlines() if f"(bench/{out.name})" in line]
    return first_fill
