"""The aims that hold each kind of Front run to the read side it cannot avoid: the join and DISTINCT of both link
tables as one SELECT, timed alone in the same run. A ratio inside one run stays true however fast the machine is
that day; the first fill's aim also bounds its seconds."""

from __future__ import annotations

from convo_benchmarks.bench_format import Run, Verdict, maximum, median, seconds

FIRST_FILL_READ_SIDE_RATIO_AIM = 2.0
FIRST_FILL_SQL_SECONDS_AIM = 40.0
CATCH_UP_READ_SIDE_RATIO_AIM = 2.0
NIGHTLY_READ_SIDE_RATIO_AIM = 1.5
RERUN_READ_SIDE_RATIO_AIM = 1.5

# The SQL figures each kind of run adds up to: the nightly reconcile is the re-run of every day and the project
# table's reconcile, both with nothing changed.
CATCH_UP_KEYS = ("rerun_after_app_sql",)
NIGHTLY_KEYS = ("rerun_sql", "project_reconcile_sql")


def first_fill_read_side(run: Run) -> Verdict:
    aim = (
        f"first full backfill's SQL under {FIRST_FILL_SQL_SECONDS_AIM:.0f} s and at most "
        f"{FIRST_FILL_READ_SIDE_RATIO_AIM:.0f}x the read side alone"
    )
    ratio = _ratio_to_read_side(run, ("full_backfill_sql",))
    if ratio is None:
        return Verdict(aim, None, "no backfill measured")
    ours, read_side, times = ratio
    met = ours < FIRST_FILL_SQL_SECONDS_AIM and times <= FIRST_FILL_READ_SIDE_RATIO_AIM
    return Verdict(aim, met, _against_read_side(ours, read_side, times))


def catch_up_read_side(run: Run) -> Verdict:
    aim = f"catch-up re-run at most {CATCH_UP_READ_SIDE_RATIO_AIM:.1f}x the read side alone"
    return _within_read_side(run, aim, CATCH_UP_KEYS, CATCH_UP_READ_SIDE_RATIO_AIM, "no catch-up re-run measured")


def nightly_read_side(run: Run) -> Verdict:
    aim = f"nightly reconcile at most {NIGHTLY_READ_SIDE_RATIO_AIM:.1f}x the read side alone"
    return _within_read_side(run, aim, NIGHTLY_KEYS, NIGHTLY_READ_SIDE_RATIO_AIM, "no nightly reconcile measured")


def rerun_read_side(run: Run) -> Verdict:
    aim = f"re-run with nothing changed writes 0 rows in at most {RERUN_READ_SIDE_RATIO_AIM:.1f}x the read side alone"
    ratio, written = _ratio_to_read_side(run, ("rerun_sql",)), maximum(run, "rerun_rows_written")
    if ratio is None or written is None:
        return Verdict(aim, None, "no re-run measured")
    ours, read_side, times = ratio
    met = written == 0 and times <= RERUN_READ_SIDE_RATIO_AIM
    return Verdict(aim, met, f"{written:.0f} rows, {_against_read_side(ours, read_side, times)}")


def _within_read_side(run: Run, aim: str, keys: tuple[str, ...], ratio_aim: float, missing: str) -> Verdict:
    ratio = _ratio_to_read_side(run, keys)
    if ratio is None:
        return Verdict(aim, None, missing)
    ours, read_side, times = ratio
    return Verdict(aim, times <= ratio_aim, _against_read_side(ours, read_side, times))


def _ratio_to_read_side(run: Run, keys: tuple[str, ...]) -> tuple[float, float, float] | None:
    """(the sum of the medians of `keys`, the read side's median, their ratio), or None when any is missing."""
    figures = [median(run, key) for key in keys]
    read_side = median(run, "read_side")
    if not read_side or any(figure is None for figure in figures):
        return None
    ours = sum(figures)
    return ours, read_side, ours / read_side


def _against_read_side(ours: float, read_side: float, times: float) -> str:
    return f"{seconds(ours)} = {times:.2f}x the read side ({seconds(read_side)})"
