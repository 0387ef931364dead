"""The performance page's opening: one run per size, its figures beside their ratio to that run's read side,
which run it was and what it left out, and the verdicts of those runs."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

from convo_benchmarks.bench_format import (
    NOT_MEASURED,
    Run,
    demo_shape,
    format_figure,
    median,
    megabytes,
    peak_rss,
    seconds,
    server_set_by_bench,
)
from convo_benchmarks.bench_verdicts import scale_verdicts, verdicts

# The summary's durations: (column, the keys whose medians add up to it). Each shows beside its ratio to the read side.
DURATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("first fill", ("full_backfill_sql",)),
    ("catch-up re-run", ("rerun_after_app_sql",)),
    ("nightly reconcile", ("rerun_sql", "project_reconcile_sql")),
    ("one-day partition", ("one_day_sql",)),
    ("sensor's scoped run", ("scoped_sql",)),
)
# The summary's freshness figures: (column, key of p50, key of p95).
FRESHNESS: tuple[tuple[str, str, str], ...] = (
    ("freshness at the link tables, p50 / p95", "freshness_p50", "freshness_p95"),
    ("freshness at the app's client, p50 / p95", "client_freshness_p50", "client_freshness_p95"),
    ("a new chat session in the summaries, p50 / p95", "discovery_freshness_p50", "discovery_freshness_p95"),
)
FIRST_FILL_WAL = "full_backfill_wal"

COLUMN_NOTES = """\
Each figure is the median of its run's SQL (the time spent inside PostgreSQL statements). Beside it, its ratio to
the *read side* of the same run: the time PostgreSQL takes only to read both Front link joins, the floor of any
fill, so a ratio carries over to a faster or slower machine where a time does not.

- **first fill**: both Front link tables filled from empty over every day, one run.
- **catch-up re-run**: the re-run over every day right after a first fill that the app wrote beside, taking in
  what it wrote meanwhile.
- **nightly reconcile**: what `LINK_TABLES_SYNC_CRON` runs with nothing changed: both Front link tables over
  every day, plus `project_conversations`.
- **one-day partition**: one day re-materialized after one change on it.
- **sensor's scoped run**: the late-change sensor's run for one change on an old day.
- **freshness**: an app's change committed until the link table (or the app's client, or for a new chat session
  the summaries) is right, with the real daemon and the app writing beside it.
- **app's longest statement beside the fill**: the longest statement of an app workload running beside the first
  fill, against the same workload alone.
- **peak RSS**: the largest resident memory of any run process.
"""

# The checkout the bench's JSON files were made in: its git dates the revisions they measured.
REPOSITORY = Path(__file__).resolve().parents[2]


def headline_runs(runs: Sequence[Run]) -> list[Run]:
    """One run per size, smallest first: the one that measured the newest code (revision_time), then the one that
    measured most of the summary; on a tie, one on a server as it comes, then one that measured the same code on the
    same machine as a run of another size, then the file's name."""
    whole = [run for run in runs if not run.get("only") and median(run, "full_backfill_sql") is not None]

    def comparable(run: Run) -> int:
        return sum(
            other["conversations"] != run["conversations"]
            and other.get("revision") == run.get("revision")
            and other["machine"]["platform"] == run["machine"]["platform"]
            for other in whole
        )

    def rank(run: Run) -> tuple[int, int, bool, int, str]:
        return (
            -revision_time(run),
            -measured_cells(run),
            bool(server_set_by_bench(run)),
            -comparable(run),
            run.get("file", ""),
        )

    sizes = sorted({run["conversations"] for run in whole})
    return [min((run for run in whole if run["conversations"] == size), key=rank) for size in sizes]


def revision_time(run: Run) -> int:
    """When the commit whose code the run measured was made (seconds since the epoch), as this checkout's git knows
    it; 0 when the run recorded none or git does not know it."""
    revision = run.get("revision", "").removesuffix("+changes")
    if not revision:
        return 0
    try:
        shown = subprocess.run(
            ["git", "show", "-s", "--format=%ct", revision], cwd=REPOSITORY, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return 0
    return int(shown.stdout.strip() or 0)


def measured_cells(run: Run) -> int:
    keys = [key for _, keys in DURATIONS for key in keys] + [key for _, *keys in FRESHNESS for key in keys]
    keys += ["app_first_fill_longest_statement", "peak_rss", FIRST_FILL_WAL]
    return sum(key in run["measurements"] for key in keys)


def run_role(run: Run) -> str:
    """What the run stands for: its data's shape, its server's settings, how its first fill was timed."""
    shape = "the demo's shape" if demo_shape(run) else f"1-{run['max_messages']} messages a conversation"
    server = f"server set to {settings}" if (settings := server_set_by_bench(run)) else "server as it comes"
    fill = "; first fill beside the app" if run.get("first_fill_beside_app") else ""
    return f"{shape}, {server}{fill}"


def left_out(run: Run) -> str:
    """What the run did not measure, by the bench's options (or that it measured everything)."""
    measurements = run["measurements"]
    missing = [
        label
        for label, absent in (
            ("chat histories", not run.get("history_rows")),
            ("the contenders", run.get("contenders") is False),
            ("the seeds' batches", run.get("contenders") is not False and "seeds_batches" not in measurements),
            ("dbt", run.get("contenders") is not False and "dbt_build" not in measurements),
            ("a first fill alone", bool(run.get("first_fill_beside_app"))),
            ("a logical subscriber", not run.get("replication")),
            ("freshness", "freshness_p95" not in measurements),
        )
        if absent
    ]
    return ", ".join(missing) if missing else "nothing"


def ratio(value: float, read_side: float | None) -> str:
    return "" if not read_side else f" ({value / read_side:.2g}x)"


def duration_cell(run: Run, keys: tuple[str, ...]) -> str:
    figures = [median(run, key) for key in keys]
    if None in figures:
        return NOT_MEASURED
    total = sum(figures)
    return seconds(total) + ratio(total, median(run, "read_side"))


def pair_cell(run: Run, first: str, second: str) -> str:
    low, high = median(run, first), median(run, second)
    return NOT_MEASURED if low is None or high is None else f"{seconds(low)} / {seconds(high)}"


def freshness_cell(run: Run, runs: Sequence[Run], titles: dict[int, str], p50: str, p95: str) -> str:
    """A headline run's freshness; where it measured none, that of the newest run of the same size that measured
    only this (`--only-discovery`, `--only-freshness`), linked to it."""
    if median(run, p50) is not None:
        return pair_cell(run, p50, p95)
    alone = [
        other
        for other in runs
        if other.get("only") and other["conversations"] == run["conversations"] and median(other, p50) is not None
    ]
    if not alone:
        return NOT_MEASURED
    newest = max(alone, key=revision_time)
    return f"{pair_cell(newest, p50, p95)} ([its own run](#{anchor(titles[id(newest)])}))"


def app_cell(run: Run) -> str:
    beside, alone = median(run, "app_first_fill_longest_statement"), median(run, "app_baseline_longest_statement")
    if beside is None:
        return NOT_MEASURED
    return seconds(beside) + ("" if alone is None else f" (alone {seconds(alone)})")


def figure_cell(run: Run, key: str) -> str:
    row = run["measurements"].get(key)
    return NOT_MEASURED if row is None else format_figure(row["median"], row["unit"])


def anchor(title: str) -> str:
    """The anchor mkdocs gives a heading of this text (Python-Markdown's toc slugify)."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())


def summary_section(runs: Sequence[Run], titles: dict[int, str]) -> list[str]:
    """The two tables of the headline runs, then what their columns mean. `titles`: each run's title by id()."""
    chosen = headline_runs(runs)

    def row(cells: Callable[[Run], list[str]]) -> list[str]:
        return [f"| {run['conversations']:,} | " + " | ".join(cells(run)) + " |" for run in chosen]

    def run_cell(run: Run) -> str:
        return f"[{run_role(run)}](#{anchor(titles[id(run)])}); left out: {left_out(run)}"

    durations = ["read side", *(column for column, _ in DURATIONS)]
    others = [
        *(column for column, _, _ in FRESHNESS),
        "app's longest statement beside the fill",
        "peak RSS",
        "WAL written by the first fill",
    ]
    return [
        "| conversations | the run | " + " | ".join(durations) + " |",
        "|---:|---|" + "---:|" * len(durations),
        *row(
            lambda run: [
                run_cell(run),
                figure_cell(run, "read_side"),
                *(duration_cell(run, keys) for _, keys in DURATIONS),
            ]
        ),
        "",
        "| conversations | " + " | ".join(others) + " |",
        "|---:|" + "---:|" * len(others),
        *row(
            lambda run: [
                *(freshness_cell(run, runs, titles, p50, p95) for _, p50, p95 in FRESHNESS),
                app_cell(run),
                NOT_MEASURED if (peak := peak_rss(run)) is None else megabytes(peak),
                figure_cell(run, FIRST_FILL_WAL),
            ]
        ),
        "",
        COLUMN_NOTES.rstrip(),
    ]


def verdicts_section(runs: Sequence[Run], titles: dict[int, str]) -> list[str]:
    """The headline runs' verdicts side by side (each judged on its own run's figures), then the scale verdicts."""
    chosen = headline_runs(runs)
    per_run = [verdicts(run) for run in chosen]
    lines = [
        "| aim | " + " | ".join(f"{run['conversations']:,} conversations" for run in chosen) + " |",
        "|---|" + "---|" * len(chosen),
    ]
    for index, verdict in enumerate(per_run[0] if per_run else []):
        cells = [f"**{found[index].status}** {found[index].figure}" for found in per_run]
        lines.append(f"| {verdict.aim} | " + " | ".join(cells) + " |")
    scales = scale_verdicts(runs)
    if scales:
        lines += [
            "",
            *(
                f"- From {small} to {large}: **{verdict.status}** {verdict.aim}: {verdict.figure}."
                for small, large, verdict in scales
            ),
        ]
    return lines
