"""Progress lines for long runs done in steps (chunks of days, crews): steps done, rows, rate, ETA."""

from __future__ import annotations

import time
from collections.abc import Callable


class Progress:
    """Counts finished steps and rows and logs one line per step with the rate and the time left.

    `log` is any callable taking a message, e.g. `context.log.info`. The ETA assumes the steps
    left cost what the finished ones did on average.
    """

    def __init__(
        self,
        log: Callable[[str], object],
        label: str,
        total_steps: int,
        unit: str = "chunks",
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.log = log
        self.label = label
        self.total_steps = max(total_steps, 0)
        self.unit = unit
        self.clock = clock
        self.started = clock()
        self.steps_done = 0
        self.rows = 0

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def eta_seconds(self) -> float | None:
        """Seconds left at the average pace so far; None before the first step ends."""
        if self.steps_done == 0:
            return None
        remaining = max(self.total_steps - self.steps_done, 0)
        return self.elapsed / self.steps_done * remaining

    def advance(self, rows: int, steps: int = 1) -> str:
        """Record `steps` finished steps that handled `rows` rows, log the progress line and return it."""
        self.steps_done += steps
        self.rows += rows
        message = self.describe()
        self.log(message)
        return message

    def describe(self) -> str:
        elapsed = self.elapsed
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        eta = self.eta_seconds()
        eta_text = "unknown" if eta is None else format_seconds(eta)
        return (
            f"{self.label}: {self.steps_done}/{self.total_steps} {self.unit}, {self.rows:,} rows, "
            f"{rate:,.0f} rows/s, elapsed {format_seconds(elapsed)}, ETA {eta_text}"
        )


def format_seconds(seconds: float) -> str:
    """3.2s, 4m05s or 1h02m: short enough for a log line."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
