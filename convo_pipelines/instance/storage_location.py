"""Where Dagster keeps its runs, checked with a real connection before any Dagster process starts.

DAGSTER_STORAGE_URL when set; else the database convo_dagster beside DATABASE_URL (created when the role
may); else, with neither set, the embedded demo's server (database `dagster`). `convo-pipelines dev`
decides through here, and so does the storage class dagster.yaml names when the file gives no URL, so
that `dagster dev` or any `dagster` command run in the repository's root with nothing set finds the
same instance `make dev` runs.
"""

from __future__ import annotations

import atexit
import getpass
import os
from collections.abc import Callable, Mapping

import psycopg
from sqlalchemy.engine import make_url

from convo_pipelines.lib.embedded.server import ensure_database
from convo_pipelines.lib.errors import ConfigError
from convo_pipelines.lib.postgres.sqlfiles import read_sql
from convo_pipelines.lib.postgres.urls import (
    dagster_storage_url,
    psycopg_url,
    redact_url,
    scrub_secrets,
    validate_database_url,
    with_database,
)
from convo_pipelines.lib.settings import Settings

EXTERNAL_STORAGE_DATABASE = "convo_dagster"

Say = Callable[[str], None]


def instance_environment(environ: Mapping[str, str], say: Say) -> dict[str, str]:
    """DAGSTER_STORAGE_URL for this instance's processes, and with no DATABASE_URL either, the embedded demo's
    DATABASE_URL, CONVO_HOME and PARTITIONS_START_DATE: what every process the caller starts must share.

    The embedded server, when this call started it, stops when the process exits (as `make dev` stops
    the one it started); one already running (a `make dev` in another terminal) is left running.
    """
    as_set = storage_url_as_set(environ)
    if as_set:
        return {"DAGSTER_STORAGE_URL": as_set}
    settings = Settings.from_env(environ)
    if settings.database_url:
        storage = external_storage_url(settings.database_url, environ)
        require_usable_storage(storage, as_set=None, admin_urls=(settings.database_url,), say=say)
        return {"DAGSTER_STORAGE_URL": storage}
    return _embedded_demo_environment(settings, environ, say)


def _embedded_demo_environment(settings: Settings, environ: Mapping[str, str], say: Say) -> dict[str, str]:
    # Imported here: only the embedded default needs the seeder and the embedded server.
    from convo_pipelines.lib.embedded.demo import DemoSize, ready_embedded_demo
    from convo_pipelines.lib.embedded.server import embedded_is_running, embedded_pgdata, stop_embedded_postgres

    started_here = not embedded_is_running(settings.convo_home)
    say(
        "DATABASE_URL and DAGSTER_STORAGE_URL are unset: using the embedded demo in "
        f"{embedded_pgdata(settings.convo_home)} (`make dev` runs the same; set DATABASE_URL for your database)"
    )
    if started_here:
        atexit.register(stop_embedded_postgres, settings.convo_home)
    demo = ready_embedded_demo(settings, DemoSize(), environ, say)
    return {
        "DATABASE_URL": demo.app_url,
        "DAGSTER_STORAGE_URL": demo.storage_url,
        "CONVO_HOME": str(settings.convo_home),
        **demo.partitions,
    }


def storage_url_as_set(environ: Mapping[str, str]) -> str | None:
    """DAGSTER_STORAGE_URL validated, in the dialect dagster-postgres needs; None when unset."""
    explicit = environ.get("DAGSTER_STORAGE_URL", "").strip()
    if not explicit:
        return None
    validate_database_url(explicit, variable="DAGSTER_STORAGE_URL")
    return dagster_storage_url(explicit)


def external_storage_url(app_url: str, environ: Mapping[str, str]) -> str:
    """Dagster's storage next to DATABASE_URL: DAGSTER_STORAGE_URL, else database convo_dagster on the same server."""
    return storage_url_as_set(environ) or dagster_storage_url(with_database(app_url, EXTERNAL_STORAGE_DATABASE))


# Long enough for a server across a network, short enough that a wrong host is one line, not a hang.
STORAGE_CONNECT_TIMEOUT_SECONDS = 10
# Where a missing storage database can be created from: the server's maintenance databases.
MAINTENANCE_DATABASES = ("postgres", "template1")


def storage_subject(url: str, as_set: str | None) -> str:
    """How a storage error names what is wrong: the variable as the user set it, else what dev chose."""
    if as_set:
        return f"DAGSTER_STORAGE_URL={redact_url(as_set)!r}"
    return f"Dagster's storage {redact_url(url)!r} (the database beside DATABASE_URL; DAGSTER_STORAGE_URL overrides it)"


def connection_failure(exc: psycopg.Error, url: str) -> str:
    """libpq's reason on one line, with no password in it."""
    return " ".join(scrub_secrets(str(exc), url).split())


def require_usable_storage(url: str, *, as_set: str | None, admin_urls: tuple[str, ...] = (), say: Say = print) -> None:
    """Fail with one line (no traceback, password redacted) unless Dagster can keep its tables at `url`.

    Connects for real, as the webserver and daemon will. A database that does not exist is created
    when the role may create databases (as dev already does for convo_dagster); otherwise the line
    says how to create it. The role must also be able to create Dagster's tables, or find them there.
    `as_set` is DAGSTER_STORAGE_URL as the user wrote it (None when dev chose the database);
    `admin_urls` are databases of the same server to create it from, tried before the maintenance ones.
    """
    subject = storage_subject(url, as_set)
    try:
        conn = _connect_storage(url)
    except psycopg.OperationalError as exc:
        database = _database_name(url)
        if not _database_missing(url, admin_urls):
            raise ConfigError(
                f"{subject} cannot be used for Dagster's storage: {connection_failure(exc, url)}"
            ) from None
        _create_storage_database(url, admin_urls, subject)
        say(f"created database {database} for Dagster's storage")
        try:
            conn = _connect_storage(url)
        except psycopg.OperationalError as again:
            raise ConfigError(
                f"{subject} cannot be used for Dagster's storage: {connection_failure(again, url)}"
            ) from None
    with conn:
        role, schema, usable = conn.execute(
            read_sql("lib/dagster_storage/select_dagster_storage_access.sql")
        ).fetchone()
    if usable:
        return
    if schema is None:
        raise ConfigError(
            f"{subject}: role {role} has no schema on its search_path for Dagster's tables: create one it owns, or fix search_path"
        )
    raise ConfigError(
        f"{subject}: role {role} may not create Dagster's tables in schema {schema} of database {_database_name(url)}: "
        f"as the database owner run `grant create on schema {schema} to {role};`, or use a database the role owns"
    )


def _connect_storage(url: str) -> psycopg.Connection:
    return psycopg.connect(psycopg_url(url), autocommit=True, connect_timeout=STORAGE_CONNECT_TIMEOUT_SECONDS)


def _database_name(url: str) -> str:
    return make_url(psycopg_url(url)).database or ""


def _admin_candidates(url: str, admin_urls: tuple[str, ...]) -> list[str]:
    return [*admin_urls, *(with_database(url, name) for name in MAINTENANCE_DATABASES)]


def _database_missing(url: str, admin_urls: tuple[str, ...]) -> bool:
    """Whether the server answers, for these credentials, that `url`'s database does not exist.

    Asked through another database of the same server, not read from the error text, which the
    server writes in its own language (lc_messages)."""
    for admin_url in _admin_candidates(url, admin_urls):
        try:
            with _connect_storage(admin_url) as conn:
                query = read_sql("lib/dagster_storage/select_database_exists.sql")
                return not conn.execute(query, {"database": _database_name(url)}).fetchone()[0]
        except psycopg.OperationalError:
            continue
    return False


def _create_storage_database(url: str, admin_urls: tuple[str, ...], subject: str) -> None:
    database = _database_name(url)
    role = _role_name(url)
    for admin_url in _admin_candidates(url, admin_urls):
        try:
            ensure_database(admin_url, database)
            return
        except psycopg.errors.InsufficientPrivilege:
            break
        except psycopg.OperationalError:
            continue
    raise ConfigError(
        f"{subject}: database {database} does not exist and role {role} may not create it: create it as a role "
        f"that may (`create database {database} owner {role};`), or point DAGSTER_STORAGE_URL at an existing database"
    )


def _role_name(url: str) -> str:
    """The role libpq logs in as: the URL's user, else PGUSER, else the operating-system user."""
    return make_url(psycopg_url(url)).username or os.environ.get("PGUSER", "").strip() or getpass.getuser()
