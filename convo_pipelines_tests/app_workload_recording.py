"""What an app workload records while it runs: the time of each of its statements, and what its lock monitor sees in
pg_locks and pg_stat_activity (the pipeline's locks on the application's tables, and the app's waits behind them)."""

from __future__ import annotations

import statistics
import threading
from collections import Counter, defaultdict

from convo_pipelines_tests.app_workload_report import AppLockWait, PipelineLock, StatementFigures

APP_APPLICATION_NAME = "convo_app_workload"
MONITOR_APPLICATION_NAME = "convo_lock_monitor"


class StatementLog:
    """Thread-safe timings and failures per statement kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._milliseconds: dict[str, list[float]] = defaultdict(list)
        self._errors: dict[str, Counter] = defaultdict(Counter)

    def add(self, kind: str, milliseconds: float, sqlstate: str | None = None) -> None:
        with self._lock:
            self._milliseconds[kind].append(milliseconds)
            if sqlstate is not None:
                self._errors[kind][sqlstate] += 1

    def figures(self) -> dict[str, StatementFigures]:
        with self._lock:
            return {
                kind: StatementFigures(
                    kind=kind,
                    count=len(timings),
                    p50_ms=round(_percentile(timings, 50), 3),
                    p99_ms=round(_percentile(timings, 99), 3),
                    max_ms=round(max(timings), 3),
                    errors=dict(self._errors.get(kind, {})),
                )
                for kind, timings in self._milliseconds.items()
            }


def _percentile(values: list[float], rank: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[rank - 1]


class LockObservations:
    """What the monitor saw: stretches of pipeline locks per (table, mode, state), and app lock waits."""

    def __init__(self, relations: dict[int, str]) -> None:
        self._lock = threading.Lock()
        self._relations = relations
        # (pid, relation, mode, granted) -> [first seen, last seen] of the stretch going on
        self._open: dict[tuple, list[float]] = {}
        # (table, mode, granted) -> longest stretch in ms
        self._longest: dict[tuple[str, str, bool], float] = {}
        self.longest_pipeline_wait: AppLockWait | None = None
        self.longest_app_wait: AppLockWait | None = None
        self.polls = 0
        self.longest_gap_ms = 0.0
        self._last_poll: float | None = None
        self.app_wait_samples: Counter[str] = Counter()

    def observe(self, now: float, locks: list[tuple], waiters: list[tuple], app_waits: list[tuple]) -> None:
        with self._lock:
            self._observe_locks(now, locks)
            self._observe_waiters(waiters)
            for waiting_on, backends in app_waits:
                self.app_wait_samples[waiting_on] += backends
            if self._last_poll is not None:
                self.longest_gap_ms = max(self.longest_gap_ms, (now - self._last_poll) * 1000)
            self._last_poll = now
            self.polls += 1

    def _observe_locks(self, now: float, locks: list[tuple]) -> None:
        seen = {(pid, relation, mode, granted) for relation, mode, granted, pid in locks}
        for key in seen:
            self._open.setdefault(key, [now, now])[1] = now
        for key in [key for key in self._open if key not in seen]:
            self._close(key, self._open.pop(key))

    def _close(self, key: tuple, stretch: list[float]) -> None:
        _pid, relation, mode, granted = key
        grain = (self._relations[relation], mode, granted)
        self._longest[grain] = max(self._longest.get(grain, 0.0), (stretch[1] - stretch[0]) * 1000)

    def _observe_waiters(self, waiters: list[tuple]) -> None:
        blocked_by = {row[0]: (set(row[4] or ()), set(row[5] or ())) for row in waiters}
        for pid, application_name, _query_start, waited_ms, _blocking, _pipeline, relation, mode, query in waiters:
            if application_name != APP_APPLICATION_NAME or waited_ms is None:
                continue
            wait = AppLockWait(
                waited_ms=round(float(waited_ms), 3),
                awaited_relation=relation,
                awaited_mode=mode,
                caused_by_pipeline=_blocked_by_pipeline(pid, blocked_by),
                query=_without_comments(query or ""),
            )
            if self.longest_app_wait is None or wait.waited_ms > self.longest_app_wait.waited_ms:
                self.longest_app_wait = wait
            if wait.caused_by_pipeline and (
                self.longest_pipeline_wait is None or wait.waited_ms > self.longest_pipeline_wait.waited_ms
            ):
                self.longest_pipeline_wait = wait

    def pipeline_locks(self) -> dict[str, dict[str, PipelineLock]]:
        with self._lock:
            longest = dict(self._longest)
            for key, stretch in self._open.items():
                _pid, relation, mode, granted = key
                grain = (self._relations[relation], mode, granted)
                longest[grain] = max(longest.get(grain, 0.0), (stretch[1] - stretch[0]) * 1000)
        tables: dict[str, dict[str, PipelineLock]] = defaultdict(dict)
        for table, mode in sorted({(table, mode) for table, mode, _granted in longest}):
            held, awaited = (table, mode, True) in longest, (table, mode, False) in longest
            tables[table][mode] = PipelineLock(
                mode=mode,
                held=held,
                awaited=awaited,
                longest_held_ms=round(longest.get((table, mode, True), 0.0), 1),
                longest_awaited_ms=round(longest.get((table, mode, False), 0.0), 1),
            )
        return dict(tables)


def _without_comments(query: str) -> str:
    """The statement without its SQL file's header comment: what it does, in one line."""
    return " ".join(line.strip() for line in query.splitlines() if line.strip() and not line.lstrip().startswith("--"))


def _blocked_by_pipeline(pid: int, blocked_by: dict[int, tuple[set[int], set[int]]]) -> bool:
    """Whether a pipeline backend blocks `pid`, directly or through other waiters (a lock queue is a chain)."""
    pending, visited = [pid], set()
    while pending:
        current = pending.pop()
        if current in visited or current not in blocked_by:
            continue
        visited.add(current)
        blockers, pipeline_blockers = blocked_by[current]
        if pipeline_blockers:
            return True
        pending.extend(blockers)
    return False
