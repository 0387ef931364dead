"""Load the SQL files under sql/ and bind their schema placeholders as quoted identifiers.

The files are the package `convo_pipelines.sql` (the top-level sql/ folder); read_sql and render_sql
take another package of SQL files as `package` (the benchmarks keep theirs in their own package).

A file names schemas as {source} and {analytics}; other identifiers chosen at run time
(a crew's histories table, say) are passed as keyword arguments and quoted the same way.
Values are never formatted in: they are %(name)s parameters bound at execute time.
Because the files go through psycopg.sql.SQL.format, a literal brace is written twice.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from psycopg import sql

SQL_PACKAGE = "convo_pipelines.sql"


@cache
def read_sql(name: str, package: str = SQL_PACKAGE) -> str:
    """The text of sql/<name> (e.g. 'links/stage_link_rows.sql'), or of <name> in `package`."""
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def render_sql(
    name: str, *, source: str, analytics: str, package: str = SQL_PACKAGE, **identifiers: str | sql.Composable
) -> sql.Composed:
    """sql/<name> (or <name> in `package`) with {source}, {analytics} and any other placeholder bound as an identifier."""
    bound = {key: _as_identifier(value) for key, value in identifiers.items()}
    return sql.SQL(read_sql(name, package)).format(
        source=sql.Identifier(source), analytics=sql.Identifier(analytics), **bound
    )


def list_sql(folder: str) -> list[str]:
    """The .sql files of one sql/ sub-folder, sorted by name."""
    root = resources.files(SQL_PACKAGE).joinpath(folder)
    return sorted(entry.name for entry in root.iterdir() if entry.name.endswith(".sql"))


def _as_identifier(value: str | sql.Composable) -> sql.Composable:
    return value if isinstance(value, sql.Composable) else sql.Identifier(value)
