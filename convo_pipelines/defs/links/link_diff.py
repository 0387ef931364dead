"""One diff of a Front link table's window, inside the caller's transaction: the window's defined pairs, as the join
gives them, full-joined with its stored links into pg_temp.front_link_differences (only the differences deduped);
then the lost deleted, the stale refreshed and the missing inserted, so links that stay keep their id and
created_at. With more differences than a transaction should hold, the diff changes nothing and hands the changed
conversations to batches instead (diff_batches.py). Every run that diffs (window_run.py, scoped_run.py, and the
batches themselves) goes through here.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from convo_pipelines.defs.links.front_inserts import insert_pending_links
from convo_pipelines.defs.links.held_differences import NOTHING_CHANGED, HeldDifferences, diff_start, hold_differences
from convo_pipelines.defs.links.tables import FrontLinkTable, front_definition
from convo_pipelines.defs.links.windows import Chunk, WriteCounts, spans_every_conversation, window_params
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.postgres.timing import TimedClientCursor

# Once the table has its foreign keys, the missing links go in by slices of this many, one statement each,
# retried alone (a savepoint) when the app deleted a person or conversation between the statement's
# snapshot and its foreign-key check: a retry meets only the app's deletes during one short statement, and
# converges. One statement for a whole batch is long enough to meet a delete in almost every attempt
# beside an app that deletes people often, and never converges.
PENDING_INSERT_SLICE_ROWS = 1_000


@dataclass(frozen=True)
class Differences:
    """How many links of a window pg_temp.front_link_differences holds to insert, to delete and to refresh."""

    missing: int
    lost: int
    stale: int

    @property
    def total(self) -> int:
        return self.missing + self.lost + self.stale


def diff_and_apply(
    session: Session,
    spec: FrontLinkTable,
    defined_rows: sql.Composable,
    params: dict[str, object],
    batch_rows: int | None,
    *,
    large: bool,
    keyed: bool,
    count_window: bool,
) -> tuple[WriteCounts, HeldDifferences]:
    """Inside the caller's transaction, make the window `params` names exact against `defined_rows`; with more than
    `batch_rows` differences (None: no limit), change nothing and return the changed conversations instead.
    `large`: a whole chunk, whose differences are analyzed for the statements that apply them. `keyed`: the table
    has its foreign keys, and the missing go in by slices. `count_window`: report how many links the window holds
    once exact."""
    started = diff_start(session)
    differences = find_differences(session, spec, defined_rows, params, analyze=large)
    in_window = held_links(session, spec, params) - differences.lost + differences.missing if count_window else 0
    if batch_rows is not None and differences.total > batch_rows:
        return WriteCounts(rows_in_window=in_window), hold_differences(session, started)
    counts = apply_differences(session, spec, differences, sliced=keyed)
    counts.rows_in_window = in_window
    return counts, NOTHING_CHANGED


def diff_named_conversations(
    session: Session,
    spec: FrontLinkTable,
    window: Chunk,
    conversation_ids: list[str],
    batch_rows: int | None,
    *,
    count_window: bool,
) -> tuple[WriteCounts, HeldDifferences]:
    """diff_and_apply for the named conversations of `window`, their defined pairs computed in place through the
    source's indexes (`batch_rows` None: apply every difference, however many)."""
    session.execute(session.sql("links/set_diff_settings.sql"))
    return diff_and_apply(
        session,
        spec,
        front_definition(session, spec, bulk=False, joined=True),
        window_params(window.start, window.end, conversation_ids),
        batch_rows,
        large=False,
        keyed=True,
        count_window=count_window,
    )


def find_differences(
    session: Session,
    spec: FrontLinkTable,
    defined_rows: sql.Composable,
    params: dict[str, object],
    *,
    analyze: bool,
    adding: bool = False,
) -> Differences:
    """Inside the caller's transaction, compare `defined_rows` with the window's stored links into
    pg_temp.front_link_differences (`adding` to the batch's differences it holds already); `analyze` a large one,
    whose pages the planner would misprice."""
    differences = session.sql(
        "links/select_front_link_differences.sql",
        links=spec.table,
        owner=spec.owner_column,
        defined_rows=defined_rows,
        window_links=window_links(session, spec, params),
    )
    into = "links/add_front_link_differences.sql" if adding else "links/create_front_link_differences.sql"
    TimedClientCursor(session.conn).execute(session.sql(into, differences=differences), params)
    if analyze:
        session.execute(session.sql("links/analyze_front_link_differences.sql"))
    return count_differences(session)


def count_differences(session: Session) -> Differences:
    """How many links pg_temp.front_link_differences holds to insert, delete and refresh."""
    return Differences(*session.execute(session.sql("links/count_front_link_differences.sql")).fetchone())


def apply_differences(session: Session, spec: FrontLinkTable, differences: Differences, *, sliced: bool) -> WriteCounts:
    """Inside the caller's transaction: delete the lost links, refresh the stale, insert the missing (by slices of
    PENDING_INSERT_SLICE_ROWS when `sliced`: the table has its foreign keys)."""
    identifiers = {"links": spec.table, "owner": spec.owner_column}
    updated, deleted = session.execute(session.sql("links/apply_front_link_differences.sql", **identifiers)).fetchone()
    slice_rows = PENDING_INSERT_SLICE_ROWS if sliced else None
    inserted = insert_pending_links(session, spec, slice_rows) if differences.missing else 0
    return WriteCounts(rows_inserted=inserted, rows_updated=updated, rows_deleted=deleted)


def held_links(session: Session, spec: FrontLinkTable, params: dict[str, object]) -> int:
    """How many links the window's conversations (only the named ones, when `params` names some) hold now."""
    statement = session.sql("links/count_front_links_window.sql", window_links=window_links(session, spec, params))
    return session.execute(statement, params).fetchone()[0]


def window_links(session: Session, spec: FrontLinkTable, params: dict[str, object]) -> sql.Composed:
    """The stored links of the window `params` binds: those of every conversation read from the table alone when
    it is unbounded and names none (select_front_links_of_every_conversation.sql), else through the window's
    conversations (select_front_links_of_window.sql)."""
    every = params["only_conversation_ids"] is None and spans_every_conversation(params["start"], params["end"])
    name = "links/select_front_links_of_every_conversation.sql" if every else "links/select_front_links_of_window.sql"
    return session.sql(name, links=spec.table, owner=spec.owner_column)
