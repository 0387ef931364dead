"""The performance aims that compare a bench run with the peers it timed beside it (a materialized view, dbt) and
Dagster's own share of a run, each judged only on figures from that run."""

from __future__ import annotations

from convo_benchmarks.bench_format import Run, Verdict, median, seconds

MATVIEW_RATIO_AIM = 1.5
# Dagster's own share, as it reports the run (the process's start apart): beyond a scoped run's SQL, and of a first fill.
SCOPED_RUN_BEYOND_SQL_SECONDS_AIM = 2.5
FIRST_FILL_STEPS_MATVIEW_RATIO_AIM = 1.5
# The WAL the first fill writes (what every replica and Zero replay) against the materialized views' build's.
FIRST_FILL_WAL_MATVIEW_RATIO_AIM = 1.5


def matview_ratio(run: Run) -> Verdict:
    return _against_matview(run, "full_backfill_sql", "first full backfill's SQL", MATVIEW_RATIO_AIM)


def _against_matview(run: Run, key: str, what: str, ratio_aim: float) -> Verdict:
    """The verdict on `what` (the figure `key`) being at most `ratio_aim` times the materialized views' build."""
    aim = f"{what} at most {ratio_aim:.1f}x a materialized view of the same joins built in the same run"
    ours, matview = median(run, key), median(run, "matview_build")
    if ours is None or matview is None:
        return Verdict(aim, None, "no materialized view built" if ours is not None else f"no {key} measured")
    ratio = ours / matview
    return Verdict(aim, ratio <= ratio_aim, f"{ratio:.2f}x ({seconds(ours)} against {seconds(matview)})")


def scoped_run_dagster_wall(run: Run) -> Verdict:
    aim = (
        f"a scoped late-change run, RUN_START to RUN_SUCCESS, at most {SCOPED_RUN_BEYOND_SQL_SECONDS_AIM:.1f} s more "
        "than its SQL (its assets' and its checks')"
    )
    wall, assets, checks = (
        median(run, "scoped_run_dagster_wall"),
        median(run, "scoped_sql"),
        median(run, "scoped_checks_sql") or 0.0,
    )
    if wall is None or assets is None:
        return Verdict(aim, None, "no scoped run timed as Dagster reports it")
    beyond = wall - assets - checks
    return Verdict(
        aim,
        beyond <= SCOPED_RUN_BEYOND_SQL_SECONDS_AIM,
        f"{seconds(beyond)} beyond the SQL ({seconds(wall)} against {seconds(assets + checks)})",
    )


def first_fill_steps(run: Run) -> Verdict:
    return _against_matview(
        run,
        "full_backfill_steps",
        "first full backfill's asset steps, STEP_START to STEP_SUCCESS,",
        FIRST_FILL_STEPS_MATVIEW_RATIO_AIM,
    )


def first_fill_wal(run: Run) -> Verdict:
    aim = f"first full backfill's WAL at most {FIRST_FILL_WAL_MATVIEW_RATIO_AIM:.1f}x the materialized views' build's, same run"
    ours, matview = median(run, "full_backfill_wal"), median(run, "matview_build_wal")
    if ours is None or matview is None:
        return Verdict(aim, None, "no WAL of both measured")
    ratio = ours / matview
    finding = f"{ratio:.2f}x ({ours:.1f} MB against {matview:.1f} MB"
    entries = median(run, "full_backfill_wal_index_entries"), median(run, "matview_build_wal_index_entries")
    if None not in entries:
        finding += f"; of it, index entries: {entries[0]:.1f} MB against {entries[1]:.1f} MB"
    return Verdict(aim, ratio <= FIRST_FILL_WAL_MATVIEW_RATIO_AIM, finding + ")")


def first_fill_steps_dbt(run: Run) -> Verdict:
    aim = (
        "first full backfill's asset steps, STEP_START to STEP_SUCCESS, below the first build of dbt incremental "
        "models of the same joins (the models' own time), same run"
    )
    return _below_dbt(run, aim, "full_backfill_steps", "dbt_build")


def first_fill_whole_dbt(run: Run) -> Verdict:
    aim = (
        "first full backfill's whole `dagster asset materialize` below the whole `dbt run` of that first build "
        "(process starts included), same run"
    )
    return _below_dbt(run, aim, "full_backfill_whole", "dbt_build_whole")


def _below_dbt(run: Run, aim: str, key: str, dbt_key: str) -> Verdict:
    """The verdict on the figure `key` being below dbt's `dbt_key` of the same run."""
    ours, theirs = median(run, key), median(run, dbt_key)
    if ours is None:
        return Verdict(aim, None, f"no {key} measured")
    if theirs is None:
        reason = run.get("left_out", {}).get("dbt")
        return Verdict(aim, None, f"dbt left out: {reason}" if reason else "no dbt build measured")
    return Verdict(aim, ours < theirs, f"{ours / theirs:.2f}x ({seconds(ours)} against {seconds(theirs)})")


def dagster_share(run: Run) -> Verdict:
    aim = "Dagster's share around a scoped run and a discovery tick smaller on the project's storage than on dagster-postgres' stock one"
    pairs = {
        "scoped run": (median(run, "scoped_overhead"), median(run, "scoped_stock_overhead")),
        "discovery tick": (median(run, "tick_overhead"), median(run, "tick_stock_overhead")),
    }
    measured = {label: pair for label, pair in pairs.items() if None not in pair}
    if not measured:
        return Verdict(aim, None, "not measured on both storages")
    listing = ", ".join(
        f"{label} {seconds(ours)} against {seconds(stock)}" for label, (ours, stock) in measured.items()
    )
    return Verdict(aim, all(ours < stock for ours, stock in measured.values()), listing)
