"""The performance page's picture: time against conversations, log-log, drawn from bench runs as a PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from convo_benchmarks.bench_format import Run, median
from convo_benchmarks.bench_summary import headline_runs

# The series drawn where a run measured them: (label, key of the median, colour).
SERIES: tuple[tuple[str, str, str], ...] = (
    ("first fill", "full_backfill_sql", "#d62728"),
    ("re-run, nothing changed", "rerun_sql", "#1f77b4"),
    ("read side (the floor)", "read_side", "#7f7f7f"),
    ("materialized views, built", "matview_build", "#2ca02c"),
    ("dbt, the same joins", "dbt_build", "#9467bd"),
)
CHART_NAME = "performance.png"


def draw_chart(runs: Sequence[Run], path: Path) -> None:
    """Lines through the runs the page's summary shows (one per size); the other runs' figures as faint points."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    chosen = headline_runs(runs)
    others = [run for run in runs if not run.get("only") and all(run is not pick for pick in chosen)]
    figure, axes = pyplot.subplots(figsize=(8, 5), dpi=110)
    for label, key, colour in SERIES:
        points = [(run["conversations"], value) for run in chosen if (value := median(run, key)) is not None]
        faint = [(run["conversations"], value) for run in others if (value := median(run, key)) is not None]
        if not points and not faint:
            continue
        if points:
            axes.plot(*zip(*points, strict=True), marker="o", color=colour, label=label)
        for conversations, value in points if key == "full_backfill_sql" else []:
            axes.annotate(
                f"{value:.3g} s", (conversations, value), xytext=(-8, 8), textcoords="offset points", ha="right"
            )
        if faint:
            axes.scatter(*zip(*faint, strict=True), color=colour, alpha=0.35, marker="x")
    axes.set_xscale("log")
    axes.set_yscale("log")
    sizes = sorted({run["conversations"] for run in runs})
    axes.set_xticks(sizes, [f"{size:,}" for size in sizes])
    axes.minorticks_off()
    axes.set_xlabel("Front conversations")
    axes.set_ylabel("seconds of SQL (median)")
    axes.set_title("Time against conversations, log-log (lines: the summary's runs; x: the other runs)", fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # No timestamp in the file, so the same runs draw the same bytes.
    figure.savefig(path, format="png", metadata={"Software": None})
    pyplot.close(figure)


# The WAL picture: a first fill's WAL and the materialized views' build, each by kind of record, per link.
WAL_CHART_NAME = "wal.png"
WAL_BUILDS: tuple[tuple[str, str], ...] = (
    ("first fill", "full_backfill_wal"),
    ("materialized views", "matview_build_wal"),
)
WAL_KIND_COLOURS = {"table_rows": "#1f77b4", "index_entries": "#d62728", "whole_pages": "#2ca02c", "other": "#7f7f7f"}


def wal_runs(runs: Sequence[Run]) -> list[Run]:
    """The runs that read both builds' WAL by kind (bench_wal_kinds), smallest first."""
    keys = [f"{key}_table_rows" for _, key in WAL_BUILDS]
    return sorted((run for run in runs if all(median(run, key) is not None for key in keys)), key=run_links)


def run_links(run: Run) -> int:
    """The links both Front link tables held after the run's first fill."""
    counts = run["counts"]
    return int(counts["people_front_conversations"]) + int(counts["clients_front_conversations"])


def wal_bytes_per_link(run: Run, key: str, kind: str) -> float:
    return float(median(run, f"{key}_{kind}") or 0.0) * 2**20 / run_links(run)


def draw_wal_chart(runs: Sequence[Run], titles: dict[int, str], path: Path) -> None:
    """One bar per build and run, split by kind of WAL record, in bytes per link."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from convo_benchmarks.bench_wal_kinds import WAL_KINDS

    chosen = wal_runs(runs)
    bars = [(f"{titles[id(run)]}\n{build}", run, key) for run in chosen for build, key in WAL_BUILDS]
    figure, axes = pyplot.subplots(figsize=(8, 1.2 + 0.55 * len(bars)), dpi=110)
    labels = [label for label, _, _ in bars]
    left = [0.0] * len(bars)
    for kind, kind_label in WAL_KINDS.items():
        widths = [wal_bytes_per_link(run, key, kind) for _, run, key in bars]
        axes.barh(labels, widths, left=left, color=WAL_KIND_COLOURS[kind], label=kind_label)
        left = [start + width for start, width in zip(left, widths, strict=True)]
    for row, total in enumerate(left):
        axes.annotate(f"{total:.0f} B", (total, row), xytext=(4, 0), textcoords="offset points", va="center")
    axes.invert_yaxis()
    axes.tick_params(axis="y", labelsize=7)
    axes.set_xlabel("bytes of WAL per link")
    axes.set_xlim(0, max(left, default=1.0) * 1.15)
    axes.set_title("WAL per link by kind of record: the first fill and the materialized views' build", fontsize=10)
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata={"Software": None})
    pyplot.close(figure)
