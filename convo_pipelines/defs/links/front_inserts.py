"""Inserts of missing Front links, each one SQL statement: numbered in the unique pair's order, with ids in the UUIDv7
layout drawn once per statement, all at once or by slices whose foreign-key failures are retried alone."""

from __future__ import annotations

from psycopg import sql

from convo_pipelines.defs.links.tables import FrontLinkTable
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.retries import retry_in_savepoint

PairBound = tuple[str, str] | None  # (conversation id, owner id); None: open


def insert_pending_links(session: Session, spec: FrontLinkTable, slice_rows: int | None) -> int:
    """Insert the missing links of pg_temp.front_link_differences inside the caller's transaction: in one
    statement (slice_rows None: no foreign key holds app rows yet), else by slices of `slice_rows`, each retried
    alone when its foreign-key check met a row the app deleted meanwhile."""
    statement = session.sql(
        "links/insert_missing_front_links.sql",
        links=spec.table,
        owner=spec.owner_column,
        owner_table=spec.owner_table,
    )
    session.execute(session.sql("links/set_insert_settings.sql"))
    inserted = 0
    for after, upto in pending_slices(session, slice_rows):
        params = {
            "after_conversation": after and after[0],
            "after_owner": after and after[1],
            "upto_conversation": upto and upto[0],
            "upto_owner": upto and upto[1],
            **link_id_draw(session),
        }
        inserted += retry_in_savepoint(session.conn, statement, params)
    return inserted


def link_id_draw(session: Session) -> dict[str, object]:
    """What one insert builds its links' ids from (select_link_id_draw.sql): id_prefix and id_first_counter."""
    prefix, first_counter = session.execute(session.sql("links/select_link_id_draw.sql")).fetchone()
    return {"id_prefix": prefix, "id_first_counter": first_counter}


def insert_staged_links(session: Session, spec: FrontLinkTable) -> int:
    """Insert the window's staged defined pairs ({analytics}.{window_staged}) into its table, which holds no link in
    the same snapshot, inside the caller's transaction."""
    statement = session.sql(
        "links/insert_staged_front_links.sql",
        links=spec.table,
        owner=spec.owner_column,
        window_staged=spec.window_staged_table,
    )
    session.execute(session.sql("links/set_insert_settings.sql"))
    return session.execute(statement, link_id_draw(session)).rowcount


def insert_first_fill_links(session: Session, spec: FrontLinkTable, params: dict[str, object]) -> int:
    """Insert the next slice of the pairs this run's first fill staged (insert_first_fill_front_links.sql binds
    `params`) into its table, inside the caller's transaction: the table holds none of them (it was empty when they were
    staged, no other writer has written since, and each slice commits once), so none is checked for. Without a
    foreign key yet, a pair whose owner or conversation the app deleted after the staging goes in too: adding the
    key removes it (ensure_foreign_keys); what the app changed after the staging is the late-change sensor's, as
    after any run."""
    set_first_fill_slice_settings(session)
    return session.execute(first_fill_slice_statement(session, spec), {**params, **link_id_draw(session)}).rowcount


def set_first_fill_slice_settings(session: Session) -> None:
    """Give the rest of the transaction's slice of a first fill its sort, in memory (set_first_fill_slice_settings.sql)."""
    session.execute(session.sql("links/set_insert_settings.sql"))
    session.execute(session.sql("links/set_first_fill_slice_settings.sql"))


def first_fill_slice_statement(session: Session, spec: FrontLinkTable) -> sql.Composed:
    """The INSERT of a first fill's next slice of staged pairs (insert_first_fill_front_links.sql)."""
    return session.sql(
        "links/insert_first_fill_front_links.sql",
        links=spec.table,
        owner=spec.owner_column,
        first_fill=spec.first_fill_table,
    )


def pending_slices(session: Session, slice_rows: int | None) -> list[tuple[PairBound, PairBound]]:
    """(after, upto] bounds of the slices of the missing links, in key order; one open slice when unsliced."""
    if slice_rows is None:
        return [(None, None)]
    ends = session.execute(
        session.sql("links/select_pending_front_link_slice_ends.sql"), {"slice_rows": slice_rows}
    ).fetchall()
    # The last slice is left open above: it takes the rest, at most slice_rows.
    bounds: list[PairBound] = [None, *(tuple(end) for end in ends)]
    return [(bounds[i], bounds[i + 1]) for i in range(len(ends))] + [(bounds[-1], None)]
