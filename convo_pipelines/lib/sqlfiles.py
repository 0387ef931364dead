"""Load the SQL files under sql/ and bind their schema placeholders as quoted identifiers.

A file names schemas as {source} and {analytics}; other identifiers chosen at run time
(a crew's histories table, say) are passed as keyword arguments and quoted the same way.
Values are never formatted in: they are %(name)s parameters bound at execute time.
Because the files go through psycopg.sql.SQL.format, a literal brace is written twice.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from psycopg import sql


@cache
def read_sql(name: str) -> str:
    """The text of sql/<name> (e.g. 'links/stage_link_rows.sql')."""
    return resources.files("convo_pipelines.sql").joinpath(name).read_text(encoding="utf-8")


def render_sql(name: str, *, source: str, analytics: str, **identifiers: str | sql.Composable) -> sql.Composed:
    """sql/<name> with {source}, {analytics} and any other placeholder bound as an identifier."""
    bound = {key: _as_identifier(value) for key, value in identifiers.items()}
    return sql.SQL(read_sql(name)).format(source=sql.Identifier(source), analytics=sql.Identifier(analytics), **bound)


def list_sql(folder: str) -> list[str]:
    """The .sql files of one sql/ sub-folder, sorted by name."""
    root = resources.files("convo_pipelines.sql").joinpath(folder)
    return sorted(entry.name for entry in root.iterdir() if entry.name.endswith(".sql"))


def _as_identifier(value: str | sql.Composable) -> sql.Composable:
    return value if isinstance(value, sql.Composable) else sql.Identifier(value)
