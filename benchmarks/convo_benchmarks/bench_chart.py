"""The performance page's picture: a first fill's seconds of SQL against conversations, log-log, drawn as a PNG. A
colour per kind of run (its data's shape, its server's settings, whether the app wrote beside the fill), a line
joining only runs of that kind that measured the same code; each point labelled with its figure and run, and beside
it the peers the same run built."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from convo_benchmarks.bench_format import Run, median, run_name, setting_label, shape_label

CHART_NAME = "performance.png"
FIRST_FILL = "full_backfill_sql"
# The peers drawn beside a first fill where the same run built them: (label, key of the median, marker).
PEERS: tuple[tuple[str, str, str], ...] = (
    ("materialized view, built in the same run", "matview_build", "s"),
    ("dbt incremental model, first build in the same run", "dbt_build", "^"),
)
COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def series_label(run: Run) -> str:
    """What a line stands for: the run's shape, its server, and whether its first fill ran beside the app."""
    beside = ", first fill beside the app" if run.get("first_fill_beside_app") else ""
    return f"{shape_label(run)}; server {setting_label(run)}{beside}"


def series(runs: Sequence[Run]) -> dict[str, list[list[Run]]]:
    """The runs that timed a first fill, by series_label, then by the code they measured (one line each, smallest
    first): a line joins only runs of one shape and server that measured the same commit."""
    lines: dict[str, dict[str, list[Run]]] = {}
    for run in sorted(runs, key=lambda run: run["conversations"]):
        if median(run, FIRST_FILL) is not None:
            code = str(run.get("revision") or run.get("file") or id(run))
            lines.setdefault(series_label(run), {}).setdefault(code, []).append(run)
    return {label: list(by_code.values()) for label, by_code in lines.items()}


def draw_chart(runs: Sequence[Run], path: Path) -> None:
    """One line per series and code through its runs' first fills, each point labelled with its figure and run; the
    peers as unjoined marks of the series' colour."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 5.5), dpi=110)
    for index, (label, lines) in enumerate(series(runs).items()):
        colour = COLOURS[index % len(COLOURS)]
        for number, members in enumerate(lines):
            points = [(run["conversations"], median(run, FIRST_FILL)) for run in members]
            axes.plot(*zip(*points, strict=True), marker="o", color=colour, label=None if number else label)
            for run, (conversations, value) in zip(members, points, strict=True):
                axes.annotate(
                    f"{value:.3g} s ({run_name(run)})",
                    (conversations, value),
                    xytext=(6, 4 - 11 * (index % 3)),
                    textcoords="offset points",
                    fontsize=7,
                )
            for _, key, marker in PEERS:
                peers = [(run["conversations"], value) for run in members if (value := median(run, key)) is not None]
                if peers:
                    axes.scatter(*zip(*peers, strict=True), marker=marker, color=colour, facecolors="none", s=60)
    for label, _, marker in PEERS:
        axes.scatter([], [], marker=marker, color="#555555", facecolors="none", label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    sizes = sorted({run["conversations"] for run in runs if median(run, FIRST_FILL) is not None})
    axes.set_xticks(sizes, [f"{size:,}" for size in sizes])
    axes.minorticks_off()
    axes.set_xlim(min(sizes, default=1) / 2, max(sizes, default=1) * 4)
    axes.set_xlabel("Front conversations")
    axes.set_ylabel("first fill: seconds of SQL (median)")
    axes.set_title(
        "A first fill against conversations, log-log: a colour per shape and server, a line per code measured",
        fontsize=10,
    )
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # No timestamp in the file, so the same runs draw the same bytes.
    figure.savefig(path, format="png", metadata={"Software": None})
    pyplot.close(figure)
