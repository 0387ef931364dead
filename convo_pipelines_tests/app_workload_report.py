"""What an app workload reports: each statement kind's times and failures, the locks the pipeline held or awaited
on the application's tables, and how long the app's statements waited behind them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from convo_pipelines.defs.links.tables import LINK_TABLES

# The pipeline's own tables: its locks on them are recorded too (the app reads them), apart from the source tables'.
# Lock modes (as pg_locks names them) that block the app's reads or writes of a whole table.
EXCLUSIVE_LOCK_MODES = frozenset({"AccessExclusiveLock", "ExclusiveLock"})
# Lock modes that block the app's writes (not its reads): acceptable only for a moment.
WRITE_BLOCKING_LOCK_MODES = frozenset({"ShareLock", "ShareRowExclusiveLock"})


@dataclass(frozen=True)
class StatementFigures:
    """One statement kind: executions (failed ones included), client-side wall time, failures by SQLSTATE."""

    kind: str
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]


@dataclass(frozen=True)
class PipelineLock:
    """A lock mode the pipeline held and/or awaited on one table, and its longest stretch seen in each state.

    A stretch is measured between the first and the last poll that saw it, so it is a lower bound
    (a lock seen by one poll only reads 0 ms) off by at most one poll interval.
    """

    mode: str
    held: bool
    awaited: bool
    longest_held_ms: float
    longest_awaited_ms: float


@dataclass(frozen=True)
class AppLockWait:
    """An app statement seen waiting for a lock; `waited_ms` is the statement's age at the last sighting."""

    waited_ms: float
    awaited_relation: str | None
    awaited_mode: str | None
    caused_by_pipeline: bool
    query: str


@dataclass
class WorkloadReport:
    seconds: float
    interval: float
    statements: dict[str, StatementFigures]
    # {table: {mode: PipelineLock}}: the source tables watched, and the link tables
    pipeline_locks: dict[str, dict[str, PipelineLock]]
    longest_pipeline_wait: AppLockWait | None
    longest_app_wait: AppLockWait | None
    monitor_polls: int
    monitor_longest_gap_ms: float
    # {wait event or 'CPU': app backends seen running on it, summed over the monitor's polls}
    app_wait_samples: dict[str, int]
    # A worker (or the monitor) that stopped on an unexpected error: the figures are incomplete.
    worker_failures: list[str]

    @property
    def errors(self) -> dict[str, dict[str, int]]:
        """{statement kind: {SQLSTATE: failures}} for the kinds that failed at least once."""
        return {kind: dict(figures.errors) for kind, figures in self.statements.items() if figures.errors}

    @property
    def longest_statement_ms(self) -> float:
        return max((figures.max_ms for figures in self.statements.values()), default=0.0)

    @property
    def longest_pipeline_wait_ms(self) -> float:
        return self.longest_pipeline_wait.waited_ms if self.longest_pipeline_wait else 0.0

    def statement_count(self) -> int:
        return sum(figures.count for figures in self.statements.values())

    def pipeline_lock_modes(self) -> dict[str, set[str]]:
        """{table: every mode the pipeline held or awaited on it}, the link tables included."""
        return {table: set(modes) for table, modes in self.pipeline_locks.items()}

    def pipeline_locks_in(
        self, modes: Iterable[str], *, link_tables: bool = False
    ) -> dict[str, dict[str, PipelineLock]]:
        """The pipeline's locks of the given modes on the source tables (and the link tables if asked), by table."""
        wanted = set(modes)
        found = {
            table: {mode: lock for mode, lock in locks.items() if mode in wanted}
            for table, locks in self.pipeline_locks.items()
            if link_tables or table not in LINK_TABLES
        }
        return {table: locks for table, locks in found.items() if locks}

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["errors"] = self.errors
        data["longest_statement_ms"] = round(self.longest_statement_ms, 3)
        data["longest_pipeline_wait_ms"] = round(self.longest_pipeline_wait_ms, 3)
        data["pipeline_lock_modes"] = {table: sorted(modes) for table, modes in self.pipeline_lock_modes().items()}
        return data

    def summary(self) -> str:
        """A few lines for logs and test failures: the slowest statements, errors, locks, the longest wait."""
        slowest = sorted(self.statements.values(), key=lambda figures: figures.max_ms, reverse=True)[:4]
        lines = [
            f"app workload: {self.statement_count():,} statements in {self.seconds:.1f} s, "
            f"{self.monitor_polls:,} lock polls (longest gap {self.monitor_longest_gap_ms:.1f} ms)",
            "  slowest: " + ", ".join(f"{f.kind} max {f.max_ms:.1f} ms (p99 {f.p99_ms:.1f})" for f in slowest),
            f"  errors: {self.errors or 'none'}"
            + (f"; workers stopped: {self.worker_failures}" if self.worker_failures else ""),
            "  pipeline locks (source and link tables): "
            + (
                "; ".join(
                    f"{table} "
                    + ", ".join(
                        f"{mode}{'' if lock.held else ' (awaited only)'} {max(lock.longest_held_ms, lock.longest_awaited_ms):.0f} ms"
                        for mode, lock in sorted(locks.items())
                    )
                    for table, locks in sorted(self.pipeline_locks.items())
                )
                or "none seen"
            ),
            f"  longest app lock wait caused by the pipeline: {_describe_wait(self.longest_pipeline_wait)}",
            f"  longest app lock wait, any cause: {_describe_wait(self.longest_app_wait)}",
            f"  app statements running, sampled by the polls: {wait_shares(self.app_wait_samples) or 'none seen'}",
        ]
        return "\n".join(lines)


def wait_shares(samples: dict[str, int], top: int = 3) -> str:
    """The app's statements caught running, by what they waited on: the `top` shares ('' when none was caught)."""
    total = sum(samples.values())
    if not total:
        return ""
    return ", ".join(
        f"{event} {count / total:.0%}" for event, count in sorted(samples.items(), key=lambda item: -item[1])[:top]
    )


def _describe_wait(wait: AppLockWait | None) -> str:
    if wait is None:
        return "none seen"
    return f"{wait.waited_ms:.1f} ms for {wait.awaited_mode} on {wait.awaited_relation} ({wait.query[:100]!r})"
