"""What a fill with the logical subscriber attached measured (bench_replication.py): the lag samples taken
during the fill, their peaks, and the figures the report keeps."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class LagSample:
    moment: float  # time.perf_counter()
    wal_bytes: int  # the upstream's WAL position
    confirmed_bytes: int  # what the subscriber confirmed it applied and flushed


def peak_lag_seconds(samples: list[LagSample]) -> float:
    """The longest the subscriber's copy was behind: at each sample, the time since the upstream's WAL last stood at or
    before what the subscriber had confirmed (0 when it had confirmed everything)."""
    peak = 0.0
    for index, sample in enumerate(samples):
        caught_up_to = (
            earlier.moment for earlier in reversed(samples[: index + 1]) if earlier.wal_bytes <= sample.confirmed_bytes
        )
        as_of = next(caught_up_to, samples[0].moment)
        peak = max(peak, sample.moment - as_of)
    return peak


def peak_lag_bytes(samples: list[LagSample]) -> int:
    """The most WAL the upstream had written that the subscriber had not confirmed."""
    return max((max(sample.wal_bytes - sample.confirmed_bytes, 0) for sample in samples), default=0)


@dataclass(frozen=True)
class ReplicationFigures:
    """One fill with the subscriber attached: its lag during the fill, its catch-up after, its errors, the copies compared."""

    label: str
    # From the fill's end until the slot confirmed the upstream's WAL position then; None: not caught up (see failure).
    catch_up_seconds: float | None
    peak_lag_seconds: float
    peak_lag_mb: float
    # WAL the upstream wrote from the subscription's start to the fill's end: what the subscriber's sender decoded.
    fill_wal_mb: float
    lag_samples: int
    apply_errors: int
    # Per published table: rows upstream and on the subscriber, and whether every row is the same.
    tables: dict[str, dict[str, object]] = field(default_factory=dict)
    failure: str | None = None

    @property
    def tables_equal(self) -> bool:
        return bool(self.tables) and all(table["equal"] for table in self.tables.values())

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "tables_equal": self.tables_equal}

    def summary(self) -> str:
        catch_up = (
            "NOT caught up"
            if self.catch_up_seconds is None
            else f"caught up {self.catch_up_seconds:.2f} s after the run"
        )
        rows = ", ".join(
            f"{table} {figures['subscriber_rows']:,}/{figures['upstream_rows']:,}"
            for table, figures in self.tables.items()
        )
        return (
            f"  subscriber, {self.label}: {catch_up}; peak lag {self.peak_lag_seconds:.2f} s, {self.peak_lag_mb:.0f} MB of WAL; "
            f"apply errors {self.apply_errors}; tables {'equal' if self.tables_equal else 'DIFFERENT'} ({rows})"
            + (f"; {self.failure}" if self.failure else "")
        )
