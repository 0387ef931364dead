"""The performance page's first screen: how long each kind of run takes, how fresh the results are, and what the app
feels beside each run; each a table whose rows are the runs that measured it, each row linked to its JSON file."""

from __future__ import annotations

from collections.abc import Sequence

from convo_benchmarks.bench_format import (
    Run,
    median,
    run_link,
    run_link_and_day,
    seconds,
    setting_label,
    shape_label,
)
from convo_benchmarks.bench_verdicts import (
    CLIENT_FRESHNESS_P95_SECONDS_AIM,
    DISCOVERY_FRESHNESS_P95_SECONDS_AIM,
    FRESHNESS_P95_SECONDS_AIM,
)

# How long: (column, the keys whose medians add up to it, the peers timed in the same run: (name, key)). The read
# side first: the machine's speed on that run, which the other columns are judged against.
DURATIONS: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]], ...] = (
    ("read side", ("read_side",), ()),
    ("first fill", ("full_backfill_sql",), (("view", "matview_build"), ("dbt", "dbt_build"))),
    ("catch-up re-run", ("rerun_after_app_sql",), ()),
    ("nightly reconcile", ("rerun_sql", "project_reconcile_sql"), ()),
    ("unchanged re-run", ("rerun_sql",), (("view", "matview_refresh_unchanged"), ("dbt", "dbt_merge_rerun"))),
    ("one-day change", ("one_day_sql",), (("view", "matview_refresh_after_change"),)),
    ("late change", ("scoped_sql",), ()),
)
# How fresh: (what becomes right, the prefix of its `_p50` and `_p95` figures, its aim at p95 in seconds).
FRESHNESS: tuple[tuple[str, str, float], ...] = (
    ("link tables", "freshness", FRESHNESS_P95_SECONDS_AIM),
    ("Zero client", "client_freshness", CLIENT_FRESHNESS_P95_SECONDS_AIM),
    ("new chat session", "discovery_freshness", DISCOVERY_FRESHNESS_P95_SECONDS_AIM),
)
# The app beside a run: (column, the kind of run in `app_beside_runs`).
APP_BESIDE: tuple[tuple[str, str], ...] = (
    ("first fill", "first_fill"),
    ("re-run of every day", "range_rerun"),
    ("project reconcile", "project_reconcile"),
)
# The other kinds of run a lock wait may come from.
OTHER_KINDS = {
    "histories_backfill": "histories backfill",
    "first_fill_with_subscriber": "first fill, subscriber attached",
}
KIND_LABELS = {**{kind: column for column, kind in APP_BESIDE}, **OTHER_KINDS}
JSON_COLUMN = "JSON (code's day)"


def row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def header(columns: Sequence[str], numeric_from: int) -> list[str]:
    """A table's header; the columns from `numeric_from` on are right-aligned."""
    return [row(columns), "|" + "---|" * numeric_from + "---:|" * (len(columns) - numeric_from)]


def run_cells(run: Run) -> list[str]:
    return [f"{run['conversations']:,}", shape_label(run), setting_label(run)]


def duration_runs(runs: Sequence[Run]) -> list[Run]:
    """The runs that timed a first fill, each a row of the durations' table."""
    return [run for run in runs if median(run, "full_backfill_sql") is not None]


def duration_cell(run: Run, keys: tuple[str, ...], peers: tuple[tuple[str, str], ...]) -> str:
    """The sum of the keys' medians and, after it, each peer the same run timed; empty where the run timed none."""
    figures = [median(run, key) for key in keys]
    if None in figures:
        return ""
    cell = seconds(sum(figures)) + (" beside the app" if timed_beside_the_app(run, keys) else "")
    return "; ".join(
        [cell, *(f"{name} {seconds(value)}" for name, key in peers if (value := median(run, key)) is not None)]
    )


def timed_beside_the_app(run: Run, keys: tuple[str, ...]) -> bool:
    """Whether the figure of `keys` was timed with the app writing beside it: the first fill of `--one-first-fill`,
    and else the catch-up."""
    if keys == ("full_backfill_sql",):
        return bool(run.get("first_fill_beside_app"))
    return keys == ("rerun_after_app_sql",) and catch_up_beside_the_app(run)


def catch_up_beside_the_app(run: Run) -> bool:
    """Whether the run's catch-up is its re-run of every day beside the app, right after its first fill beside the
    app; with `--one-first-fill` the catch-up runs alone, and the re-run beside the app finds only the app's writes
    since."""
    return not run.get("first_fill_beside_app")


def durations_table(runs: Sequence[Run]) -> list[str]:
    lines = header(["conversations", "shape", "server", *(column for column, _, _ in DURATIONS), JSON_COLUMN], 3)
    for run in duration_runs(runs):
        cells = [duration_cell(run, keys, peers) for _, keys, peers in DURATIONS]
        lines.append(row([*run_cells(run), *cells, run_link_and_day(run)]))
    return lines


def freshness_rows(runs: Sequence[Run]) -> list[tuple[str, Run, float, float, float]]:
    """(what becomes right, run, p50, p95, aim) for each run that measured it."""
    return [
        (what, run, p50, p95, aim)
        for what, prefix, aim in FRESHNESS
        for run in runs
        if (p50 := median(run, f"{prefix}_p50")) is not None and (p95 := median(run, f"{prefix}_p95")) is not None
    ]


def freshness_table(runs: Sequence[Run]) -> list[str]:
    lines = header(["right in", "conversations", "shape", "p50", "p95", "aim at p95", JSON_COLUMN], 3)
    for what, run, p50, p95, aim in freshness_rows(runs):
        verdict = "met" if p95 <= aim else "missed"
        cells = [what, f"{run['conversations']:,}", shape_label(run), seconds(p50), seconds(p95)]
        lines.append(row([*cells, f"{aim:.0f} s: {verdict}", run_link_and_day(run)]))
    return lines


def app_runs(runs: Sequence[Run]) -> list[Run]:
    """The runs that timed the app beside every kind of run the app's table shows."""
    return [run for run in runs if all(kind in (run.get("app_beside_runs") or {}) for _, kind in APP_BESIDE)]


def worst_p99_ms(figures: dict[str, object]) -> float:
    """The highest p99 of any kind of the app's statements (its reads and writes) beside the run."""
    return max(kind["p99_ms"] for kind in figures["workload"]["statements"].values())


def app_cell(figures: dict[str, object]) -> str:
    return f"{figures['longest_statement_ms']:.1f} / {worst_p99_ms(figures):.1f} ms"


def app_cell_note(run: Run, kind: str) -> str:
    """What the run beside the app was, where its column does not say it all: the re-run that was the catch-up."""
    return " (catch-up)" if kind == "range_rerun" and catch_up_beside_the_app(run) else ""


def lock_wait_cell(beside: dict[str, dict[str, object]]) -> str:
    """The longest lock wait the pipeline caused the app, beside which run; and app statements that failed."""
    kind = max(beside, key=lambda kind: beside[kind]["longest_pipeline_wait_ms"])
    wait = beside[kind]["longest_pipeline_wait_ms"]
    cell = f"{wait:.1f} ms" + (f" ({KIND_LABELS.get(kind, beside[kind]['label'])})" if wait else "")
    failed = sum(sum(states.values()) for figures in beside.values() for states in figures["errors"].values())
    return cell + (f"; {failed} app statements failed" if failed else "")


def app_table(runs: Sequence[Run]) -> list[str]:
    columns = ["conversations", "shape", "server", "alone", *(column for column, _ in APP_BESIDE)]
    lines = header([*columns, "longest lock wait the pipeline caused", JSON_COLUMN], 3)
    for run in app_runs(runs):
        beside = run["app_beside_runs"]
        alone = f"{beside[APP_BESIDE[0][1]]['baseline_longest_statement_ms']:.1f} ms"
        cells = [app_cell(beside[kind]) + app_cell_note(run, kind) for _, kind in APP_BESIDE]
        lines.append(row([*run_cells(run), alone, *cells, lock_wait_cell(beside), run_link_and_day(run)]))
    return lines


def histories_line(runs: Sequence[Run]) -> str:
    """The chat histories' runs, where runs timed them: the first backfill, and a discovery tick over 1,000 crews."""
    sentences = []
    for what, key in (
        ("The chat histories' first backfill", "histories_full_backfill_sql"),
        ("A discovery tick over 1,000 crews", "discovery_tick_1000_crews_sql"),
    ):
        figures = [
            f"{seconds(value)} at {run['conversations']:,} ({run_link(run)})"
            for run in runs
            if (value := median(run, key)) is not None
        ]
        if figures:
            sentences.append(f"{what}: {', '.join(figures)}.")
    return " ".join(sentences)
