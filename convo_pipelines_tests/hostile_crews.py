"""The crews of the hostile inputs' cases (hostile_cases.py), arranged in one database: their histories tables
as crews may really have them, their rows given as text, and their crews and clients rows."""

from __future__ import annotations

import json
from collections.abc import Callable

import psycopg
from psycopg import sql

from convo_pipelines_tests.histories_data import langchain, n8n

CLIENT = "acme"
SESSION = "s-1"
# Every case's crew has these two messages of one session besides its hostile rows (unless it says otherwise).
BASELINE = [
    (SESSION, "2024-03-01 10:00:00+00", json.dumps(langchain("human", "hello"))),
    (SESSION, "2024-03-01 10:01:00+00", json.dumps(langchain("ai", "hi"))),
]
BASELINE_TOTALS = (2, 1, 1, 0)  # messages, human, ai, malformed

Row = tuple[str | None, str | None, str | None]  # session_id, created_at (text, cast by PostgreSQL), message (text)


def message(kind: str, content: object, shape: str = "langchain") -> str:
    return json.dumps(langchain(kind, content) if shape == "langchain" else n8n(kind, content))


def create_table(
    db: psycopg.Connection,
    name: str,
    message_type: str = "jsonb",
    session_id_type: str = "text",
    schema: str = "public",
) -> None:
    """A histories table as a crew may really have one: every column nullable, no primary key."""
    table = sql.Identifier(schema, name)
    db.execute(
        sql.SQL("create table {} (id integer, session_id {}, message {}, created_at timestamptz)").format(
            table, sql.SQL(session_id_type), sql.SQL(message_type)
        )
    )
    db.execute(sql.SQL("create index on {} (session_id)").format(table))
    db.execute(sql.SQL("create index on {} (created_at)").format(table))


def insert_rows(db: psycopg.Connection, name: str, rows: list[Row], schema: str = "public") -> None:
    """Rows given as text, cast by PostgreSQL (so 'infinity' or year 294276 go in as they are); ids count up."""
    message_type = db.execute(
        "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = %s::regclass and attname = 'message'",
        (sql.Identifier(schema, name).as_string(db),),
    ).fetchone()[0]
    statement = sql.SQL(
        "insert into {} (id, session_id, message, created_at) values (%s, %s, %s::{}, %s::timestamptz)"
    ).format(sql.Identifier(schema, name), sql.SQL(message_type))
    start = db.execute(sql.SQL("select coalesce(max(id), 0) from {}").format(sql.Identifier(schema, name))).fetchone()[
        0
    ]
    for number, (session_id, created_at, text) in enumerate(rows, start=start + 1):
        db.execute(statement, (number, session_id, text, created_at))


def create_crew(db: psycopg.Connection, code: str, table_name: str, client: str | None = CLIENT) -> None:
    db.execute(
        "insert into public.crews (code, client_id, histories_table_name) values (%s, (select id from public.clients where code = %s), %s)",
        (code, client, table_name),
    )


def crew_with_rows(
    rows: list[Row], message_type: str = "jsonb", session_id_type: str = "text", baseline: bool = True
) -> Callable[[psycopg.Connection, str], list[str]]:
    """Arrange: a table <code>_h of that shape with the baseline and `rows`, and the crew pointing at it."""

    def arrange(db: psycopg.Connection, code: str) -> list[str]:
        table = f"{code}_h"
        create_table(db, table, message_type, session_id_type)
        insert_rows(db, table, [*(BASELINE if baseline else []), *rows])
        create_crew(db, code, table)
        return [table]

    return arrange


def crew_named(table_name: str, create: str | None = None) -> Callable[[psycopg.Connection, str], list[str]]:
    """Arrange: a crew whose histories_table_name is `table_name`; with `create`, a readable table of that
    (exact) name is created too, with messages, to show the name is refused even though the table exists."""

    def arrange(db: psycopg.Connection, code: str) -> list[str]:
        if create is not None:
            create_table(db, create)
            insert_rows(db, create, BASELINE)
        create_crew(db, code, table_name)
        return [create] if create is not None else []

    return arrange


def arrange_view(db: psycopg.Connection, code: str) -> list[str]:
    create_table(db, "view_base")
    insert_rows(db, "view_base", BASELINE)
    db.execute("create view public.view_histories as select id, session_id, message, created_at from public.view_base")
    create_crew(db, code, "view_histories")
    return ["view_base", "view_histories"]


def arrange_unpopulated_matview(db: psycopg.Connection, code: str) -> list[str]:
    create_table(db, "matview_base")
    insert_rows(db, "matview_base", BASELINE)
    db.execute("create materialized view public.matview_histories as select * from public.matview_base with no data")
    create_crew(db, code, "matview_histories")
    return ["matview_base"]  # an unpopulated view has no rows to hash; the catalog hash covers it


def arrange_other_schema(db: psycopg.Connection, code: str) -> list[str]:
    db.execute("create schema elsewhere")
    create_table(db, "elsewhere_histories", schema="elsewhere")
    insert_rows(db, "elsewhere_histories", BASELINE, schema="elsewhere")
    create_crew(db, code, "elsewhere_histories")
    return []


def arrange_duplicate_code(db: psycopg.Connection, code: str) -> list[str]:
    # A source without the unique key on crews.code: the same code, two different tables.
    db.execute("alter table public.crews drop constraint crews_code_key")
    for table in (f"{code}_one", f"{code}_two"):
        create_table(db, table)
        insert_rows(db, table, BASELINE)
        create_crew(db, code, table)
    return [f"{code}_one", f"{code}_two"]


def arrange_exact_duplicate_crew(db: psycopg.Connection, code: str) -> list[str]:
    # Runs after arrange_duplicate_code dropped the unique key: two identical rows are one crew.
    tables = crew_with_rows([])(db, code)
    create_crew(db, code, tables[0])
    return tables


def arrange_missing_client(db: psycopg.Connection, code: str) -> list[str]:
    # A source without the foreign key: the crew's client_id points at no client.
    db.execute("alter table public.crews drop constraint crews_client_id_fkey")
    tables = crew_with_rows([])(db, "tmp_missing_client")
    db.execute("delete from public.crews where code = 'tmp_missing_client'")
    db.execute(
        "insert into public.crews (code, client_id, histories_table_name) values (%s, gen_random_uuid(), %s)",
        (code, tables[0]),
    )
    return tables


def arrange_no_client(db: psycopg.Connection, code: str) -> list[str]:
    tables = crew_with_rows([])(db, "tmp_no_client")
    db.execute("update public.crews set code = %s, client_id = null where code = 'tmp_no_client'", (code,))
    return tables


def arrange_shared_table(db: psycopg.Connection, code: str) -> list[str]:
    # Points at the table of the "n8n_every_shape" crew: both crews count its rows.
    create_crew(db, code, "n8n_every_shape_h")
    return ["n8n_every_shape_h"]


def arrange_duplicate_row(db: psycopg.Connection, code: str) -> list[str]:
    # The same row twice, id included: a table without a key cannot tell them apart, and neither can the pipeline.
    tables = crew_with_rows([(SESSION, "2024-03-01 11:00+00", message("human", "again"))])(db, code)
    db.execute(
        sql.SQL("insert into {table} select * from {table} where id = 3").format(
            table=sql.Identifier("public", tables[0])
        )
    )
    return tables


def arrange_thirty_rows_and_a_null_session(db: psycopg.Connection, code: str) -> list[str]:
    rows: list[Row] = [
        (
            f"thirty-{number % 5}",
            f"2024-03-02 {8 + number // 5:02d}:{number:02d}:00+00",
            message("human" if number % 2 else "ai", f"m{number}"),
        )
        for number in range(30)
    ]
    rows.insert(17, (None, "2024-03-02 09:30:00+00", message("human", "no session")))
    return crew_with_rows(rows, baseline=False)(db, code)
