"""Whether a failed statement is the crew's own problem (its rows, its table), which skips the crew, or not,
which fails the run: a lost connection, a server shutting down or a bug says nothing about the crew."""

import psycopg

from convo_pipelines.defs.histories.crews import Crew
from convo_pipelines.lib.postgres.session import Session

# A failed statement is the crew's own problem, which skips the crew, only for these SQLSTATEs: its rows
# (class 22, data exception; 54000/54001, a value too big or too deep), its foreign table (class HV),
# its unpopulated materialized view (55000). A permission error is its own only when the crew's table is
# what the role cannot read (see crews_own_problem). Anything else fails the run.
CREW_ROWS_SQLSTATE_CLASSES = ("22", "HV")
CREW_ROWS_SQLSTATES = frozenset({"54000", "54001", "55000"})
INSUFFICIENT_PRIVILEGE = "42501"


def crews_own_problem(session: Session, crew: Crew, exc: psycopg.Error) -> bool:
    """True when a failed statement says something about the crew itself (its rows, its table), so
    skipping the crew is honest; False for a lost connection, a server shutting down, a timeout, or a
    privilege the pipeline lacks on its own objects."""
    if session.conn.broken or exc.sqlstate is None:
        return False
    if exc.sqlstate == INSUFFICIENT_PRIVILEGE:
        # Only the crew's table is the crew's problem; analytics tables or functions are the pipeline's.
        with session.conn.transaction():
            readable = session.execute(
                session.sql("histories/select_histories_table_readable.sql"),
                {"schema": session.source_schema, "table": crew.histories_table_name},
            ).fetchone()[0]
        return not readable
    return crews_own_sqlstate(exc.sqlstate, CREW_ROWS_SQLSTATES)


def crews_own_sqlstate(sqlstate: str | None, sqlstates: frozenset[str]) -> bool:
    return sqlstate is not None and (sqlstate[:2] in CREW_ROWS_SQLSTATE_CLASSES or sqlstate in sqlstates)
