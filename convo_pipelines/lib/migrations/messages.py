"""The one-line messages of the migrations: what is wrong with a database's schema, and which command fixes it."""

from __future__ import annotations

from typing import Protocol

import psycopg


class Labelled(Protocol):
    """A migration, shipped or applied, as the messages name it: NNNN_name."""

    @property
    def label(self) -> str: ...


MIGRATE_COMMAND = "convo-pipelines migrate"


def database_description(conn: psycopg.Connection) -> str:
    """'database convo on host db.example': where, without user or password."""
    return f"database {conn.info.dbname} on host {conn.info.host}"


def pending_message(pending: list[Labelled], where: str) -> str:
    return (
        f"{count_migrations(pending)} pending in {where} ({labels(pending)}): apply them with `{MIGRATE_COMMAND}` "
        "as the owner of the application's tables (CONVO_AUTO_MIGRATE=false keeps runs from applying them)"
    )


def not_shipped_message(rows: list[Labelled], where: str) -> str:
    return (
        f"{count_migrations(rows)} applied in {where} that this code does not ship ({labels(rows)}): the database is ahead "
        "of this code; deploy the convo_pipelines version that ships them, or roll them back with that "
        "version's `convo-pipelines migrate --rollback`"
    )


def read_only_message(reason: str, where: str) -> str:
    return (
        f"DATABASE_URL points at a server that takes no writes ({where}: {reason}): point it at the primary "
        "(the docs' Deploying page, A DBA's limits)"
    )


def changed_message(migration: Labelled) -> str:
    return (
        f"migration {migration.label} was applied from a different file than this code ships (checksum differs): "
        "the edit never reaches databases that already applied it; put the change in a new migration"
    )


def privilege_message(action: str, role: str, exc: psycopg.Error) -> str:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return (
        f"cannot {action} as role {role} ({reason}): run `{MIGRATE_COMMAND}` as a role that holds that privilege "
        "(the owner of the application's tables; the docs' Deploying page, Deploying on your database, says what it needs)"
    )


def count_migrations(items: list) -> str:
    return f"{len(items)} migration{'s' if len(items) != 1 else ''}"


def labels(items: list[Labelled]) -> str:
    return ", ".join(item.label for item in items)
