"""The performance aims (the *_AIM constants) and a one-line verdict per aim for a bench run, each judged only on
figures from that run; the aims against the peers it timed and Dagster's share are in bench_peer_verdicts, those
against the read side in bench_read_side_verdicts."""

from __future__ import annotations

from collections.abc import Callable

from convo_benchmarks.bench_format import Run, Verdict, maximum, median, megabytes, minimum, peak_rss, seconds
from convo_benchmarks.bench_peer_verdicts import (
    dagster_share,
    first_fill_steps,
    first_fill_steps_dbt,
    first_fill_wal,
    first_fill_whole_dbt,
    matview_ratio,
    scoped_run_dagster_wall,
)
from convo_benchmarks.bench_read_side_verdicts import (
    catch_up_read_side,
    first_fill_read_side,
    nightly_read_side,
    rerun_read_side,
)
from convo_pipelines_tests.app_workload_threads import LINK_TABLE_READS

BACKFILL_SECONDS_AIM = 60.0
SEEDS_RATIO_AIM = 5.0
LATE_CHANGE_SECONDS_AIM = 0.050
CHECKS_SHARE_AIM = 0.5
# Each kind of run whose checks are timed: the key of its SQL figure, and of its checks' (`<key>_checks_sql`).
CHECKED_RUNS = {
    "full_backfill": "first full backfill",
    "rerun": "re-run",
    "one_day": "one-day partition",
    "scoped": "the sensor's scoped run",
    "project_reconcile": "project reconcile",
    "project_scoped": "the sensor's scoped project run",
    "histories_full_backfill": "histories backfill",
    "histories_rerun": "histories re-run",
    "tick": "discovery tick",
    "discovery_tick_1000_crews": "discovery tick over 1,000 crews",
}
TICK_SECONDS_AIM = 0.050
MANY_CREWS_TICK_SECONDS_AIM = 1.0
READ_P95_MS_AIM = 2.0
READ_SPEEDUP_AIM = 20.0
PEAK_RSS_MB_AIM = 300.0
APP_OVER_BASELINE_MS_AIM = 100.0
APP_LINK_READ_P99_MS_AIM = 50.0
SENSOR_TICK_SECONDS_AIM = 0.050
FRESHNESS_P95_SECONDS_AIM = 30.0
# The app's users see a change on their screens (a Zero client's live query) within this, at p95.
CLIENT_FRESHNESS_P95_SECONDS_AIM = 10.0
# An agent's new chat session is right in conversation_summaries within this, at p95 (1,000 crews).
DISCOVERY_FRESHNESS_P95_SECONDS_AIM = 15.0


def verdicts(run: Run) -> list[Verdict]:
    """One verdict per performance aim (the *_AIM constants, set for 1,000,000 conversations and 10,000,000 history rows)."""
    return [check(run) for check in AIM_CHECKS]


def _backfill_time(run: Run) -> Verdict:
    aim = f"first full backfill of the Front link tables under {BACKFILL_SECONDS_AIM:.0f} s (SQL + Dagster overhead)"
    sql_seconds, overhead = median(run, "full_backfill_sql"), median(run, "full_backfill_overhead")
    if sql_seconds is None or overhead is None:
        return Verdict(aim, None, "no backfill measured")
    total = sql_seconds + overhead
    return Verdict(
        aim,
        total < BACKFILL_SECONDS_AIM,
        f"{seconds(total)} ({seconds(sql_seconds)} SQL + {seconds(overhead)} Dagster)",
    )


def _backfill_ratio(run: Run) -> Verdict:
    aim = f"first full backfill at least {SEEDS_RATIO_AIM:.0f}x faster than the seeds' batches of 500"
    ours, seeds = median(run, "full_backfill_sql"), median(run, "seeds_batches")
    if ours is None or seeds is None:
        return Verdict(aim, None, "the seeds' batches were skipped")
    ratio = seeds / ours
    return Verdict(aim, ratio >= SEEDS_RATIO_AIM, f"{ratio:.1f}x ({seconds(seeds)} against {seconds(ours)} of SQL)")


def _late_change(run: Run) -> Verdict:
    aim = f"a late change on an old day (the sensor's scoped run) under {LATE_CHANGE_SECONDS_AIM * 1000:.0f} ms of SQL"
    scoped = median(run, "scoped_sql")
    if scoped is None:
        return Verdict(aim, None, "no scoped run measured")
    return Verdict(aim, scoped < LATE_CHANGE_SECONDS_AIM, f"{seconds(scoped)}")


def _checks_share(run: Run) -> Verdict:
    aim = f"the checks of every kind of run cost at most {CHECKS_SHARE_AIM:.1f}x that run's SQL"
    shares = {
        label: (checks, sql_time)
        for key, label in CHECKED_RUNS.items()
        if (checks := median(run, f"{key}_checks_sql")) is not None
        and (sql_time := median(run, f"{key}_sql")) is not None
        and sql_time > 0
    }
    if not shares:
        return Verdict(aim, None, "no checks timed")
    listing = ", ".join(
        f"{label} {checks / sql_time:.2f}x ({seconds(checks)})" for label, (checks, sql_time) in shares.items()
    )
    met = all(checks <= CHECKS_SHARE_AIM * sql_time for checks, sql_time in shares.values())
    return Verdict(aim, met, listing)


def _tick(run: Run) -> Verdict:
    aim = f"discovery tick with 10 new sessions under {TICK_SECONDS_AIM * 1000:.0f} ms of SQL"
    tick, overhead = median(run, "tick_sql"), median(run, "tick_overhead")
    if tick is None:
        return Verdict(aim, None, "no discovery tick with 10 new sessions measured")
    return Verdict(
        aim, tick < TICK_SECONDS_AIM, f"{seconds(tick)} of SQL; Dagster overhead apart: {seconds(overhead or 0.0)}"
    )


def _many_crews_tick(run: Run) -> Verdict:
    aim = f"discovery tick over 1,000 crews (a few with a new session) under {MANY_CREWS_TICK_SECONDS_AIM:.0f} s of SQL"
    key = "discovery_tick_1000_crews_sql"
    tick = median(run, key)
    if tick is None:
        return Verdict(aim, None, "no tick over 1,000 crews measured")
    runs = run["measurements"][key]["runs"]
    peak = maximum(run, "discovery_tick_1000_crews_peak_rss")
    return Verdict(
        aim,
        tick < MANY_CREWS_TICK_SECONDS_AIM,
        f"median {seconds(tick)} of SQL over {runs} ticks (min {seconds(minimum(run, key))}, "
        f"max {seconds(maximum(run, key))})"
        + ("" if peak is None else f"; peak RSS of the run process {megabytes(peak)}"),
    )


def _read_p95(run: Run) -> Verdict:
    aim = f"read latency p95 under {READ_P95_MS_AIM:g} ms for every question, through the link tables"
    links = [row for row in run.get("reads", []) if row["path"] == "links"]
    if not links:
        return Verdict(aim, None, "no reads measured")
    slowest = max(links, key=lambda row: row["p95_ms"])
    met = all(row["p95_ms"] < READ_P95_MS_AIM for row in links)
    return Verdict(aim, met, f"slowest p95 {slowest['p95_ms']:.2f} ms ({slowest['label']})")


def _read_speedup(run: Run) -> Verdict:
    aim = f"read latency p95 at least {READ_SPEEDUP_AIM:.0f}x below the old joins, for every question"
    ratios = run.get("read_speedups", {})
    if not ratios:
        return Verdict(aim, None, "no reads measured")
    labels = {row["question"]: row["label"] for row in run.get("reads", [])}
    missed = {key: ratio for key, ratio in ratios.items() if ratio < READ_SPEEDUP_AIM}
    listing = ", ".join(f"{labels.get(key, key)} {ratio:.1f}x" for key, ratio in ratios.items())
    return Verdict(aim, not missed, listing)


def _peak_rss(run: Run) -> Verdict:
    aim = f"peak RSS of every run process under {PEAK_RSS_MB_AIM:.0f} MB"
    peak = peak_rss(run)
    if peak is None:
        return Verdict(aim, None, "no run measured")
    return Verdict(aim, peak < PEAK_RSS_MB_AIM, f"{peak:.0f} MB at most")


def _app_beside_runs(run: Run) -> Verdict:
    aim = f"longest app statement under baseline + {APP_OVER_BASELINE_MS_AIM:.0f} ms while each kind of run goes"
    beside = run.get("app_beside_runs", {})
    if not beside:
        return Verdict(aim, None, "no app workload measured")
    worst = max(beside.values(), key=lambda figures: figures["over_baseline_ms"])
    failed_runs = [figures["label"] for figures in beside.values() if figures.get("run_failure")]
    met = not failed_runs and all(
        figures["over_baseline_ms"] < APP_OVER_BASELINE_MS_AIM and not figures["errors"] for figures in beside.values()
    )
    failing = sum(sum(states.values()) for figures in beside.values() for states in figures["errors"].values())
    return Verdict(
        aim,
        met,
        f"worst beside the {worst['label']}: {worst['longest_statement_ms']:.1f} ms against {worst['baseline_longest_statement_ms']:.1f} ms "
        f"({worst['over_baseline_ms']:+.1f} ms); longest lock wait caused by the pipeline "
        f"{max(figures['longest_pipeline_wait_ms'] for figures in beside.values()):.1f} ms; {failing} app statements failed"
        + (f"; runs FAILED beside the app: {', '.join(failed_runs)}" if failed_runs else ""),
    )


def _app_link_reads(run: Run) -> Verdict:
    aim = f"the app's p99 of each link-table read under {APP_LINK_READ_P99_MS_AIM:.0f} ms beside each run"
    slowest = {
        figures["label"]: max(reads.items(), key=lambda read: read[1])
        for figures in run.get("app_beside_runs", {}).values()
        if (reads := _link_read_p99s(figures))
    }
    if not slowest:
        return Verdict(aim, None, "no app workload measured")
    met = all(p99 < APP_LINK_READ_P99_MS_AIM for _, p99 in slowest.values())
    listing = "; ".join(f"beside the {label}: {kind} {p99:.1f} ms" for label, (kind, p99) in slowest.items())
    return Verdict(aim, met, f"slowest p99 {listing}")


def _link_read_p99s(figures: dict[str, object]) -> dict[str, float]:
    """{read kind: p99 in ms} of the app's reads of the link tables beside one run."""
    statements = figures.get("workload", {}).get("statements", {})
    return {kind: stats["p99_ms"] for kind, stats in statements.items() if kind in LINK_TABLE_READS}


def _sensor_tick(run: Run) -> Verdict:
    aim = f"late-change tick finding 100 changes under {SENSOR_TICK_SECONDS_AIM * 1000:.0f} ms of SQL with the recommended indexes"
    indexed, bare = median(run, "sensor_tick_indexed_sql"), median(run, "sensor_tick_sql")
    if indexed is None or bare is None:
        return Verdict(aim, None, "no sensor tick measured")
    return Verdict(aim, indexed < SENSOR_TICK_SECONDS_AIM, f"{seconds(indexed)} with them, {seconds(bare)} without")


def _freshness(run: Run) -> Verdict:
    aim = (
        f"an app's change right in the link tables within {FRESHNESS_P95_SECONDS_AIM:.0f} s at p95, through the daemon"
    )
    return _p95_freshness(run, "freshness", aim, FRESHNESS_P95_SECONDS_AIM, "no freshness measured")


def _client_freshness(run: Run) -> Verdict:
    aim = f"an app's change in a Zero client's live query within {CLIENT_FRESHNESS_P95_SECONDS_AIM:.0f} s at p95"
    return _p95_freshness(
        run, "client_freshness", aim, CLIENT_FRESHNESS_P95_SECONDS_AIM, "no client freshness measured"
    )


def _discovery_freshness(run: Run) -> Verdict:
    aim = f"an agent's new chat session right in conversation_summaries within {DISCOVERY_FRESHNESS_P95_SECONDS_AIM:.0f} s at p95, 1,000 crews"
    return _p95_freshness(
        run, "discovery_freshness", aim, DISCOVERY_FRESHNESS_P95_SECONDS_AIM, "no discovery freshness measured"
    )


def _p95_freshness(run: Run, prefix: str, aim: str, aim_seconds: float, missing: str) -> Verdict:
    """A freshness aim on `<prefix>_p95`, shown with its p50 and max and, where recorded, its parts' p95."""
    p50, p95, worst = (median(run, f"{prefix}_{name}") for name in ("p50", "p95", "max"))
    if p95 is None:
        return Verdict(aim, None, missing)
    figures = ", ".join(
        f"{name} {seconds(value)}" for name, value in (("p50", p50), ("p95", p95), ("max", worst)) if value is not None
    )
    return Verdict(aim, p95 <= aim_seconds, figures + _parts_p95(run, prefix))


def _parts_p95(run: Run, prefix: str) -> str:
    """The p95 of each part a freshness figure recorded (bench_parts.py), or "" for a run that recorded none."""
    ending = "_p95"
    start = f"{prefix}_part_"
    parts = {
        key[len(start) : -len(ending)]: median(run, key)
        for key in run["measurements"]
        if key.startswith(start) and key.endswith(ending)
    }
    if not parts:
        return ""
    return "; parts' p95: " + ", ".join(f"{part} {seconds(value)}" for part, value in parts.items())


AIM_CHECKS: tuple[Callable[[Run], Verdict], ...] = (
    _backfill_time,
    _backfill_ratio,
    matview_ratio,
    first_fill_read_side,
    rerun_read_side,
    catch_up_read_side,
    nightly_read_side,
    _late_change,
    _checks_share,
    _tick,
    _many_crews_tick,
    _read_p95,
    _read_speedup,
    _peak_rss,
    _app_beside_runs,
    _app_link_reads,
    _sensor_tick,
    _freshness,
    _client_freshness,
    _discovery_freshness,
    dagster_share,
    scoped_run_dagster_wall,
    first_fill_steps,
    first_fill_wal,
    first_fill_steps_dbt,
    first_fill_whole_dbt,
)
