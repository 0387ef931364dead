"""What every part of the benchmark shares (BenchContext): the scratch tables, the seeded period, Dagster's
homes; and a run measured beside the app workload, as the context keeps the first fill's."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg

from convo_benchmarks.bench_runs import DagsterRun, DagsterRunner
from convo_benchmarks.bench_scratch import Scratch
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.app_workload_report import WorkloadReport

READ_IDS = 1000
# The fewest runs of a measurement that takes seconds at any scale (see BenchContext.short_repeats).
SHORT_RUN_REPEATS = 3
# The app workload beside the runs: one statement of each kind this often (seconds).
APP_INTERVAL = 0.05
Report = Callable[[str], None]


@dataclass
class BenchContext:
    """What every part of the benchmark shares: the scratch tables, the seeded period, Dagster's home."""

    scratch: Scratch
    # The project's dagster.yaml as is; and the same instance on dagster-postgres' stock storage, for comparison.
    dagster_home: Path
    stock_dagster_home: Path
    end: datetime
    days: int
    repeats: int
    report: Report
    read_samples: int = READ_IDS
    # Where logs worth keeping after the run go (the daemon's, of the freshness samples): CONVO_HOME.
    log_dir: Path = Path()
    # Whether measurements start after a checkpoint (settle): None until the first try.
    settled: bool | None = None
    # Seconds between the app workload's statements of each kind, beside the runs and alone.
    app_interval: float = APP_INTERVAL
    # The chat-history tables the app workload writes too (none when the histories are not seeded).
    app_histories_tables: list[str] = field(default_factory=list)
    # The first fill measured beside the app in bench_link_tables (`--one-first-fill`), for bench_app_beside_runs.
    first_fill_beside_app: BesideOutcome | None = None

    @property
    def start(self) -> date:
        return (self.end - timedelta(days=self.days)).date()

    @property
    def short_repeats(self) -> int:
        """Runs of a measurement that takes seconds whatever the scale (a one-day partition, a scoped run, a
        discovery tick): at least SHORT_RUN_REPEATS, so that a run the machine slowed for a moment (an
        autovacuum, the other core busy) is not the figure even when the long measurements run once."""
        return max(self.repeats, SHORT_RUN_REPEATS)

    def runner(self, assets: tuple[str, ...], *, stock_storage: bool = False) -> DagsterRunner:
        home = self.stock_dagster_home if stock_storage else self.dagster_home
        return DagsterRunner(self.scratch, home, self.start, self.end.date(), assets)

    def settle(self) -> None:
        """A checkpoint before a timed measurement of bulk work, so that it does not pay for the writes of the
        one before it: right after the seed, a first fill otherwise shares the disk and a core with the
        checkpointer writing the seed's gigabytes out (a 1,000,000-conversation first fill: 43.8 to 44.0 s of
        SQL right after other bulk writes, 38.2 to 40.4 s after a checkpoint). A role that may not run
        CHECKPOINT (neither superuser nor pg_checkpoint) measures without, and the report says so."""
        if self.settled is False:
            return
        try:
            with connect(self.scratch.url, autocommit=True) as conn:
                conn.execute(self.scratch.benchmark_sql("bench/write_out_dirty_buffers.sql"))
            self.settled = True
        except psycopg.errors.InsufficientPrivilege:
            self.report("CHECKPOINT is not allowed for this role: the measurements run without one before each")
            self.settled = False


# A run measured beside the app workload (bench_app_beside_runs.py): here, as the context keeps the first fill's
# outcome when bench_link_tables measured it beside the app.
@dataclass(frozen=True)
class RunBesideApp:
    key: str
    label: str
    launch: Callable[[], DagsterRun]
    empty_tables: Callable[[], None] | None = None
    # Held open around the app and the run: a logical subscriber attached to the tables the run writes.
    attached: Callable[[], AbstractContextManager[object]] = nullcontext


@dataclass
class BesideOutcome:
    """A run measured beside the app workload: what the app saw, how long the run took, how it ended."""

    run: RunBesideApp
    workload: WorkloadReport
    seconds: float
    failure: str | None
    server_activity: dict[str, float]
    dagster_run: DagsterRun | None

    @property
    def modes(self) -> str:
        return self.dagster_run.modes() if self.dagster_run is not None else ""
