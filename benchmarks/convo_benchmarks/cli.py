"""The `convo-pipelines` commands of the benchmarks: seed-demo, bench and bench-report.

Each add_* function is an entry point of the group convo_pipelines.commands (benchmarks/pyproject.toml):
the product's command line calls it with its subcommands, and prints a CliError as its one-line error.
The modules that do the work are imported when a command runs, so that `convo-pipelines --help` stays fast.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from convo_benchmarks.bench_server import server_setting
from convo_pipelines.cli.database import app_database
from convo_pipelines.cli.main import PROG, CliError, not_negative, positive, say
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.urls import redact_url
from convo_pipelines.lib.settings import Settings


def add_seed_demo(commands: argparse._SubParsersAction) -> None:
    seed = commands.add_parser("seed-demo", help="create the source tables and fill them with demo data")
    seed.add_argument(
        "--conversations",
        type=positive,
        default=5_000,
        help="Front conversations (and app conversations); default 5000",
    )
    seed.add_argument(
        "--days", type=positive, default=30, help="spread the conversations over the last DAYS days (UTC); default 30"
    )
    seed.add_argument("--seed", type=int, default=1, help="the same seed gives the same data; default 1")
    seed.add_argument(
        "--messages", type=not_negative, default=0, help="chat-history rows for the crews' histories tables; default 0"
    )
    add_max_messages(seed)
    seed.add_argument(
        "--end",
        type=timestamp,
        default=None,
        help="ISO timestamp the data ends at (default: now), for reproducible timestamps",
    )
    seed.add_argument("--append", action="store_true", help="add another batch even though the tables hold data")
    seed.set_defaults(handler=cmd_seed_demo)


def add_max_messages(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-messages",
        type=positive,
        default=None,
        help="messages per Front conversation are 1 to MAX_MESSAGES, evenly; default the demo's own shape (about 8 "
        "each); a low one makes a leaner demo, whose ten million conversations fit a disk",
    )


def add_bench(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench",
        help="seed a scratch database (or scratch schemas under DATABASE_URL) and measure the link tables and histories end to end",
    )
    bench.add_argument(
        "--conversations", type=positive, default=40_000, help="Front conversations to seed; default 40000"
    )
    bench.add_argument(
        "--history-rows",
        type=not_negative,
        default=None,
        help="chat-history rows to seed in 3 crews; default 10 per conversation, 0 skips the histories",
    )
    bench.add_argument("--days", type=positive, default=30, help="days the conversations span; default 30")
    add_max_messages(bench)
    bench.add_argument("--seed", type=int, default=1, help="seed of the demo data; default 1")
    bench.add_argument("--repeats", type=positive, default=3, help="runs per measurement (median, min, max); default 3")
    bench.add_argument("--skip-batches", action="store_true", help="skip the seeds' slow batch approach")
    contenders = bench.add_mutually_exclusive_group()
    contenders.add_argument(
        "--skip-contenders",
        action="store_true",
        help="skip the contenders (the plain floor, the materialized views, dbt, the seeds' batches): references to "
        "compare with, not the project's figures, that add most of an hour at 10,000,000 conversations",
    )
    contenders.add_argument(
        "--view-build-only",
        action="store_true",
        help="of the contenders, time only the materialized views' build, the peer the first fill's aim names: "
        "a few minutes at 10,000,000 conversations",
    )
    bench.add_argument(
        "--one-first-fill",
        action="store_true",
        help="time the Front links' first fill once, beside the app workload, instead of once alone and once "
        "beside the app (at 10,000,000 conversations a first fill takes most of an hour)",
    )
    bench.add_argument(
        "--read-ids", type=positive, default=1000, help="random ids per read-latency question; default 1000"
    )
    bench.add_argument(
        "--app-interval",
        type=positive_seconds,
        default=0.05,
        help="seconds between the app workload's statements of each kind, beside the runs and alone; default 0.05",
    )
    bench.add_argument(
        "--skip-replication",
        action="store_true",
        help="skip the logical subscriber (its catch-up after first fills, the app beside a first fill with it attached), "
        "which needs wal_level = logical",
    )
    bench.add_argument(
        "--freshness-samples",
        type=not_negative,
        default=4,
        help="app changes of each kind timed from commit to right link row, through the daemon; default 4, 0 skips",
    )
    only = bench.add_mutually_exclusive_group()
    only.add_argument(
        "--only-freshness",
        action="store_true",
        help="after the seed, measure only the freshness (the link tables are filled first)",
    )
    only.add_argument(
        "--only-crews",
        action="store_true",
        help="after the seed, measure only the discovery over 1,000 crews (a full discovery of today, then ticks), "
        "without a logical subscriber",
    )
    only.add_argument(
        "--only-discovery",
        action="store_true",
        help="after the seed, measure only how soon a new chat session is right in conversation_summaries, through "
        "the daemon's discovery sensor, with 1,000 crews (and the discovery sensor tick's SQL)",
    )
    bench.add_argument(
        "--server-setting",
        dest="server_settings",
        action="append",
        type=server_setting,
        default=[],
        metavar="NAME=VALUE",
        help="run the embedded PostgreSQL with this setting (ALTER SYSTEM, restarted, reset after), e.g. "
        "shared_buffers=6GB; repeatable; only on a server the bench starts; the report shows each run's settings",
    )
    bench.add_argument(
        "--json",
        dest="json_path",
        default=None,
        help="also write the figures to this JSON file (and, while the run goes, what it measured so far to "
        "RUN.json.partial, removed at the end)",
    )
    bench.set_defaults(handler=cmd_bench)


def add_bench_report(commands: argparse._SubParsersAction) -> None:
    bench_report = commands.add_parser("bench-report", help="render bench --json files as the docs' performance page")
    bench_report.add_argument("json_paths", nargs="+", metavar="RUN.json", help="bench --json files, a row each")
    bench_report.add_argument(
        "--page",
        default=None,
        help="write the page to this file (docs/performance.md), and its picture to images/ beside it, instead of "
        "printing the page",
    )
    bench_report.set_defaults(handler=cmd_bench_report)


# ---------------------------------------------------------------- commands


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from convo_pipelines.lib.embedded.demo_seed import SeedError, seed_demo

    settings = Settings.from_env()
    with app_database(settings, say=say) as url, connect(url) as conn:
        say(f"seeding {redact_url(url)}")
        try:
            counts = seed_demo(
                conn,
                source_schema=settings.source_schema,
                analytics_schema=settings.analytics_schema,
                conversations=args.conversations,
                days=args.days,
                seed=args.seed,
                messages=args.messages,
                max_messages=args.max_messages,
                append=args.append,
                end=args.end,
                report=say,
            )
        except SeedError as exc:
            raise CliError(str(exc)) from None
    for table, rows in counts.items():
        say(f"{table:<28} {rows:>12,}")
    return 0


def partial_path(json_path: str) -> Path:
    return Path(f"{json_path}.partial")


def partial_saver(json_path: str | None) -> Callable[[object], None] | None:
    """Writes the report so far beside `json_path`, so a run that fails after an hour keeps what it measured."""
    if not json_path:
        return None
    from convo_benchmarks.bench import write_json

    return lambda result: write_json(result, partial_path(json_path))


def cmd_bench(args: argparse.Namespace) -> int:
    from convo_benchmarks.bench import run_links_bench, write_json
    from convo_benchmarks.bench_replication import ReplicationError
    from convo_benchmarks.bench_runs import BenchError
    from convo_benchmarks.bench_server import ServerSettingError
    from convo_benchmarks.bench_tables import format_run

    settings = Settings.from_env()
    try:
        result = run_links_bench(
            command=shlex.join([PROG, *sys.argv[1:]]),
            read_ids=args.read_ids,
            conversations=args.conversations,
            history_rows=args.history_rows,
            days=args.days,
            max_messages=args.max_messages,
            seed=args.seed,
            repeats=args.repeats,
            settings=settings,
            report=say,
            batches=not args.skip_batches,
            app_interval=args.app_interval,
            replication=not args.skip_replication,
            freshness_samples=args.freshness_samples,
            only_freshness=args.only_freshness,
            only_crews=args.only_crews,
            only_discovery=args.only_discovery,
            contenders="none" if args.skip_contenders else "view build" if args.view_build_only else "all",
            one_first_fill=args.one_first_fill,
            server=dict(args.server_settings),
            save=partial_saver(args.json_path),
        )
    except (BenchError, ReplicationError, ServerSettingError) as exc:
        raise CliError(str(exc)) from None
    # The JSON first: the figures of an hour's run must not depend on their rendering.
    if args.json_path:
        write_json(result, Path(args.json_path))
        partial_path(args.json_path).unlink(missing_ok=True)
        say(f"wrote {args.json_path}")
    print(format_run(result.as_dict()))
    return 0


def cmd_bench_report(args: argparse.Namespace) -> int:
    from convo_benchmarks.bench_report import performance_page, read_run, write_page

    runs = []
    for path in args.json_paths:
        try:
            runs.append(read_run(Path(path)))
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read the bench results {path}: {exc}") from None
    try:
        if args.page is None:
            print(performance_page(runs), end="")
            return 0
        picture = write_page(runs, Path(args.page))
    except (KeyError, TypeError) as exc:
        raise CliError(f"{', '.join(args.json_paths)}: not what `bench --json` writes (no {exc})") from None
    except OSError as exc:
        raise CliError(f"cannot write the performance page {args.page} or its picture: {exc}") from None
    say(f"wrote {args.page} and {picture} from {len(runs)} run(s)")
    return 0


# ---------------------------------------------------------------- argument types


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO timestamp such as 2025-01-31T00:00:00Z, got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
