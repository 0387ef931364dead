"""The performance page as `bench-report` writes it: short, its first tables answering how long each kind of run
takes, how fresh the results are and what the app feels, each figure its run's median, each row linked to its JSON
file; a run that did not measure something is not in that table; a picture whose lines join only runs of one kind."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from convo_benchmarks.bench_chart import series
from convo_benchmarks.bench_report import performance_page, read_run
from convo_pipelines_tests.docs_pages import ROOT
from convo_pipelines_tests.helpers import CLI

BENCH = ROOT / "docs" / "bench"
PNG = b"\x89PNG\r\n\x1a\n"
MOST_LINES = 150
MOST_WORDS = 2000
# The first table's columns: (the keys whose medians add up to its first figure, the peers after it by name).
DURATION_COLUMNS = {
    "read side": (("read_side",), {}),
    "first fill": (("full_backfill_sql",), {"view": "matview_build", "dbt": "dbt_build"}),
    "catch-up re-run": (("rerun_after_app_sql",), {}),
    "nightly reconcile": (("rerun_sql", "project_reconcile_sql"), {}),
    "unchanged re-run": (("rerun_sql",), {"view": "matview_refresh_unchanged", "dbt": "dbt_merge_rerun"}),
    "one-day change": (("one_day_sql",), {"view": "matview_refresh_after_change"}),
    "late change": (("scoped_sql",), {}),
}
DURATIONS = "How long each kind of run takes"
FRESHNESS = "How fresh"
APP = "What the app feels beside each run"


def committed_runs() -> list[dict[str, object]]:
    return [read_run(path) for path in sorted(BENCH.glob("*.json"))]


def figure(median: float, unit: str = "s") -> dict[str, object]:
    return {"name": "a figure", "unit": unit, "median": median, "min": median, "max": median, "runs": 1}


def small_run(conversations: int, file: str, **measurements: float) -> dict[str, object]:
    """A run as `bench --json` writes it and read_run reads it, with only the given medians (in seconds)."""
    return {
        "conversations": conversations,
        "days": 3,
        "max_messages": 3,
        "history_rows": 0,
        "counts": {},
        "sizes": [],
        "command": f"convo-pipelines bench --conversations {conversations} --json /tmp/run.json",
        "machine": {"cpus": 2, "memory_gib": 4.0, "platform": "Linux-vm1", "python": "3.11.7"},
        "measurements": {key: figure(value) for key, value in measurements.items()},
        "file": file,
    }


def table(page: str, heading: str) -> list[dict[str, str]]:
    """The rows of the first table under `## heading`, each by its column's name."""
    section = page.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    text = next(block.strip() for block in section.split("\n\n") if block.strip().startswith("|"))
    header, _, *rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in text.splitlines()]
    return [dict(zip(header, cells, strict=True)) for cells in rows]


def linked_file(cell: str) -> str:
    return re.search(r"\(bench/([^)]+\.json)\)", cell).group(1)


def near(text: str, value: float) -> bool:
    """Whether a figure as the page writes it ("25.53 s", "164.2 ms") rounds `value` (in seconds)."""
    number, unit = re.fullmatch(r"([\d.]+) (s|ms)", text).groups()
    scale = 1.0 if unit == "s" else 0.001
    decimals = len(number.partition(".")[2])
    return abs(float(number) * scale - value) <= 0.5 * 10**-decimals * scale + 1e-12


def median(run: dict[str, object], key: str) -> float | None:
    found = run["measurements"].get(key)
    return None if found is None else float(found["median"])


def words(page: str) -> int:
    """Words as a reader counts them: tokens with a letter or a digit (a table's pipes are none)."""
    return sum(bool(re.search(r"[A-Za-z0-9]", token)) for token in page.split())


def test_the_committed_page_is_short_answers_its_three_questions_first_and_links_every_run() -> None:
    runs = committed_runs()
    page = performance_page(runs)
    assert len(page.splitlines()) <= MOST_LINES and words(page) <= MOST_WORDS
    assert "not measured" not in page.lower()
    # The three questions' tables come first, then the machine and the server's settings, then the picture.
    headings = re.findall(r"^## (.+)$", page, flags=re.MULTILINE)
    assert headings[:3] == [DURATIONS, FRESHNESS, APP]
    assert page.index(f"## {APP}") < page.index("**Machine**: 2 cores") < page.index("images/performance.png")
    assert "`shared_buffers` 128MB" in page and "set by the bench for 1m_as_10m" in page
    assert (ROOT / "docs" / "images" / "performance.png").read_bytes().startswith(PNG)
    # Every committed run is linked where its detail lives, and every link names a committed file.
    linked = set(re.findall(r"\(bench/([^)]+\.json)\)", page))
    assert linked == {path.name for path in BENCH.glob("*.json")}
    # Each run that recorded its commit is shown with it.
    rows = {linked_file(row["JSON"]): row for row in table(page, "Every figure")}
    for run in runs:
        if run.get("revision"):
            assert f"`{run['revision'][:7]}` of 20" in rows[run["file"]]["code"]


def test_every_figure_of_the_first_table_is_its_runs_median() -> None:
    runs = {run["file"]: run for run in committed_runs()}
    rows = table(performance_page(list(runs.values())), DURATIONS)
    timed_a_fill = {file for file, run in runs.items() if median(run, "full_backfill_sql") is not None}
    assert sorted(linked_file(row["JSON (code's day)"]) for row in rows) == sorted(timed_a_fill)
    for row in rows:
        run = runs[linked_file(row["JSON (code's day)"])]
        assert row["conversations"] == f"{run['conversations']:,}"
        for column, (keys, peers) in DURATION_COLUMNS.items():
            figures = [median(run, key) for key in keys]
            if None in figures:
                assert row[column] == "", (run["file"], column)
                continue
            ours, *others = row[column].split("; ")
            assert near(ours.removesuffix(" beside the app"), sum(figures)), (run["file"], column, ours)
            shown = dict(other.split(" ", 1) for other in others)
            assert set(shown) == {name for name, key in peers.items() if median(run, key) is not None}
            assert all(near(text, median(run, peers[name])) for name, text in shown.items())
            one_fill_beside = bool(run.get("first_fill_beside_app"))
            assert ours.endswith(" beside the app") == (
                (column == "first fill" and one_fill_beside) or (column == "catch-up re-run" and not one_fill_beside)
            )


def test_the_freshness_and_app_tables_hold_each_runs_own_figures() -> None:
    runs = {run["file"]: run for run in committed_runs()}
    page = performance_page(list(runs.values()))
    freshness = table(page, FRESHNESS)
    prefixes = {
        "link tables": "freshness",
        "Zero client": "client_freshness",
        "new chat session": "discovery_freshness",
    }
    measured = {
        (what, file)
        for what, prefix in prefixes.items()
        for file, run in runs.items()
        if f"{prefix}_p95" in run["measurements"]
    }
    assert {(row["right in"], linked_file(row["JSON (code's day)"])) for row in freshness} == measured
    for row in freshness:
        run, prefix = runs[linked_file(row["JSON (code's day)"])], prefixes[row["right in"]]
        assert near(row["p50"], median(run, f"{prefix}_p50")) and near(row["p95"], median(run, f"{prefix}_p95"))
    for row in table(page, APP):
        run = runs[linked_file(row["JSON (code's day)"])]
        beside = run["app_beside_runs"]
        # The re-run beside the app is the catch-up unless the run's one first fill was timed beside the app.
        assert row["re-run of every day"].endswith(" ms (catch-up)") == (not run.get("first_fill_beside_app"))
        longest, p99 = row["first fill"].removesuffix(" ms").split(" / ")
        assert float(longest) == round(beside["first_fill"]["longest_statement_ms"], 1)
        assert float(p99) == round(
            max(kind["p99_ms"] for kind in beside["first_fill"]["workload"]["statements"].values()), 1
        )
        wait = max(figures["longest_pipeline_wait_ms"] for figures in beside.values())
        assert row["longest lock wait the pipeline caused"].startswith(f"{wait:.1f} ms")


def test_a_run_lacking_a_measurement_leaves_no_cell_and_a_table_no_run_measured_is_left_out() -> None:
    whole = small_run(1000, "bench_whole.json", full_backfill_sql=2.0, rerun_sql=1.0, project_reconcile_sql=0.5)
    whole["measurements"]["matview_build"] = figure(1.0)
    bare = small_run(10_000, "bench_bare.json", full_backfill_sql=30.0)
    fresh = {**small_run(1000, "bench_fresh.json", freshness_p50=4.0, freshness_p95=40.0), "only": "freshness"}
    page = performance_page([bare, fresh, whole])
    durations = table(page, DURATIONS)
    assert [linked_file(row["JSON (code's day)"]) for row in durations] == ["bench_whole.json", "bench_bare.json"]
    assert durations[0]["first fill"] == "2.00 s; view 1.00 s" and durations[0]["nightly reconcile"] == "1.50 s"
    assert durations[1]["first fill"] == "30.00 s"
    assert [durations[1][column] for column in DURATION_COLUMNS if column != "first fill"] == [""] * 6
    [freshness] = table(page, FRESHNESS)
    assert (linked_file(freshness["JSON (code's day)"]), freshness["aim at p95"]) == (
        "bench_fresh.json",
        "30 s: missed",
    )
    # No run timed the app beside a run: no such section; nor a verdict on an aim no run measured.
    assert f"## {APP}" not in page and "not measured" not in page.lower()
    verdicts = {row["aim"]: row for row in table(page, "Verdicts")}
    matview = verdicts[
        "first full backfill's SQL at most 1.5x a materialized view of the same joins built in the same run"
    ]
    assert (matview["met"], matview["missed"]) == ("", "whole")
    assert not any("seeds' batches" in aim for aim in verdicts)


def test_the_picture_joins_only_runs_of_one_shape_server_and_code() -> None:
    runs = committed_runs()
    lines = [members for by_code in series(runs).values() for members in by_code]
    drawn = [run["file"] for members in lines for run in members]
    assert sorted(drawn) == sorted(run["file"] for run in runs if median(run, "full_backfill_sql") is not None)
    for members in lines:
        kinds = {
            (
                run.get("max_messages", 15),
                json.dumps(run["machine"].get("server_settings_set_by_bench") or {}),
                bool(run.get("first_fill_beside_app")),
                run.get("revision"),
            )
            for run in members
        }
        assert len(kinds) == 1, [run["file"] for run in members]
    # Runs of one kind ten times apart are one line, smallest first.
    small = {**small_run(1000, "a.json", full_backfill_sql=1.0), "revision": "abc"}
    large = {**small_run(10_000, "b.json", full_backfill_sql=9.0), "revision": "abc"}
    [(label, [joined])] = series([large, small]).items()
    assert [run["file"] for run in joined] == ["a.json", "b.json"]
    tuned = {**large, "machine": {**large["machine"], "server_settings_set_by_bench": {"shared_buffers": "6GB"}}}
    assert len(series([small, tuned])) == 2
    # Nor does a line join runs of other code, or runs that recorded none.
    assert [len(line) for line in series([small, {**large, "revision": "def"}])[label]] == [1, 1]


def test_bench_report_writes_the_page_and_its_picture_in_one_command(tmp_path: Path) -> None:
    run = tmp_path / "bench_small.json"
    written_run = small_run(1000, "", full_backfill_sql=2.0, rerun_sql=1.1)
    del written_run["file"]
    run.write_text(json.dumps(written_run))
    page = tmp_path / "performance.md"
    written = subprocess.run([CLI, "bench-report", str(run), "--page", str(page)], capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    picture = (tmp_path / "images" / "performance.png").read_bytes()
    assert picture.startswith(PNG)
    assert "[small](bench/bench_small.json)" in page.read_text()
    # The same runs draw the same bytes, so the committed picture changes only with the figures.
    subprocess.run([CLI, "bench-report", str(run), "--page", str(page)], check=True, capture_output=True)
    assert (tmp_path / "images" / "performance.png").read_bytes() == picture
