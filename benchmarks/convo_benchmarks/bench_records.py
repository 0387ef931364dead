"""What a bench run reports: its measurements (median, min, max of the samples), counts and sizes, and
the machine, server and code revision it measured."""

from __future__ import annotations

import os
import statistics
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from convo_pipelines.lib.embedded.demo_seed import MAX_MESSAGES_PER_CONVERSATION
from convo_pipelines.lib.postgres.db import connect

# What a run measures: the product's code and SQL, and how it is installed and configured (not the docs, the
# committed figures or the bench itself).
MEASURED_PATHS = ("convo_pipelines", "sql", "setup.py", "pyproject.toml", "dagster.yaml")


@dataclass
class Measurement:
    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def as_row(self) -> dict[str, object]:
        return {
            "name": self.name,
            "unit": self.unit,
            "median": round(self.median, 6),
            "min": round(min(self.samples), 6),
            "max": round(max(self.samples), 6),
            "runs": len(self.samples),
            "note": self.note,
        }


@dataclass
class BenchReport:
    conversations: int
    history_rows: int
    days: int
    seed: int
    machine: dict[str, object]
    # Messages per Front conversation are 1 to max_messages (the demo's shape unless --max-messages).
    max_messages: int = MAX_MESSAGES_PER_CONVERSATION
    counts: dict[str, int] = field(default_factory=dict)
    measurements: dict[str, Measurement] = field(default_factory=dict)
    sizes: list[dict[str, object]] = field(default_factory=list)
    command: str = ""
    reads: list[dict[str, object]] = field(default_factory=list)
    read_speedups: dict[str, float] = field(default_factory=dict)
    # Per run kind: the app's longest statement beside it, the baseline's, the longest lock wait the pipeline caused.
    app_beside_runs: dict[str, dict[str, object]] = field(default_factory=dict)
    # Per first fill with a logical subscriber attached: its catch-up, its lag, its errors, both copies compared.
    replication: list[dict[str, object]] = field(default_factory=list)
    # What the run measured alone after the seed (`--only-freshness`, `--only-crews`), or "" for everything.
    only: str = ""
    # Whether the contenders (plain floor, materialized views, dbt, the seeds' batches) were measured.
    contenders: bool = True
    # A contender the run measured nothing of, with why (dbt that could not be installed here).
    left_out: dict[str, str] = field(default_factory=dict)
    # Whether the first fill was timed once, beside the app workload (`--one-first-fill`), rather than alone
    # and then again beside the app.
    first_fill_beside_app: bool = False
    # The last commit of the code measured ("+changes" when the checkout had uncommitted ones), "" outside a
    # checkout: two runs compare only when they measured the same code.
    revision: str = ""

    def record(self, key: str, name: str, unit: str, value: float, note: str = "") -> None:
        measurement = self.measurements.setdefault(key, Measurement(name, unit, note=note))
        measurement.samples.append(value)

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["measurements"] = {key: m.as_row() for key, m in self.measurements.items()}
        return data


def server_version(url: str) -> str:
    with connect(url) as conn:
        return "PostgreSQL " + conn.execute("select current_setting('server_version')").fetchone()[0]


def code_revision() -> str:
    """The last commit that changed the measured code (MEASURED_PATHS), "+changes" appended when the checkout's
    differ from it; "" when the code is not a git checkout."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("log", "-1", "--format=%H", "--", *MEASURED_PATHS)
        changes = git("status", "--porcelain", "--untracked-files=no", "--", *MEASURED_PATHS)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return commit + ("+changes" if changes else "")


def machine_facts() -> dict[str, object]:
    import platform

    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
