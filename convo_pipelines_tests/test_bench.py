"""`convo-pipelines bench` at a small scale, so the tool never rots: every figure is measured and sane.

No timing is asserted (timings belong to the benchmark's own output); what is asserted is what the
figures mean: a re-run writes nothing, a change is written, the scratch database is dropped.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg

from convo_pipelines.db import psycopg_url
from convo_pipelines_tests.helpers import CLI, PROJECT_VARIABLES, environment_without

EXPECTED_MEASUREMENTS = {
    "seed", "full_backfill_sql", "full_backfill_checks", "full_backfill_overhead", "peak_rss",
    "rerun_sql", "rerun_rows_written", "one_day_sql", "one_day_rows_written", "scoped_sql",
    "scoped_rows_written", "read_side", "plain_floor", "seeds_batches",
}


def scratch_databases(server_url: str) -> set[str]:
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as conn:
        return {row[0] for row in conn.execute("select datname from pg_database where datname like 'convo_bench_%'")}


def test_bench_measures_every_figure_and_drops_its_scratch_database(server_url: str, tmp_path: Path) -> None:
    before = scratch_databases(server_url)
    out = tmp_path / "bench.json"
    environ = environment_without(PROJECT_VARIABLES | {"DAGSTER_HOME", "DAGSTER_STORAGE_URL"}, DATABASE_URL=server_url)
    finished = subprocess.run(
        [CLI, "bench", "--conversations", "300", "--days", "5", "--repeats", "1", "--json", str(out)],
        env=environ, capture_output=True, text=True, timeout=600,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert "| first full backfill: SQL |" in finished.stdout

    report = json.loads(out.read_text())
    figures = report["measurements"]
    assert set(figures) == EXPECTED_MEASUREMENTS
    assert all(figure["runs"] >= 1 and figure["min"] <= figure["median"] <= figure["max"] for figure in figures.values())
    assert figures["rerun_rows_written"]["max"] == 0
    assert figures["one_day_rows_written"]["min"] >= 1
    assert figures["scoped_rows_written"]["min"] >= 1
    assert report["counts"]["people_front_conversations"] > 0
    assert {size["table"] for size in report["sizes"]} == {"people_front_conversations", "clients_front_conversations"}
    assert scratch_databases(server_url) == before
