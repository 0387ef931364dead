"""The Front link tables' definitions as SQL (their definitions), and what the catalog proves about them."""

from __future__ import annotations

from psycopg import sql

from convo_pipelines.defs.links.tables import (
    GUARANTEEING_FOREIGN_KEYS_SQL,
    GUARANTEEING_UNIQUE_INDEX_SQL,
    FrontLinkTable,
    ProvenJoin,
)
from convo_pipelines.lib.postgres.session import Session


def front_definition(session: Session, spec: FrontLinkTable, *, bulk: bool = True) -> sql.Composed:
    """The definition of `spec`: the pairs its window should hold. For a bulk read (a first fill, a window's diff),
    its ProvenJoin is left out when the source's validated foreign key proves it needless; a scoped run's
    few conversations keep it, which costs less than asking the catalog."""
    join = spec.proven_join
    if join is None:
        return session.sql(spec.definition_file)
    proven = bulk and source_key_is_validated(session, join)
    # Proven: the join is bound to nothing, since the source's validated key proves every referenced row exists.
    bound = sql.SQL("") if proven else session.sql(join.join_sql)
    return session.sql(spec.definition_file, **{join.placeholder: bound})


def source_key_is_validated(session: Session, join: ProvenJoin) -> bool:
    """True when `join.source_table.column` has a validated foreign key to `join.referenced_table`'s id, its
    triggers enabled: PostgreSQL's own proof that every non-null value is an existing row's id."""
    keys = session.execute(
        session.sql(GUARANTEEING_FOREIGN_KEYS_SQL),
        {"trust_constraints": True, "source_schema": session.source_schema, "link_table_name": join.source_table},
    ).fetchall()
    # The lookup lists only keys to the referenced table's id.
    return any((column, table) == (join.column, join.referenced_table) for _, column, table in keys)


def front_link_guarantees(session: Session, spec: FrontLinkTable) -> dict[str, str]:
    """{problem: constraint} for each duplicate or orphan problem of `spec.table` its constraints rule out
    now: read once the run's writes and foreign keys are done, and recorded in its materialization
    (GUARANTEES_METADATA), so the duplicate and orphan checks that follow it need not read the catalog again."""
    statement = session.sql(
        "links/select_front_link_guarantees.sql",
        guaranteeing_index=session.sql(GUARANTEEING_UNIQUE_INDEX_SQL),
        guaranteeing_keys=session.sql(GUARANTEEING_FOREIGN_KEYS_SQL),
    )
    params = {"trust_constraints": True, "source_schema": session.source_schema, **spec.constraint_lookup_params()}
    return {problem: verified_by for problem, _, _, verified_by in session.execute(statement, params).fetchall()}
