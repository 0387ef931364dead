"""Crews and their histories tables: read from the crews table at run time, validated before any use.

`histories_table_name` comes from data, so it is untrusted: only names matching IDENTIFIER_PATTERN
are ever looked up, always as a bound value in the catalog and as a quoted identifier in queries.
Every problem is a sentence naming the crew's table and, where there is one, the fix. A table with no created_at
but an integer id (n8n's own table) is valid: its messages are dated by id (id_ranges.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import psycopg
from psycopg import sql
from psycopg.rows import namedtuple_row

from convo_pipelines.lib.postgres.sqlfiles import render_sql
from convo_pipelines.lib.settings import IDENTIFIER_PATTERN

REQUIRED_COLUMNS = ("id", "session_id", "message", "created_at")
# A table without created_at is dated by its integer id instead (n8n's own table): see id_ranges.py.
ID_TYPES = {"int2", "int4", "int8"}
SESSION_ID_TYPES = {"uuid": "uuid", "text": "text", "varchar": "varchar"}
MESSAGE_TYPES = {"jsonb", "json", "text", "varchar"}
# A `timestamp` (without time zone) holds UTC, or SOURCE_TIME_ZONE's wall time: the session's TimeZone (lib/postgres/db.py).
CREATED_AT_TYPES = {"timestamptz", "timestamp"}


@dataclass(frozen=True)
class Crew:
    code: str
    client_code: str | None
    histories_table_name: str
    # How many different (client, table) pairs the crews table gives this code: 1 unless the source lost its unique key.
    definitions: int = 1


@dataclass(frozen=True)
class HistoriesTable:
    """What the catalog says about one crew's histories table."""

    crew: Crew
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    session_id_type: str = ""
    message_type: str = ""
    # Whether an index leads with created_at: then a window's slice is a range scan, not a scan of the table.
    created_at_indexed: bool = False
    # The id column's type, and whether an index leads with it (the discovery sensor probes its greatest value).
    id_type: str = ""
    id_indexed: bool = False
    # The table's relfilenode, which a TRUNCATE or a rewrite changes (the discovery sensor's marker holds it).
    table_node: str = ""
    # No created_at but an integer id: each message is dated when a run first saw its id (id_ranges.py).
    dated_by_id: bool = False

    @property
    def is_valid(self) -> bool:
        return not self.problems

    def reason(self) -> str:
        return "; ".join(self.problems)


def load_crews(conn: psycopg.Connection, source_schema: str) -> list[Crew]:
    """Every crew code in {source}.crews once, with its client's code, in code order."""
    rows = conn.execute(_source_sql("histories/select_crews.sql", source_schema))
    return [Crew(code, client_code, table, definitions) for code, client_code, table, definitions in rows]


def inspect_crews(conn: psycopg.Connection, source_schema: str, crews: Sequence[Crew]) -> list[HistoriesTable]:
    """Each crew's histories table as inspect_histories_table sees it, from one catalog query for them all, unless the
    crews table itself is ambiguous about the crew: a code given several tables or clients is never guessed at."""
    names = [crew.histories_table_name for crew in crews if IDENTIFIER_PATTERN.match(crew.histories_table_name or "")]
    columns: dict[str, list[NamedTuple]] = {}
    if names:
        cursor = conn.cursor(row_factory=namedtuple_row)
        for row in cursor.execute(
            _source_sql("histories/select_histories_tables_columns.sql", source_schema),
            {"schema": source_schema, "tables": sorted(set(names))},
        ):
            columns.setdefault(row.table_name, []).append(row)
    return [_histories_table(source_schema, crew, columns.get(crew.histories_table_name, [])) for crew in crews]


def inspect_crew(conn: psycopg.Connection, source_schema: str, crew: Crew) -> HistoriesTable:
    """One crew's histories table, as inspect_crews sees it."""
    return inspect_crews(conn, source_schema, [crew])[0]


def inspect_histories_table(conn: psycopg.Connection, source_schema: str, crew: Crew) -> HistoriesTable:
    """Validate a crew's histories table name, existence, read privilege, columns and indexes without touching its rows."""
    return inspect_crews(conn, source_schema, [replace(crew, definitions=1)])[0]


def _histories_table(source_schema: str, crew: Crew, rows: list[NamedTuple]) -> HistoriesTable:
    """What the catalog's rows of the crew's table (its columns, in order) say about it."""
    if crew.definitions > 1:
        return HistoriesTable(
            crew,
            problems=(
                f"crew code {crew.code!r} has {crew.definitions} different rows in {source_schema}.crews "
                "(other clients or histories tables); keep one row per code",
            ),
        )
    name = crew.histories_table_name
    if not IDENTIFIER_PATTERN.match(name or ""):
        return HistoriesTable(
            crew,
            problems=(
                f"histories_table_name {name!r} is not a valid table name "
                "(expected ^[a-z_][a-z0-9_]{0,62}$); it is never queried",
            ),
        )
    if not rows:
        return HistoriesTable(crew, problems=(f"table {source_schema}.{name} does not exist",))
    types = {row.column_name: row.type_name for row in rows}
    indexed = {row.column_name for row in rows if row.leads_an_index}
    problems = [*_privilege_problems(source_schema, name, rows[0]), *_column_problems(source_schema, name, types)]
    warnings = _index_warnings(source_schema, name, types, indexed)
    return HistoriesTable(
        crew,
        problems=tuple(problems),
        warnings=tuple(warnings),
        session_id_type=SESSION_ID_TYPES.get(types.get("session_id", ""), ""),
        message_type=types.get("message", ""),
        created_at_indexed="created_at" in indexed,
        id_type=types.get("id", ""),
        table_node=rows[0].table_node,
        id_indexed="id" in indexed,
        dated_by_id="created_at" not in types and types.get("id") in ID_TYPES,
    )


def message_expressions(table: HistoriesTable, analytics_schema: str) -> dict[str, sql.Composable]:
    """SQL for the message as JSON, and its typeof and array-elements functions, whatever the column's
    type (jsonb, json, text)."""
    jsonb_functions = {"message_typeof": sql.SQL("jsonb_typeof"), "message_elements": sql.SQL("jsonb_array_elements")}
    # jsonb cannot hold a \u0000 escape; json and text can, and such rows are skipped before any operator reads them.
    may_hold_nul = {"message_may_hold_nul": sql.SQL("false" if table.message_type == "jsonb" else "true")}
    if table.message_type == "jsonb":
        return {"message": sql.SQL("history.message"), **jsonb_functions, **may_hold_nul}
    if table.message_type == "json":
        # json operators work on json directly, with no cast to jsonb per row.
        return {
            "message": sql.SQL("history.message"),
            "message_typeof": sql.SQL("json_typeof"),
            "message_elements": sql.SQL("json_array_elements"),
            **may_hold_nul,
        }
    parsed = sql.SQL("{}.parse_json_or_null(history.message::text)").format(sql.Identifier(analytics_schema))
    return {"message": parsed, **jsonb_functions, **may_hold_nul}


def session_id_type(table: HistoriesTable) -> sql.Composable:
    """The session_id column's type as SQL, so lookups by session compare natively and use its index."""
    return sql.SQL(SESSION_ID_TYPES[table.session_id_type])


def _source_sql(name: str, source_schema: str) -> sql.Composed:
    # These files name only the source schema; render_sql wants both.
    return render_sql(name, source=source_schema, analytics=source_schema)


def _privilege_problems(schema: str, name: str, table: NamedTuple) -> list[str]:
    """The missing SELECT, with the GRANT that gives it (the catalog query quotes the names and picks the grantee)."""
    if table.readable:
        return []
    return [
        f"role {table.role_name} cannot read table {schema}.{name}: "
        f"run GRANT SELECT ON {table.quoted_table_name} TO {table.grantee};"
    ]


def _column_problems(schema: str, name: str, types: dict[str, str]) -> list[str]:
    problems = []
    missing = [column for column in REQUIRED_COLUMNS if column not in types]
    if "created_at" in missing:
        missing.remove("created_at")
        if "id" in types and types["id"] not in ID_TYPES:
            problems.append(
                f"table {schema}.{name} has neither a created_at column nor an integer id ({schema}.{name}.id is "
                f"{types['id']}), so its messages cannot be dated: give it `created_at timestamptz not null default now()` "
                "or an integer id (serial)"
            )
    if missing:
        problems.append(f"table {schema}.{name} lacks column(s) {', '.join(missing)}")
    if "session_id" in types and types["session_id"] not in SESSION_ID_TYPES:
        problems.append(f"{schema}.{name}.session_id is {types['session_id']}; expected uuid, text or varchar")
    if "message" in types and types["message"] not in MESSAGE_TYPES:
        problems.append(f"{schema}.{name}.message is {types['message']}; expected jsonb (or json, text, varchar)")
    if "created_at" in types and types["created_at"] not in CREATED_AT_TYPES:
        problems.append(
            f"{schema}.{name}.created_at is {types['created_at']}; expected timestamptz, or timestamp holding UTC "
            f"(fix: `alter table {schema}.{name} alter column created_at type timestamptz using created_at::timestamptz`)"
        )
    return problems


def _index_warnings(schema: str, name: str, types: dict[str, str], indexed: set[str]) -> list[str]:
    warnings = []
    if "created_at" in types and "created_at" not in indexed:
        warnings.append(
            f"{schema}.{name}.created_at has no index, so every discovery tick scans the whole table: "
            f"`create index on {schema}.{name} (created_at)`"
        )
    if "created_at" not in types and types.get("id") in ID_TYPES and "id" not in indexed:
        warnings.append(
            f"{schema}.{name}.id has no index (the table has no created_at, so runs read it by id), so every "
            f"discovery tick scans the whole table: make id its primary key"
        )
    if "session_id" in types and "session_id" not in indexed:
        warnings.append(
            f"{schema}.{name}.session_id has no index, so summaries read the whole table: "
            f"`create index on {schema}.{name} (session_id)`"
        )
    return warnings
