"""Small previews in the metadata Dagster shows: a few rows as a table, never table data moved through Python.

pandas flattens the rows (a check's samples are JSON objects, sometimes nested) into columns; the UI
renders the result as a table (dg.MetadataValue.table), no extra formatting package needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime

import dagster as dg

# pandas is imported where a preview is made, not with the module: loading the code location (every
# `dagster` command, every run process, the code server) then does without its import time.


def _cell(value: object) -> str | int | float | bool | None:
    """A value a TableRecord takes: nested JSON as text, missing as None, numpy scalars as Python ones."""
    import pandas as pd

    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    if pd.isna(value):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def preview_table(rows: Iterable[object]) -> dg.TableMetadataValue:
    """Rows (mappings, or plain values shown in a column `value`) as a table with one column per key."""
    import pandas as pd

    records = [row if isinstance(row, Mapping) else {"value": row} for row in rows]
    frame = pd.json_normalize(records) if records else pd.DataFrame()
    columns = [str(name) for name in frame.columns]
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord({column: _cell(value) for column, value in zip(columns, row, strict=False)})
            for row in frame.itertuples(index=False)
        ],
        schema=dg.TableSchema(columns=[dg.TableColumn(column, "string") for column in columns]),
    )
