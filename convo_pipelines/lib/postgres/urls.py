"""Database URLs: reading them as libpq does, the forms psycopg and Dagster's storage take, and keeping
passwords out of anything printed."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from convo_pipelines.lib.errors import ConfigError

POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}
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


def database_location(url: str) -> str:
    """'host:port database name' of a PostgreSQL URL, never its user or password."""
    try:
        params = conninfo_to_dict(psycopg_url(url))
    except (psycopg.Error, ValueError):
        return "an unparseable URL"
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"{host}:{params.get('port') or 5432} database {params.get('dbname') or params.get('user') or 'postgres'}"
