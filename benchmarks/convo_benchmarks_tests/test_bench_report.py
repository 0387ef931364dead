"""The performance page as `bench-report` writes it: the summary first (one run per size, ratios to the same run's
read side, "not measured" where a run did not measure), a picture, verdicts from one run's figures only, and
commands that write where the page reads."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from convo_benchmarks.bench_report import performance_page, read_run
from convo_pipelines_tests.docs_pages import ROOT
from convo_pipelines_tests.helpers import CLI

BENCH = ROOT / "docs" / "bench"
PNG = b"\x89PNG\r\n\x1a\n"


def figure(median: float, unit: str = "s") -> dict[str, object]:
    return {"name": "a figure", "unit": unit, "median": median, "min": median, "max": median, "runs": 1}


def small_run(conversations: int, **measurements: float) -> dict[str, object]:
    """A run as `bench --json` writes it, with only the given medians (in seconds)."""
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
    }


def summary_rows(page: str) -> list[list[str]]:
    """The cells of the page's first table (the summary), one list per row."""
    table = page.split("\n\n| conversations |", 1)[1].split("\n\n", 1)[0]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def second_table_rows(page: str) -> list[list[str]]:
    """The cells of the summary's second table (freshness, the app, memory, WAL), one list per row."""
    table = page.split("\n\n| conversations | freshness", 1)[1].split("\n\n", 1)[0]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def test_the_committed_page_opens_with_one_summary_row_per_size_and_reads_from_docs_bench() -> None:
    runs = [read_run(path) for path in sorted(BENCH.glob("*.json"))]
    page = performance_page(runs)
    sizes = sorted({run["conversations"] for run in runs if run["measurements"].get("full_backfill_sql")})
    assert [row[0] for row in summary_rows(page)] == [f"{size:,}" for size in sizes]
    # The summary and its picture come before any other section.
    assert page.index("| conversations |") < page.index("\n## ")
    # The time picture leads; the WAL's goes with its section. Both are committed PNGs.
    pictures = re.findall(r"!\[[^]]*\]\(([^)]+)\)", page)
    assert pictures == ["images/performance.png", "images/wal.png"]
    assert page.index("images/performance.png") < page.index("\n## ")
    assert all((ROOT / "docs" / picture).read_bytes().startswith(PNG) for picture in pictures)
    # A missing figure is said to be missing, never a zero ratio; no command writes elsewhere than docs/bench/.
    assert "| 0.0x" not in page and "/tmp" not in page
    written = re.findall(r"--json (\S+)", page)
    assert sorted(written) == sorted(f"docs/bench/{path.name}" for path in BENCH.glob("*.json"))
    # Each run's machine and command once, the settings most runs share once.
    assert page.count("Machine: ") == len(runs)
    assert page.count("`work_mem` 4MB") == 1
    # No column is titled by its file when what the runs measured tells them apart.
    header = next(line for line in page.splitlines() if line.startswith("| measurement |"))
    assert ".json" not in header


def test_each_summary_figure_stands_beside_its_ratio_to_the_same_runs_read_side() -> None:
    run = small_run(1000, read_side=2.0, full_backfill_sql=5.0, rerun_sql=1.0, project_reconcile_sql=2.0)
    [row] = summary_rows(performance_page([run]))
    read_side, first_fill, catch_up, nightly = row[2:6]
    assert (read_side, first_fill, catch_up, nightly) == ("2.00 s", "5.00 s (2.5x)", "not measured", "3.00 s (1.5x)")
    assert "left out: chat histories" in row[1]


def test_freshness_at_the_client_discovery_and_the_fills_wal_show_when_a_run_has_them() -> None:
    bare = small_run(1000, read_side=1.0, full_backfill_sql=2.0)
    later = small_run(
        1000,
        read_side=1.0,
        full_backfill_sql=2.0,
        client_freshness_p50=3.0,
        client_freshness_p95=7.5,
        discovery_freshness_p50=1.5,
        discovery_freshness_p95=4.0,
    )
    later["measurements"]["full_backfill_wal"] = figure(1234.0, "MB")
    page = performance_page([later])
    second_table = page.split("| conversations | freshness", 1)[1].split("\n\n", 1)[0]
    assert "3.00 s / 7.50 s" in second_table and "1.50 s / 4.00 s" in second_table and "1234 MB" in second_table
    bare_table = performance_page([bare]).split("| conversations | freshness", 1)[1].split("\n\n", 1)[0]
    # Its freshness (three pairs), app beside the fill, peak RSS and WAL: all unmeasured.
    assert bare_table.splitlines()[-1].count("not measured") == 6


def test_a_freshness_measured_alone_fills_the_summary_row_of_its_size_with_a_link_to_its_run() -> None:
    whole = small_run(1000, read_side=1.0, full_backfill_sql=2.0)
    discovery = {**small_run(1000, discovery_freshness_p50=1.5, discovery_freshness_p95=4.0), "only": "discovery"}
    elsewhere = {**small_run(2000, discovery_freshness_p50=9.0, discovery_freshness_p95=9.5), "only": "discovery"}
    page = performance_page([whole, discovery, elsewhere])
    [row] = second_table_rows(page)
    assert row[3].startswith("1.50 s / 4.00 s ([its own run](#")
    # The client's freshness, measured by no run of that size, stays unmeasured.
    assert row[2] == "not measured"


def test_a_verdict_takes_no_figure_from_another_run_of_the_same_size() -> None:
    # The summary's run measured no materialized view; another run of its size did: the verdict is not measured.
    chosen = small_run(
        1000, read_side=1.0, full_backfill_sql=2.0, freshness_p50=5.0, freshness_p95=9.0, freshness_max=9.5
    )
    other = small_run(1000, read_side=1.0, full_backfill_sql=2.0, matview_build=1.0)
    page = performance_page([chosen, {**other, "file": "other.json"}])
    verdicts = page.split("## Verdicts", 1)[1].split("\n## ", 1)[0]
    [matview] = [line for line in verdicts.splitlines() if line.startswith("| first full backfill's SQL at most 1.5x")]
    assert "**NOT MEASURED**" in matview
    # The other run keeps its own verdict, in its appendix: MISSED at 2x.
    assert "MISSED       first full backfill's SQL at most 1.5x a materialized view" in page


def test_bench_report_writes_the_page_and_its_picture_in_one_command(tmp_path: Path) -> None:
    run = tmp_path / "bench_small.json"
    run.write_text(json.dumps(small_run(1000, read_side=1.0, full_backfill_sql=2.0, rerun_sql=1.1)))
    page = tmp_path / "performance.md"
    written = subprocess.run([CLI, "bench-report", str(run), "--page", str(page)], capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    picture = (tmp_path / "images" / "performance.png").read_bytes()
    assert picture.startswith(PNG)
    assert "--json docs/bench/bench_small.json" in page.read_text()
    # The same runs draw the same bytes, so the committed picture changes only with the figures.
    subprocess.run([CLI, "bench-report", str(run), "--page", str(page)], check=True, capture_output=True)
    assert (tmp_path / "images" / "performance.png").read_bytes() == picture


def test_the_fills_wal_by_kind_shows_per_link_beside_the_materialized_views_when_a_run_read_it(
    tmp_path: Path,
) -> None:
    run = small_run(1000, read_side=1.0, full_backfill_sql=2.0)
    run["counts"] = {"people_front_conversations": 3 * 2**19, "clients_front_conversations": 2**19}
    kinds = {"table_rows": 254.0, "index_entries": 320.0, "whole_pages": 106.0, "other": 2.0}
    for key, scale in (("full_backfill_wal", 1.0), ("matview_build_wal", 0.5)):
        for kind, megabytes in kinds.items():
            run["measurements"][f"{key}_{kind}"] = figure(megabytes * scale, "MB")
    page = performance_page([run])
    section = page.split("## Where a first fill's WAL goes", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| 1,000 conversations")]
    # 2,097,152 links: 254 MB of rows is 127 bytes a link, and the view's half of each kind is half as many bytes.
    assert [row.split(" | ")[1:] for row in rows] == [
        ["first fill", "127", "160", "53", "1", "341 |"],
        ["materialized views", "64", "80", "26", "0", "170 |"],
    ]
    assert "images/wal.png" in section
    # The WAL verdict names the index entries, the kind the fill logs and the view does not.
    run["measurements"]["full_backfill_wal"] = figure(682.0, "MB")
    run["measurements"]["matview_build_wal"] = figure(341.0, "MB")
    [wal] = [line for line in performance_page([run]).splitlines() if line.startswith("| first full backfill's WAL")]
    assert "2.00x (682.0 MB against 341.0 MB; of it, index entries: 320.0 MB against 160.0 MB)" in wal
    # A run that read no WAL by kind has no such section.
    assert "## Where a first fill's WAL goes" not in performance_page([small_run(1000, read_side=1.0)])
