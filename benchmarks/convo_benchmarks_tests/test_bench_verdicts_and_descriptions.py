"""What `convo-pipelines bench` says of a run: its verdicts on the aims (the many crews' tick) and its description
(code measured, settings, the app's part)."""

from __future__ import annotations

from convo_benchmarks.bench_tables import describe_data
from convo_benchmarks.bench_verdicts import verdicts


def test_the_many_crews_verdict_compares_the_median_tick_with_one_second() -> None:
    def crews_verdict(median: float | None) -> str:
        figure = {"median": median, "min": (median or 0) / 2, "max": (median or 0) * 2, "runs": 3}
        run = {"measurements": {} if median is None else {"discovery_tick_1000_crews_sql": figure}}
        [line] = [verdict.line() for verdict in verdicts(run) if "discovery tick over 1,000 crews" in verdict.aim]
        return line

    assert crews_verdict(0.4).startswith("MET ")
    assert "median 400.0 ms of SQL over 3 ticks (min 200.0 ms, max 800.0 ms)" in crews_verdict(0.4)
    assert crews_verdict(1.2).startswith("MISSED ")
    assert crews_verdict(None).startswith("NOT MEASURED ")


def test_a_run_saved_before_the_apps_part_says_its_one_fill_has_no_app_figures() -> None:
    figure = {"median": 5.0, "min": 5.0, "max": 5.0, "runs": 1}
    run = {
        "conversations": 300,
        "days": 5,
        "counts": {},
        "max_messages": 3,
        "machine": {"platform": "Linux"},
        "first_fill_beside_app": True,
        "measurements": {"rerun_after_app_sql": figure, "rerun_rows_written": figure},
        "app_beside_runs": {},
    }
    assert "the run stopped before the app's part" in describe_data(run)
    assert "stopped" not in describe_data({**run, "app_beside_runs": {"first_fill": {}}})
    # Before bench_rerun_after_app, the first re-run took in the app's writes, and the description says how many.
    del run["measurements"]["rerun_after_app_sql"]
    assert "its re-run took in what the app wrote meanwhile (5 rows written)" in describe_data(run)


def test_each_run_says_which_code_it_measured() -> None:
    machine = {"platform": "Linux-6.18-vm1"}
    run = {"conversations": 300, "days": 5, "counts": {}, "max_messages": 3, "measurements": {}, "machine": machine}
    commit = "3f176c414b6cdfbbb7d1e38e0854b6d445b249a0"
    assert describe_data({**run, "revision": commit}).endswith(
        "; measured the code of commit 3f176c414b on Linux-6.18-vm1"
    )
    changed = describe_data({**run, "revision": commit + "+changes"})
    assert changed.endswith("; measured the code of commit 3f176c414b with uncommitted changes on Linux-6.18-vm1")
    assert describe_data(run).endswith("; measured code older than the bench's record of its commit on Linux-6.18-vm1")


def test_a_run_on_a_server_the_bench_set_says_which_settings_it_set() -> None:
    machine = {
        "platform": "Linux-vm1",
        "server_settings_set_by_bench": {"shared_buffers": "6GB", "max_wal_size": "16GB"},
    }
    run = {"conversations": 300, "days": 5, "counts": {}, "max_messages": 3, "measurements": {}, "machine": machine}
    assert (
        "; on the embedded server set for the run to `max_wal_size` 16GB, `shared_buffers` 6GB (`--server-setting`)"
        in describe_data(run)
    )
    assert "--server-setting" not in describe_data({**run, "machine": {"platform": "Linux-vm1"}})
