"""Crews and their histories tables: read from the crews table at run time, validated before any use.

`histories_table_name` comes from data, so it is untrusted: only names matching IDENTIFIER_PATTERN
are ever looked up, always as a bound value in the catalog and as a quoted identifier in queries.
Every problem is a sentence naming the crew's table and, where there is one, the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from convo_pipelines.settings import IDENTIFIER_PATTERN
from convo_pipelines.sqlfiles import render_sql

REQUIRED_COLUMNS = ("id", "session_id", "message", "created_at")
SESSION_ID_TYPES = {"uuid": "uuid", "text": "text", "varchar": "varchar"}
MESSAGE_TYPES = {"jsonb", "json", "text", "varchar"}


@dataclass(frozen=True)
class Crew:
    code: str
    client_code: str | None
    histories_table_name: str


@dataclass(frozen=True)
class HistoriesTable:
    """What the catalog says about one crew's histories table."""

    crew: Crew
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    session_id_type: str = ""
    message_type: str = ""
    column_types: dict[str, str] = field(default_factory=dict)

    @property
    def is_valid(self) -> bool:
        return not self.problems

    def reason(self) -> str:
        return "; ".join(self.problems)


def load_crews(conn: psycopg.Connection, source_schema: str) -> list[Crew]:
    """Every crew in {source}.crews with its client's code, in code order."""
    rows = conn.execute(_source_sql("histories/select_crews.sql", source_schema))
    return [Crew(code, client_code, table) for code, client_code, table in rows]


def inspect_histories_table(conn: psycopg.Connection, source_schema: str, crew: Crew) -> HistoriesTable:
    """Validate a crew's histories table name, existence, columns and indexes without touching its rows."""
    name = crew.histories_table_name
    if not IDENTIFIER_PATTERN.match(name or ""):
        return HistoriesTable(
            crew,
            problems=(
                f"histories_table_name {name!r} is not a valid table name "
                "(expected ^[a-z_][a-z0-9_]{0,62}$); it is never queried",
            ),
        )
    rows = conn.execute(
        _source_sql("histories/select_histories_table_columns.sql", source_schema),
        {"schema": source_schema, "table": name},
    ).fetchall()
    if not rows:
        return HistoriesTable(crew, problems=(f"table {source_schema}.{name} does not exist",))
    types = {column: type_name for column, type_name, _ in rows}
    indexed = {column for column, _, leads_an_index in rows if leads_an_index}
    problems = _column_problems(source_schema, name, types)
    warnings = _index_warnings(source_schema, name, types, indexed)
    return HistoriesTable(
        crew,
        problems=tuple(problems),
        warnings=tuple(warnings),
        session_id_type=SESSION_ID_TYPES.get(types.get("session_id", ""), ""),
        message_type=types.get("message", ""),
        column_types=types,
    )


def message_expressions(table: HistoriesTable, analytics_schema: str) -> dict[str, sql.Composable]:
    """SQL for the message as JSON, and its typeof and array-elements functions, whatever the column's
    type (jsonb, json, text)."""
    jsonb_functions = {"message_typeof": sql.SQL("jsonb_typeof"), "message_elements": sql.SQL("jsonb_array_elements")}
    if table.message_type == "jsonb":
        return {"message": sql.SQL("h.message"), **jsonb_functions}
    if table.message_type == "json":
        # json operators work on json directly; a cast to jsonb would fail on \u0000 escapes.
        return {
            "message": sql.SQL("h.message"),
            "message_typeof": sql.SQL("json_typeof"),
            "message_elements": sql.SQL("json_array_elements"),
        }
    parsed = sql.SQL("{}.parse_json_or_null(h.message::text)").format(sql.Identifier(analytics_schema))
    return {"message": parsed, **jsonb_functions}


def session_id_type(table: HistoriesTable) -> sql.Composable:
    """The session_id column's type as SQL, so lookups by session compare natively and use its index."""
    return sql.SQL(SESSION_ID_TYPES[table.session_id_type])


def _source_sql(name: str, source_schema: str) -> sql.Composed:
    # These files name only the source schema; render_sql wants both.
    return render_sql(name, source=source_schema, analytics=source_schema)


def _column_problems(schema: str, name: str, types: dict[str, str]) -> list[str]:
    problems = []
    missing = [column for column in REQUIRED_COLUMNS if column not in types]
    if "created_at" in missing:
        problems.append(
            f"table {schema}.{name} has no created_at column (n8n's own table lacks it): fix with "
            f"`alter table {schema}.{name} add column created_at timestamptz not null default now()` and "
            f"`create index on {schema}.{name} (created_at)`"
        )
        missing.remove("created_at")
    if missing:
        problems.append(f"table {schema}.{name} lacks column(s) {', '.join(missing)}")
    if "session_id" in types and types["session_id"] not in SESSION_ID_TYPES:
        problems.append(f"{schema}.{name}.session_id is {types['session_id']}; expected uuid, text or varchar")
    if "message" in types and types["message"] not in MESSAGE_TYPES:
        problems.append(f"{schema}.{name}.message is {types['message']}; expected jsonb (or json, text)")
    if "created_at" in types and types["created_at"] != "timestamptz":
        problems.append(
            f"{schema}.{name}.created_at is {types['created_at']}; expected timestamptz (fix: "
            f"`alter table {schema}.{name} alter column created_at type timestamptz using created_at at time zone 'UTC'`)"
        )
    return problems


def _index_warnings(schema: str, name: str, types: dict[str, str], indexed: set[str]) -> list[str]:
    warnings = []
    if "created_at" in types and "created_at" not in indexed:
        warnings.append(
            f"{schema}.{name}.created_at has no index, so every discovery tick scans the whole table: "
            f"`create index on {schema}.{name} (created_at)`"
        )
    if "session_id" in types and "session_id" not in indexed:
        warnings.append(
            f"{schema}.{name}.session_id has no index, so summaries read the whole table: "
            f"`create index on {schema}.{name} (session_id)`"
        )
    return warnings
