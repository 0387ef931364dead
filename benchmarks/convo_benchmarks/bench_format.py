"""How a bench run's figures read: a run's figures by key, durations and sizes as text, and what tells runs apart
(their file's name, their data's shape, the server settings the bench gave them)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from convo_pipelines.lib.embedded.demo_seed import MAX_MESSAGES_PER_CONVERSATION

Run = dict[str, object]

# The checkout the bench's JSON files were made in: its git dates the commits they measured.
REPOSITORY = Path(__file__).resolve().parents[2]

NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Verdict:
    aim: str
    met: bool | None  # None: the run did not measure it
    figure: str

    @property
    def status(self) -> str:
        return {True: "MET", False: "MISSED", None: "NOT MEASURED"}[self.met]

    def line(self) -> str:
        return f"{self.status:<12} {self.aim}: {self.figure}"


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
    """Whether the run seeded the demo's own shape (as a run without `max_messages` did)."""
    return run.get("max_messages", MAX_MESSAGES_PER_CONVERSATION) == MAX_MESSAGES_PER_CONVERSATION


def shape_label(run: Run) -> str:
    """The run's data's shape: the range of messages per conversation, the demo's (about 8) or a leaner one."""
    if demo_shape(run):
        return f"demo, 1-{MAX_MESSAGES_PER_CONVERSATION}"
    return f"lean, 1-{run['max_messages']}"


def server_set_by_bench(run: Run) -> str:
    """The settings `bench --server-setting` gave the embedded server for the run, as `name value, ...`."""
    settings = run["machine"].get("server_settings_set_by_bench") or {}
    return ", ".join(f"{name} {value}" for name, value in sorted(settings.items()))


def setting_label(run: Run) -> str:
    """The server's settings for the run: as it comes, or what the bench set."""
    return server_set_by_bench(run) or "as it comes"


def run_name(run: Run) -> str:
    """The run's short name: its JSON file's name without `bench_` and `.json` (its size where it has no file)."""
    file = str(run.get("file") or "")
    return file.removeprefix("bench_").removesuffix(".json") or f"{run['conversations']:,}"


def run_link(run: Run) -> str:
    """The run's short name, linked to its JSON file beside the page (where every figure of the run lives)."""
    return f"[{run_name(run)}](bench/{run['file']})" if run.get("file") else run_name(run)


@cache
def git_day(*arguments: str) -> str:
    """The commit day (YYYY-MM-DD) `git log -1` finds with these arguments in this checkout; "" where it finds none."""
    try:
        shown = subprocess.run(
            ["git", "log", "-1", "--format=%cs", *arguments], cwd=REPOSITORY, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return shown.stdout.strip()


def code_day(run: Run) -> str:
    """The day of the code the run measured: its commit's, or for a run that recorded none, the day its
    JSON file was committed to docs/bench/, "by" that day ("" where git knows neither)."""
    revision = str(run.get("revision", "")).removesuffix("+changes")
    if revision:
        return git_day(revision)
    committed = git_day("--", f"docs/bench/{run['file']}") if run.get("file") else ""
    return f"by {committed}" if committed else ""


def run_link_and_day(run: Run) -> str:
    """The run's link, then the day of the code it measured."""
    return run_link(run) + (f" ({day})" if (day := code_day(run)) else "")


def peak_rss(run: Run) -> float | None:
    """The largest peak RSS of any run process the bench watched (the links', the histories', the crews' tick)."""
    peaks = [
        value
        for key in ("peak_rss", "histories_peak_rss", "discovery_tick_1000_crews_peak_rss")
        if (value := maximum(run, key)) is not None
    ]
    return max(peaks) if peaks else None
