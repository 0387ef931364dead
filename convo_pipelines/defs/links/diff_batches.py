"""When a diff (link_diff.py) finds more changes than a transaction should hold: the changed conversations made
exact by batches of whole conversations, so that the app never reads a conversation between its old links and its
new ones. The runs that diff (window_run.py, scoped_run.py) hand their changed conversations here.

A batch applies the differences the diff found (held_differences.py), but diffs again, through the source's
foreign-key indexes, the conversations the app wrote since (written_since.py tells which). With the indexes the
late_change_indexes check recommends, each batch looks before it writes. Without them a look reads the source
tables whole: the batches apply all they hold, and one look after them finds the conversations to diff again. Either
way each conversation's links change in one transaction, from one consistent state to another.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from convo_pipelines.defs.links.held_differences import (
    NO_ID,
    DiffStart,
    HeldBatch,
    HeldDifferences,
    among_held,
    conversation_batches,
    held_id_tail,
)
from convo_pipelines.defs.links.link_diff import (
    apply_differences,
    count_differences,
    diff_named_conversations,
    find_differences,
)
from convo_pipelines.defs.links.table_state.indexes import in_front_transaction
from convo_pipelines.defs.links.tables import FrontLinkTable, front_definition
from convo_pipelines.defs.links.windows import Chunk, WriteCounts, window_params
from convo_pipelines.defs.links.written_since import (
    Look,
    WrittenSince,
    how_to_look,
    look_again,
    nothing_written_since,
)
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.writing.progress import Progress

# A window's changed conversations go in batches of a fraction of a second each, hundreds in a catch-up: their
# progress is logged at most this often.
BATCH_PROGRESS_SECONDS = 5.0

LOG = dg.get_dagster_logger(__name__)


def make_exact_by_batches(
    session: Session,
    spec: FrontLinkTable,
    window: Chunk,
    changed: HeldDifferences,
    batch_rows: int,
    diff_again: Callable[[], tuple[WriteCounts, HeldDifferences]],
) -> WriteCounts:
    """Make the changed conversations exact by batches of whole conversations holding about `batch_rows` changes,
    each a transaction that deletes, refreshes and inserts all their links: as the diff found them, and those the
    app wrote since diffed again (see the module's docstring). Each insert's foreign-key checks key-share the linked
    people (or clients) and conversations until commit, and an app DELETE of one of them waits that long. When the
    diff found more than it handed over, `diff_again` (the caller's diff of its window, in a transaction) finds the
    rest."""
    counts = WriteCounts()
    look = how_to_look(session, len(changed))
    first_diff = changed.started
    held_tails = bytearray()  # each held conversation's held_id_tail, when a look after the batches needs them
    while len(changed):
        progress = batch_progress(spec, "changed conversations", len(changed))
        handover_counts, rediffed = apply_by_batches(
            session, spec, window, changed, batch_rows, look, progress, held_tails
        )
        counts.add_writes(handover_counts)
        LOG.info(
            f"{spec.table}: {len(changed) - rediffed:,} changed conversations applied as the diff found them, "
            f"{rediffed:,} diffed again ({look.value})"
        )
        if not changed.more:
            break
        more_counts, changed = diff_again()
        counts.add_writes(more_counts)
    if look is Look.AFTER_THE_BATCHES and first_diff is not None:
        counts.add_writes(diff_written_since(session, spec, window, first_diff, held_tails, batch_rows))
    return counts


def batch_progress(spec: FrontLinkTable, what: str, conversations: int) -> Progress:
    """Progress over `conversations` made exact by batches, logged at most every BATCH_PROGRESS_SECONDS."""
    return Progress(
        LOG.info,
        f"{spec.table}: {what}",
        total_steps=conversations,
        unit="conversations",
        every_seconds=BATCH_PROGRESS_SECONDS,
    )


def apply_by_batches(
    session: Session,
    spec: FrontLinkTable,
    window: Chunk,
    changed: HeldDifferences,
    batch_rows: int,
    look: Look,
    progress: Progress | None,
    held_tails: bytearray | None,
) -> tuple[WriteCounts, int]:
    """Apply the handed-over differences by batches, advancing `progress`; those the app wrote since the diff, as
    `look` tells them, diffed again instead. With a look after the batches, each conversation's held_id_tail goes
    to `held_tails`. Returns the writes and how many conversations were diffed again."""
    counts = WriteCounts()
    written = nothing_written_since(changed.started) if changed.started else None
    rediffed = 0
    for batch in conversation_batches(changed, batch_rows):
        batch_counts, touched, written = in_front_transaction(
            session,
            spec,
            lambda _owns, batch=batch, written=written: apply_batch(session, spec, window, batch, look, written),
        )
        counts.add_writes(batch_counts)
        rediffed += touched
        if look is Look.AFTER_THE_BATCHES and held_tails is not None:
            held_tails += b"".join(held_id_tail(conversation) for conversation in batch.conversations)
        if progress is not None:
            progress.advance(rows=batch_counts.rows_written, steps=len(batch.conversations))
    return counts, rediffed


def apply_batch(
    session: Session, spec: FrontLinkTable, window: Chunk, batch: HeldBatch, look: Look, written: WrittenSince | None
) -> tuple[WriteCounts, int, WrittenSince | None]:
    """Inside the caller's transaction, make the batch's conversations exact: those the app wrote since the diff
    (as `look` tells them; all, told not at all) diffed again through the source's indexes, the others by the
    differences held for them. Returns the writes, how many conversations were diffed again, and what the app wrote
    as this transaction sees it."""
    if look is Look.NOT_AT_ALL or written is None:
        counts, _ = diff_named_conversations(session, spec, window, batch.conversations, None, count_window=False)
        return counts, len(batch.conversations), written
    if look is Look.BEFORE_EACH_BATCH:
        written = look_again(session, written)
    touched = [conversation for conversation in batch.conversations if conversation in written.conversations]
    held = session.sql("links/select_held_front_link_differences.sql")
    session.execute(
        session.sql("links/create_front_link_differences.sql", differences=held),
        {"held": batch.packed, "touched": touched, "no_id": NO_ID},
    )
    if touched:
        session.execute(session.sql("links/set_diff_settings.sql"))
        find_differences(
            session,
            spec,
            front_definition(session, spec, bulk=False, joined=True),
            window_params(window.start, window.end, touched),
            analyze=False,
            adding=True,
        )
    differences = count_differences(session)
    return apply_differences(session, spec, differences, sliced=True), len(touched), written


def diff_written_since(
    session: Session,
    spec: FrontLinkTable,
    window: Chunk,
    first_diff: DiffStart,
    held_tails: bytearray,
    batch_rows: int,
) -> WriteCounts:
    """After batches that applied their differences without looking: one look for the conversations the app wrote
    since the first diff, and those the batches applied as found (their held_id_tail in `held_tails`) diffed again,
    in transactions of up to `batch_rows` conversations (their changes by batches, as found, when more than
    `batch_rows`). What the app wrote to other conversations, and writes after the look, are the late-change
    sensor's, as after any run."""
    written = look_again(session, nothing_written_since(first_diff)).conversations
    applied_stale = among_held(written, held_tails)
    counts = WriteCounts()
    progress = batch_progress(spec, "conversations the app wrote since the diff", len(applied_stale))
    for at in range(0, len(applied_stale), batch_rows):
        named = applied_stale[at : at + batch_rows]
        group_counts, held = in_front_transaction(
            session,
            spec,
            lambda _owns, named=named: diff_named_conversations(
                session, spec, window, named, batch_rows, count_window=False
            ),
        )
        if len(held):
            # A diff of just now: its changes are applied as found, with no look and nothing more to remember.
            held_counts, _ = apply_by_batches(
                session, spec, window, held, batch_rows, Look.AFTER_THE_BATCHES, None, None
            )
            group_counts.add_writes(held_counts)
        counts.add_writes(group_counts)
        progress.advance(rows=group_counts.rows_written, steps=len(named))
    LOG.info(
        f"{spec.table}: {len(applied_stale):,} conversations the app wrote since the diff diffed again after the "
        f"batches (of {len(written):,} it wrote)"
    )
    return counts
