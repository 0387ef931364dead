"""The differences a window's diff found, held by the run while batches of whole conversations apply them: packed,
in conversation order, with the moment of the diff's snapshot, so that a batch applies them as found for the
conversations the app has not changed since (diff_batches.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.postgres.timing import counted_as_sql

# Each difference: its conversation's uuid, its link's (zeros: a missing link) and its defined owner's (zeros: a
# link that lost its support), as select_packed_front_link_differences.sql packs them.
DIFFERENCE_BYTES = 48
CONVERSATION_BYTES = 16
NO_ID = uuid.UUID(int=0)
# How many differences a diff hands over at most (whole conversations: the last one's all), those first in
# conversation order; the window is then diffed again, which finds the rest. 96 MB of the run's memory at most:
# a catch-up after a fill of ten million conversations beside a busy app can find over a million: one handover.
DIFFERENCES_PER_HANDOVER = 2_000_000
DIFFERENCES_PER_FETCH = 10_000
# What a run remembers of each conversation it handed to batches, to tell later which of the conversations the app
# wrote since it had applied as found: the last 8 bytes of its id, random in the UUIDs apps make (v4, v7). Two
# conversations sharing them only costs diffing one again for nothing. 8 MB a million conversations.
HELD_ID_TAIL_BYTES = 8


@dataclass(frozen=True)
class DiffStart:
    """Where a diff started, before it read anything: the database's now(), and a snapshot (pg_snapshot as text)."""

    at: datetime
    snapshot: str


def diff_start(session: Session) -> DiffStart:
    """Read inside the diff's transaction before its first read of the source (select_diff_start.sql)."""
    return DiffStart(*session.execute(session.sql("links/select_diff_start.sql")).fetchone())


@dataclass(frozen=True)
class HeldDifferences:
    """Differences of whole conversations, packed in conversation order; how many conversations they hold, whether
    the diff found more than it handed over, and where the diff started."""

    packed: bytearray
    conversations: int
    more: bool
    started: DiffStart | None

    def __len__(self) -> int:
        return self.conversations


NOTHING_CHANGED = HeldDifferences(bytearray(), 0, more=False, started=None)


@dataclass(frozen=True)
class HeldBatch:
    """A batch of whole conversations (their ids in order) and their held differences, packed."""

    conversations: list[str]
    packed: bytes


def hold_differences(session: Session, started: DiffStart) -> HeldDifferences:
    """The first DIFFERENCES_PER_HANDOVER differences of the diff that `started` (pg_temp.front_link_differences),
    whole conversations, read a page of rows at a time inside the diff's transaction, and whether there are more."""
    packed = bytearray()
    conversations, more = 0, False
    last = b""
    # A server-side cursor, closed before the transaction ends; its fetches count as the step's SQL too.
    with counted_as_sql(session.conn), session.conn.cursor(name="held_front_link_differences") as held:
        held.itersize = DIFFERENCES_PER_FETCH
        held.execute(session.sql("links/select_packed_front_link_differences.sql"))
        for (difference,) in held:
            conversation = difference[:CONVERSATION_BYTES]
            if conversation != last:
                if len(packed) >= DIFFERENCES_PER_HANDOVER * DIFFERENCE_BYTES:
                    more = True
                    break
                conversations, last = conversations + 1, conversation
            packed += difference
    return HeldDifferences(packed, conversations, more=more, started=started)


def conversation_batches(held: HeldDifferences, batch_rows: int) -> Iterator[HeldBatch]:
    """The held conversations cut in their order into batches whose differences add up to at most `batch_rows` (a
    conversation with more is a batch of its own): every conversation's differences in one batch. Made one at a time,
    so that only the packed differences stay in memory."""
    start = 0
    conversations: list[str] = []
    for conversation, at, end in conversation_spans(held.packed):
        if conversations and (end - start) // DIFFERENCE_BYTES > batch_rows:
            yield HeldBatch(conversations, bytes(held.packed[start:at]))
            start, conversations = at, []
        conversations.append(str(uuid.UUID(bytes=conversation)))
    if conversations:
        yield HeldBatch(conversations, bytes(held.packed[start:]))


def conversation_spans(packed: bytearray) -> Iterator[tuple[bytes, int, int]]:
    """Each conversation of `packed` differences in their order: its uuid's bytes, where its differences start
    and end."""
    at = 0
    while at < len(packed):
        conversation = bytes(packed[at : at + CONVERSATION_BYTES])
        end = at + DIFFERENCE_BYTES
        while end < len(packed) and packed[end : end + CONVERSATION_BYTES] == conversation:
            end += DIFFERENCE_BYTES
        yield conversation, at, end
        at = end


def held_id_tail(conversation: str) -> bytes:
    """What a run remembers of a conversation it handed to batches (HELD_ID_TAIL_BYTES)."""
    return uuid.UUID(conversation).bytes[-HELD_ID_TAIL_BYTES:]


def among_held(conversations: Iterable[str], held_tails: bytes | bytearray) -> list[str]:
    """Those of `conversations` whose id's tail is among `held_tails` (held_id_tail's, end to end), in order."""
    wanted: dict[bytes, list[str]] = {}
    for conversation in conversations:
        wanted.setdefault(held_id_tail(conversation), []).append(conversation)
    held: list[str] = []
    for at in range(0, len(held_tails), HELD_ID_TAIL_BYTES):
        held += wanted.pop(bytes(held_tails[at : at + HELD_ID_TAIL_BYTES]), [])
    return sorted(held)
