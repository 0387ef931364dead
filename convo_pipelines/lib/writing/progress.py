"""Progress lines for long work done in steps: steps done, rows, rate, elapsed time and ETA.

The one progress mechanism of the project: the link tables' chunks and batches, the histories' crews,
the demo seeder's chunks of conversations and the histories seeder's COPY loop all log through it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Progress:
    """Counts finished steps and rows and logs one line per step with the rate and the time left.

    `log` is any callable taking a message, e.g. `context.log.info` or `print`. The ETA assumes the
    steps left cost what the finished ones did on average. Steps finished less than `every_seconds`
    after the last line logged are counted in the next line instead (the last step always logs):
    hundreds of short steps would otherwise bury a run's log.

    Work counted row by row (a COPY loop) calls `add_rows` for each row: a step then ends every
    `rows_per_step` rows, and `finish` logs the last, partial one (see `in_chunks_of_rows`).
    """

    def __init__(
        self,
        log: Callable[[str], object],
        label: str,
        total_steps: int,
        unit: str = "chunks",
        clock: Callable[[], float] = time.perf_counter,
        rows_per_step: int | None = None,
        every_seconds: float = 0.0,
    ) -> None:
        self.log = log
        self.label = label
        self.total_steps = max(total_steps, 0)
        self.unit = unit
        self.clock = clock
        self.rows_per_step = rows_per_step
        self.every_seconds = every_seconds
        self.started = clock()
        self.logged_at: float | None = None
        self.steps_done = 0
        self.rows = 0
        self.pending_rows = 0

    @classmethod
    def in_chunks_of_rows(
        cls,
        log: Callable[[str], object],
        label: str,
        total_rows: int,
        rows_per_chunk: int,
        clock: Callable[[], float] = time.perf_counter,
    ) -> Progress:
        """Progress of `total_rows` rows counted one by one, a line every `rows_per_chunk` of them."""
        return cls(
            log,
            label,
            math.ceil(max(total_rows, 0) / rows_per_chunk),
            unit=f"chunks of {rows_per_chunk:,} rows",
            clock=clock,
            rows_per_step=rows_per_chunk,
        )

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
        """Record `steps` finished steps that handled `rows` rows, log the progress line (unless one was logged less
        than `every_seconds` ago and steps remain) and return it."""
        self.steps_done += steps
        self.rows += rows
        message = self.describe()
        now = self.clock()
        last_step = self.steps_done >= self.total_steps
        if last_step or self.logged_at is None or now - self.logged_at >= self.every_seconds:
            self.log(message)
            self.logged_at = now
        return message

    def add_rows(self, rows: int = 1) -> None:
        """Count rows of the current step; the step ends (one line) once it holds `rows_per_step` rows."""
        self.pending_rows += rows
        if self.rows_per_step is not None and self.pending_rows >= self.rows_per_step:
            self.advance(self.pending_rows)
            self.pending_rows = 0

    def finish(self) -> None:
        """End the last step if rows are counted in it and not logged yet."""
        if self.pending_rows:
            self.advance(self.pending_rows)
            self.pending_rows = 0

    def describe(self) -> str:
        elapsed = self.elapsed
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        eta = self.eta_seconds()
        eta_text = "unknown" if eta is None else format_seconds(eta)
        return (
            f"{self.label}: {self.steps_done:,}/{self.total_steps:,} {self.unit}, {self.rows:,} rows, "
            f"{rate:,.0f} rows/s, elapsed {format_seconds(elapsed)}, ETA {eta_text}"
        )


def format_seconds(seconds: float) -> str:
    """3.2s, 4m05s or 1h02m: short enough for a log line."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
