"""Inserts of missing Front links: numbered in the unique pair's order, with ids in the UUIDv7 layout, all at once or by
slices whose foreign-key failures are retried alone."""

from __future__ import annotations

from psycopg import sql

from convo_pipelines.defs.links.tables import (
    FrontLinkTable,
)
from convo_pipelines.lib.retries import retry_in_savepoint
from convo_pipelines.lib.session import Session

PairBound = tuple[str, str] | None  # (conversation id, owner id); None: open


def insert_pending_links(session: Session, spec: FrontLinkTable, slice_rows: int | None) -> int:
    """Insert the missing links of pg_temp.front_link_differences inside the caller's transaction: in one
    statement (slice_rows None: no foreign key holds app rows yet), else by slices of `slice_rows`."""
    missing = session.sql("links/select_missing_front_links.sql", owner_table=spec.owner_table)
    statement = insert_front_links_statement(session, spec, in_key_order(session, missing))
    session.execute(session.sql("links/set_insert_settings.sql"))
    inserted = 0
    for after, upto in pending_slices(session, slice_rows):
        params = {
            "after_conversation": after and after[0],
            "after_owner": after and after[1],
            "upto_conversation": upto and upto[0],
            "upto_owner": upto and upto[1],
        }
        inserted += retry_in_savepoint(session.conn, statement, params)
    return inserted


def in_key_order(session: Session, links: sql.Composable) -> sql.Composed:
    """`links` (owner, conversation, its created_at) numbered in (conversation, owner) order, the unique pair's, as
    insert_front_links_statement takes them."""
    return session.sql("links/number_links_in_key_order.sql", links=links)


def insert_front_links_statement(
    session: Session, spec: FrontLinkTable, missing_links: sql.Composable, *, skip_existing: bool = True
) -> sql.Composed:
    """The insert of `missing_links` (owner, conversation, its created_at, the row's number in insert order) into
    `spec.table`, with new ids, skipping the pairs it holds; `skip_existing` False for a first fill's slices, known
    to hold none of them (the check costs each row a speculative insertion)."""
    skip = session.sql("links/skip_existing_front_links.sql", owner=spec.owner_column) if skip_existing else sql.SQL("")
    return session.sql(
        "links/insert_pending_front_links.sql",
        links=spec.table,
        owner=spec.owner_column,
        missing_links=missing_links,
        skip_existing=skip,
    )


def insert_staged_links(session: Session, spec: FrontLinkTable) -> int:
    """Insert the window's staged defined pairs (pg_temp.link_rows_staged) into its table, which holds no link in
    the same snapshot, inside the caller's transaction."""
    staged = session.sql("links/select_staged_link_rows.sql", owner=spec.owner_column)
    session.execute(session.sql("links/set_insert_settings.sql"))
    return session.execute(insert_front_links_statement(session, spec, in_key_order(session, staged))).rowcount


def insert_first_fill_links(session: Session, spec: FrontLinkTable, params: dict[str, object]) -> int:
    """Insert the next slice of the pairs this run's first fill staged (select_front_link_first_fill_pairs.sql binds
    `params`) into its table, inside the caller's transaction: the table holds none of them (it was empty when they were
    staged, no other writer has written since, and each slice commits once), so none is checked for. Without a
    foreign key yet, a pair whose owner or conversation the app deleted after the staging goes in too: adding the
    key removes it (ensure_foreign_keys); what the app changed after the staging is the late-change sensor's, as
    after any run."""
    staged = session.sql(
        "links/select_front_link_first_fill_pairs.sql", owner=spec.owner_column, first_fill=spec.first_fill_table
    )
    session.execute(session.sql("links/set_insert_settings.sql"))
    return session.execute(insert_front_links_statement(session, spec, staged, skip_existing=False), params).rowcount


def pending_slices(session: Session, slice_rows: int | None) -> list[tuple[PairBound, PairBound]]:
    """(after, upto] bounds of the slices of the missing links, in key order; one open slice when unsliced."""
    if slice_rows is None:
        return [(None, None)]
    ends = session.execute(
        session.sql("links/select_pending_front_link_slice_ends.sql"), {"slice_rows": slice_rows}
    ).fetchall()
    # The last slice is left open above: it takes the rest, fewer than slice_rows.
    bounds: list[PairBound] = [None, *(tuple(end) for end in ends)]
    return [(bounds[i], bounds[i + 1]) for i in range(len(ends))] + [(bounds[-1], None)]
