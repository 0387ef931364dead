"""One bench run as Markdown, as `convo-pipelines bench` prints it: what it seeded and on which code, every
measurement, the reads, the app beside each run, the logical subscriber, the sizes and the verdicts."""

from __future__ import annotations

from collections.abc import Sequence

from convo_benchmarks.bench_format import NOT_MEASURED, Run, demo_shape, format_figure, median, megabytes, seconds
from convo_benchmarks.bench_verdicts import verdicts
from convo_pipelines_tests.app_workload_report import wait_shares


def format_run(run: Run) -> str:
    """One run as Markdown: what was seeded, every measurement, the reads, the sizes, the verdicts."""
    lines = [describe_data(run), "", "| measurement | median | min | max | runs |", "|---|---:|---:|---:|---:|"]
    for row in run["measurements"].values():
        unit = row["unit"]
        lines.append(
            f"| {row['name']} | {format_figure(row['median'], unit)} | {format_figure(row['min'], unit)} | "
            f"{format_figure(row['max'], unit)} | {row['runs']} |"
        )
    if run.get("reads"):
        lines += ["", *read_table([run], [""])]
    if run.get("app_beside_runs"):
        lines += ["", *app_table(run)]
    if run.get("replication"):
        lines += ["", *replication_table(run)]
    lines += ["", "| table | heap MB | indexes MB |", "|---|---:|---:|"]
    lines += [
        f"| {size['schema']}.{size['table']} | {size['table_mb']} | {size['index_mb']} |" for size in run["sizes"]
    ]
    lines += ["", "```", *(verdict.line() for verdict in verdicts(run)), "```"]
    return "\n".join(lines)


def app_table(run: Run) -> list[str]:
    """Per run kind: the app's longest statement beside it, the baseline's, the difference, the pipeline's longest
    lock wait, what the app's running statements waited on, and the WAL and checkpoints the run brought."""
    lines = [
        "| app beside (ms) | run | longest statement | baseline | over baseline | longest lock wait caused by the pipeline "
        "| app errors | exclusive locks on source tables | app statements running, by wait | WAL written, checkpoints requested |",
        "|---|---|---:|---:|---:|---:|---|---|---|---|",
    ]
    for figures in run["app_beside_runs"].values():
        errors = sum(sum(states.values()) for states in figures["errors"].values())
        locks = "; ".join(
            f"{table} {', '.join(modes)}" for table, modes in figures["exclusive_locks_on_source_tables"].items()
        )
        lines.append(
            f"| app beside the {figures['label']} | {'FAILED' if figures.get('run_failure') else 'ok'} | "
            f"{figures['longest_statement_ms']:.1f} | {figures['baseline_longest_statement_ms']:.1f} | "
            f"{figures['over_baseline_ms']:+.1f} | {figures['longest_pipeline_wait_ms']:.1f} | {errors or 'none'} | {locks or 'none'} | "
            f"{wait_shares(figures['workload']['app_wait_samples']) or '-'} | "
            f"{figures['wal_written_mb']:,.0f} MB, {figures['checkpoints_requested']} |"
        )
    return lines


def replication_table(run: Run) -> list[str]:
    """Per first fill with the logical subscriber attached: its catch-up after the fill's run, its peak lag during the
    fill, the WAL the upstream wrote meanwhile, its apply errors, whether its copies equal the upstream's; then failures."""
    lines = [
        "| logical subscriber, per first fill | catch-up after the run | peak lag during the fill | peak WAL unconfirmed "
        "| WAL written during the fill | apply errors | link tables equal (rows) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    failures = []
    for fill in run["replication"]:
        catch_up = "not caught up" if fill["catch_up_seconds"] is None else seconds(fill["catch_up_seconds"])
        rows = " + ".join(f"{table['subscriber_rows']:,}" for table in fill["tables"].values())
        lines.append(
            f"| {fill['label']} | {catch_up} | {seconds(fill['peak_lag_seconds'])} | {megabytes(fill['peak_lag_mb'])} | "
            f"{megabytes(fill['fill_wal_mb'])} | {fill['apply_errors']} | {'yes' if fill['tables_equal'] else 'NO'} ({rows}) |"
        )
        if fill.get("failure"):
            failures.append(f"- {fill['label']}: {fill['failure']}")
    return lines + (["", *failures] if failures else [])


def describe_data(run: Run) -> str:
    counts = run["counts"]
    text = (
        f"{run['conversations']:,} conversations over {run['days']} days: "
        f"{counts.get('front_message_recipients', 0):,} recipients, "
        f"{counts.get('people_front_conversations', 0):,} people links, "
        f"{counts.get('clients_front_conversations', 0):,} client links"
    )
    if not demo_shape(run):
        text += f" (1 to {run['max_messages']} messages per conversation, `--max-messages`)"
    if run.get("history_rows"):
        text += (
            f"; {counts.get('histories_messages', 0):,} history rows in {counts.get('histories_chat_sessions', 0):,} "
            "chat sessions"
        )
        # Counted once the histories assets ran over them; a run of the crews' discovery alone leaves them unbuilt.
        if "histories_sessions" in counts:
            text += f" ({counts['histories_sessions']:,} session-days)"
    if "seed_many_crews" in run["measurements"]:
        text += "; then 1,000 more crews for the discovery ticks over 1,000 crews"
    if run.get("first_fill_beside_app"):
        text += "; its first fill timed once, beside the app workload (`--one-first-fill`)"
        rerun_rows = median(run, "rerun_rows_written")
        if "rerun_after_app_sql" not in run["measurements"] and rerun_rows:
            # A run without `rerun_after_app_sql`: its first re-run took in the app's writes.
            text += f", so its re-run took in what the app wrote meanwhile ({rerun_rows:,.0f} rows written)"
        if not run.get("app_beside_runs"):
            # What `bench --json` saved before the app's part (RUN.json.partial): the fill's app figures come there.
            text += "; the run stopped before the app's part, so neither that fill's app figures nor a baseline"
    if run.get("contenders") is False:
        text += "; no contenders (`--skip-contenders`)"
    for contender, reason in run.get("left_out", {}).items():
        text += f"; {contender} left out: {reason}"
    if set_by_bench := run["machine"].get("server_settings_set_by_bench"):
        shown = ", ".join(f"`{name}` {value}" for name, value in sorted(set_by_bench.items()))
        text += f"; on the embedded server set for the run to {shown} (`--server-setting`)"
    return f"{text}; {measured_code(run)} on {run['machine']['platform']}"


def measured_code(run: Run) -> str:
    """Which code a run measured: the last commit of the measured code (bench_records.MEASURED_PATHS) when it ran."""
    revision = run.get("revision", "")
    if not revision:
        return "measured code older than the bench's record of its commit"
    commit = revision.removesuffix("+changes")
    changes = " with uncommitted changes" if revision.endswith("+changes") else ""
    return f"measured the code of commit {commit[:10]}{changes}"


def read_table(runs: Sequence[Run], titles: Sequence[str]) -> list[str]:
    """p50 / p95 / p99 per question and path, one column group per run."""
    header = "| read (app side, ms) | " + " | ".join(f"{title} p50 / p95 / p99" for title in titles) + " |"
    lines = [header, "|---|" + "---:|" * len(runs)]
    keys = [(row["question"], row["path"], row["label"]) for row in runs[0].get("reads", [])]
    for question, path, label in keys:
        cells = []
        for run in runs:
            row = next((r for r in run.get("reads", []) if r["question"] == question and r["path"] == path), None)
            cells.append(
                NOT_MEASURED
                if row is None
                else f"{row['p50_ms']:.2f} / {row['p95_ms']:.2f} / {row['p99_ms']:.2f}"
                + ("" if row["ids"] >= 1000 else f" ({row['ids']} ids)")
            )
        way = "link table" if path == "links" else "old joins"
        lines.append(f"| {label}, {way} | " + " | ".join(cells) + " |")
    speedups = [run.get("read_speedups", {}) for run in runs]
    for question, path, label in keys:
        if path == "links":
            lines.append(
                f"| {label}: p95 speed-up | "
                + " | ".join(f"{s[question]:.1f}x" if question in s else NOT_MEASURED for s in speedups)
                + " |"
            )
    return lines
