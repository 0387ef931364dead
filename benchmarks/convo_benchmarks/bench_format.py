"""How a bench run's figures read: a run's figures by key, durations and sizes as text, and each run's title."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from convo_pipelines.lib.embedded.demo_seed import MAX_MESSAGES_PER_CONVERSATION

Run = dict[str, object]

NOT_MEASURED = "not measured"


def median(run: Run, key: str) -> float | None:
    figure = run["measurements"].get(key)
    return None if figure is None else float(figure["median"])


def maximum(run: Run, key: str) -> float | None:
    figure = run["measurements"].get(key)
    return None if figure is None else float(figure["max"])


def minimum(run: Run, key: str) -> float | None:
    figure = run["measurements"].get(key)
    return None if figure is None else float(figure["min"])


def seconds(value: float) -> str:
    if value < 0.01:
        return f"{value * 1000:.2f} ms"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def megabytes(value: float) -> str:
    return f"{value:.1f} MB" if value < 10 else f"{value:,.0f} MB"


def format_figure(value: object, unit: str) -> str:
    if unit == "s":
        return seconds(float(value))
    if unit == "MB":
        return f"{float(value):.0f} MB"
    return f"{int(float(value)):,} {unit}"


def demo_shape(run: Run) -> bool:
    """Whether the run seeded the demo's own shape (runs before `--max-messages` did)."""
    return run.get("max_messages", MAX_MESSAGES_PER_CONVERSATION) == MAX_MESSAGES_PER_CONVERSATION


def run_title(run: Run) -> str:
    """A run's title: its scale, a leaner demo's messages (`--max-messages`), and what it measured alone when it
    measured only one thing (`bench --only-...`)."""
    only = run.get("only")
    lean = "" if demo_shape(run) else f", 1-{run['max_messages']} messages each"
    return f"{run['conversations']:,} conversations" + lean + (f", {only} only" if only else "")


def server_set_by_bench(run: Run) -> str:
    """The settings `bench --server-setting` gave the embedded server for the run, as `name value, ...`."""
    settings = run["machine"].get("server_settings_set_by_bench") or {}
    return ", ".join(f"{name} {value}" for name, value in sorted(settings.items()))


def run_titles(runs: Sequence[Run]) -> list[str]:
    """Each run's title (run_title); where two runs share one, what tells them apart: the server settings the bench
    set, a first fill timed beside the app, the commit of the code measured, and last the file's name."""
    qualifiers = (
        lambda run: f", {settings}" if (settings := server_set_by_bench(run)) else "",
        lambda run: ", first fill beside the app" if run.get("first_fill_beside_app") else "",
        lambda run: f", code {revision[:7]}" if (revision := run.get("revision")) else "",
        lambda run: f" ({run['file']})" if run.get("file") else "",
    )
    titles = [run_title(run) for run in runs]
    for qualifier in qualifiers:
        counts = Counter(titles)
        titles = [
            title + qualifier(run) if counts[title] > 1 else title for title, run in zip(titles, runs, strict=True)
        ]
    return titles


def peak_rss(run: Run) -> float | None:
    """The largest peak RSS of any run process the bench watched (the links', the histories', the crews' tick)."""
    peaks = [
        value
        for key in ("peak_rss", "histories_peak_rss", "discovery_tick_1000_crews_peak_rss")
        if (value := maximum(run, key)) is not None
    ]
    return max(peaks) if peaks else None
