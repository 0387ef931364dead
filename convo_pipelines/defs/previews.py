"""Small previews in the metadata Dagster shows: a few rows as a table, never table data moved through Python.

The rows (a check's samples are JSON objects, sometimes nested) are flattened into columns, a nested object's
keys as dotted names (`owner.id`); the UI renders the result as a table (dg.MetadataValue.table).
Plain Python, on purpose: a check that fails on every run (late_change_indexes, until a DBA adds the indexes)
makes a preview in every run, and importing a dataframe library for five rows cost such a run seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime

import dagster as dg


def _cell(value: object) -> str | int | float | bool | None:
    """A value a TableRecord takes: nested JSON as text, missing (None, NaN) as None, dates in ISO form."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def _flattened(row: Mapping, prefix: str = "") -> dict[str, object]:
    """A row's values by column, a nested (non-empty) object's keys under its own name: {"owner": {"id": 1}} -> owner.id."""
    columns: dict[str, object] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            columns.update(_flattened(value, f"{name}."))
        else:
            columns[name] = value
    return columns


def preview_table(rows: Iterable[object]) -> dg.TableMetadataValue:
    """Rows (mappings, or plain values shown in a column `value`) as a table with one column per key, in the
    order the keys first appear; a row without a column's key has None there."""
    records = [_flattened(row) if isinstance(row, Mapping) else {"value": row} for row in rows]
    columns = list(dict.fromkeys(column for record in records for column in record))
    return dg.MetadataValue.table(
        records=[dg.TableRecord({column: _cell(record.get(column)) for column in columns}) for record in records],
        schema=dg.TableSchema(columns=[dg.TableColumn(column, "string") for column in columns]),
    )
