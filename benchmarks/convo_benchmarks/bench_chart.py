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
