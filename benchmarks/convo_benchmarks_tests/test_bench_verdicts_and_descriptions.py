"""What the performance page says of a bench run: its verdicts on the aims (the many crews' tick, the
scale from one size to ten times it) and its description (code measured, settings, the app's part)."""

from __future__ import annotations

from convo_benchmarks.bench_tables import describe_data
from convo_benchmarks.bench_verdicts import scale_verdicts, verdicts


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
    # Before bench_rerun_after_app, the first re-run took in the app's writes, and the page says how many.
    del run["measurements"]["rerun_after_app_sql"]
    assert "its re-run took in what the app wrote meanwhile (5 rows written)" in describe_data(run)


def test_each_run_on_the_page_says_which_code_it_measured() -> None:
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


def test_the_scale_verdict_compares_first_fills_of_the_same_shape_ten_times_apart() -> None:
    def run(conversations: int, fill_seconds: float, max_messages: int | None = 3, only: str = "") -> dict:
        figure = {"median": fill_seconds, "min": fill_seconds, "max": fill_seconds, "runs": 1}
        shape = {} if max_messages is None else {"max_messages": max_messages}
        return {
            "conversations": conversations,
            "only": only,
            "measurements": {"full_backfill_sql": figure},
            "machine": {"platform": "Linux-vm1"},
            **shape,
        }

    small, large = run(1_000_000, 100.0), run(10_000_000, 1050.0)
    demo_small, other_only = run(1_000_000, 50.0, max_messages=None), run(1_000_000, 10.0, only="freshness")
    [(small_title, large_title, verdict)] = scale_verdicts([demo_small, small, other_only, large])
    assert (small_title, large_title) == (
        "1,000,000 conversations, 1-3 messages each",
        "10,000,000 conversations, 1-3 messages each",
    )
    assert verdict.line().startswith("MET ") and "10.50x (1050.00 s against 100.00 s)" in verdict.line()
    [(_, _, missed)] = scale_verdicts([small, run(10_000_000, 1150.0)])
    assert missed.line().startswith("MISSED ")
    assert scale_verdicts([demo_small, large]) == []
    # Runs of different commits, or of a checkout with changes, give no verdict: they measured different code.
    [(_, _, other_code)] = scale_verdicts([{**small, "revision": "abc"}, large])
    assert other_code.line().startswith("NOT MEASURED ") and "the two runs measured different code" in other_code.line()
    [(_, _, changed)] = scale_verdicts([{**small, "revision": "abc+changes"}, {**large, "revision": "abc+changes"}])
    assert changed.line().startswith("NOT MEASURED ")
    [(_, _, same)] = scale_verdicts([{**small, "revision": "abc"}, {**large, "revision": "abc"}])
    assert same.line().startswith("MET ") and "different machines" not in same.line()
    # Nor do runs on two machines of one shape, whose speed differs.
    [(_, _, elsewhere)] = scale_verdicts([small, {**large, "machine": {"platform": "Linux-vm2"}}])
    assert elsewhere.line().startswith("NOT MEASURED ") and "ran on different machines" in elsewhere.line()
    # A first fill timed beside the app workload pairs only with another timed so: the app's writes slow it.
    beside = {"first_fill_beside_app": True}
    assert [verdict.figure for _, _, verdict in scale_verdicts([{**small, **beside}, small, {**large, **beside}])] == [
        "10.50x (1050.00 s against 100.00 s)"
    ]
    # A run on a server set otherwise pairs with its own kind only: each pair is judged on one setting.
    tuned = {"platform": "Linux-vm1", "server_settings": {"shared_buffers": "6GB"}}
    small_tuned, large_tuned = {**small, "machine": tuned}, {**run(10_000_000, 900.0), "machine": tuned}
    pairs = scale_verdicts([small, large, small_tuned, large_tuned])
    assert [(verdict.line().split()[0], verdict.figure.split("x")[0]) for _, _, verdict in pairs] == [
        ("MET", "10.50"),
        ("MET", "9.00"),
    ]
