"""What every contender of the Front link tables computes: each table's definition as the project's bulk runs compute
it on the scratch database, over all time."""

from __future__ import annotations

import psycopg
from psycopg import sql

from convo_benchmarks.bench_scratch import Scratch
from convo_pipelines.defs.links.tables import (
    BEGINNING_OF_TIME,
    END_OF_TIME,
    FRONT_LINK_TABLES,
    FrontLinkTable,
    front_definition,
)
from convo_pipelines.defs.links.windows import window_params
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.session import Session

FRONT_LINK_SPECS = {spec.table: spec for spec in FRONT_LINK_TABLES}
ALL_TIME = window_params(BEGINNING_OF_TIME, END_OF_TIME)


def contender_oracle(scratch: Scratch, spec: FrontLinkTable) -> sql.Composed:
    """The oracle a contender computes: the same SQL the project's bulk runs compute on this database (the
    join a source key proves needless left out the same way), so only how the rows are written differs."""
    with connect(scratch.url) as conn:
        return front_definition(Session(conn, scratch.source_schema, scratch.analytics_schema), spec)


def contender_oracle_text(scratch: Scratch, spec: FrontLinkTable) -> str:
    """contender_oracle as one SQL text, its window over all time bound client-side: for a contender that takes
    SQL without parameters (a dbt model)."""
    with connect(scratch.url) as conn:
        return psycopg.ClientCursor(conn).mogrify(contender_oracle(scratch, spec), ALL_TIME)
