"""What `convo-pipelines bench` says of a run: its verdicts on the aims (the many crews' tick, the runs against the read
side, the app's reads beside them) and its description (code measured, settings, the app's part)."""

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
    # Without `rerun_after_app_sql`, the first re-run took in the app's writes, and the description says how many.
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


def test_the_catch_up_and_the_nightly_reconcile_are_held_to_their_share_of_the_read_side() -> None:
    def figure(value: float) -> dict[str, float]:
        return {"median": value, "min": value, "max": value, "runs": 1}

    def verdict_of(kind: str, **seconds: float) -> str:
        run = {"measurements": {key: figure(value) for key, value in {"read_side": 10.0, **seconds}.items()}}
        [line] = [verdict.line() for verdict in verdicts(run) if verdict.aim.startswith(kind)]
        return line

    assert verdict_of("catch-up", rerun_after_app_sql=20.0).startswith("MET ")
    assert verdict_of("catch-up", rerun_after_app_sql=20.5).startswith("MISSED ")
    assert verdict_of("catch-up").startswith("NOT MEASURED ")
    # The nightly reconcile is both runs together: each within 1.5x alone, their sum is not.
    nightly = verdict_of("nightly", rerun_sql=12.0, project_reconcile_sql=4.0)
    assert nightly.startswith("MISSED ")
    assert nightly.endswith("16.00 s = 1.60x the read side (10.00 s)")
    assert verdict_of("nightly", rerun_sql=12.0, project_reconcile_sql=3.0).startswith("MET ")
    assert verdict_of("nightly", rerun_sql=12.0).startswith("NOT MEASURED ")


def test_the_apps_reads_of_the_link_tables_are_held_under_50_ms_at_p99_beside_every_run() -> None:
    def beside(label: str, **p99_ms: float) -> dict[str, object]:
        statements = {kind: {"p99_ms": value} for kind, value in p99_ms.items()}
        longest = {"longest_statement_ms": 1.0, "baseline_longest_statement_ms": 1.0, "over_baseline_ms": 0.0}
        return {
            "label": label,
            **longest,
            "longest_pipeline_wait_ms": 0.0,
            "errors": {},
            "workload": {"statements": statements},
        }

    def link_reads_verdict(*runs: dict[str, object]) -> str:
        run = {"measurements": {}, "app_beside_runs": {str(at): figures for at, figures in enumerate(runs)}}
        [line] = [verdict.line() for verdict in verdicts(run) if "link-table read" in verdict.aim]
        return line

    fill = beside("first fill", read_person_newest_conversations=49.0, read_conversation_people=3.0, read_person=900.0)
    # A slow read of a source table alone (read_person) is not a read of the link tables.
    assert link_reads_verdict(fill).startswith("MET ")
    slow = link_reads_verdict(fill, beside("re-run", read_project_conversations=51.0))
    assert slow.startswith("MISSED ")
    assert "beside the first fill: read_person_newest_conversations 49.0 ms" in slow
    assert "beside the re-run: read_project_conversations 51.0 ms" in slow
    assert link_reads_verdict().startswith("NOT MEASURED ")
