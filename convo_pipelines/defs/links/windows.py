"""A run's window of conversations: its bounds, its chunks of consecutive days, what its SQL binds, and its write
counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import dagster as dg

from convo_pipelines.defs.links.tables import BEGINNING_OF_TIME, END_OF_TIME
from convo_pipelines.defs.partitions import partition_window
from convo_pipelines.lib.postgres.session import Session


@dataclass(frozen=True)
class RunWindow:
    """The conversations' created_at window [start, end) a run covers, in UTC: the first partition also links those
    created before PARTITIONS_START_DATE, and the last one, today's, those created after it."""

    start: datetime
    end: datetime
    start_label: str
    end_label: str
    one_day: bool  # one partition's own day: its counts are the partition's

    @classmethod
    def of(cls, context: dg.AssetExecutionContext) -> RunWindow:
        partition = partition_window(context)
        owning = partition.owning_later_dates()
        start, end = owning.bounds(BEGINNING_OF_TIME, END_OF_TIME)
        return cls(start, end, owning.start_label, owning.end_label, partition.one_day)

    @property
    def holds_every_conversation(self) -> bool:
        """Unbounded at both ends (every partition, the nightly reconcile's window): once the foreign keys have
        removed the orphans, its links are the table's, but for those of conversations with no created_at."""
        return spans_every_conversation(self.start, self.end)


def spans_every_conversation(start: datetime, end: datetime) -> bool:
    """Whether [start, end) is unbounded at both ends: every conversation with a created_at is in it."""
    return start == BEGINNING_OF_TIME and end == END_OF_TIME


@dataclass(frozen=True)
class Chunk:
    """A slice [start, end) of a run's window and how many conversations it holds."""

    start: datetime
    end: datetime
    conversations: int


@dataclass
class WriteCounts:
    rows_inserted: int = 0
    rows_deleted: int = 0
    rows_in_window: int = 0
    rows_updated: int = 0

    def add(self, other: WriteCounts) -> None:
        """Add another window's counts (its rows in window included)."""
        self.add_writes(other)
        self.rows_in_window += other.rows_in_window

    @property
    def rows_written(self) -> int:
        return self.rows_inserted + self.rows_updated + self.rows_deleted

    def add_writes(self, other: WriteCounts) -> None:
        """Add the writes of another transaction over this window (its rows in window are already counted)."""
        self.rows_inserted += other.rows_inserted
        self.rows_updated += other.rows_updated
        self.rows_deleted += other.rows_deleted


def chunk_window(
    start: datetime, end: datetime, day_counts: list[tuple[date, int]], max_conversations: int
) -> list[Chunk]:
    """Cut [start, end) at the starts of its UTC days into chunks of consecutive days holding at most
    `max_conversations` conversations each (a day above the cap alone). Days with none belong to a neighbour; a
    window with none gives no chunk."""
    chunks: list[Chunk] = []
    chunk_start, in_chunk = start, 0
    for day, conversations in day_counts:
        if in_chunk and in_chunk + conversations > max_conversations:
            cut = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            chunks.append(Chunk(chunk_start, cut, in_chunk))
            chunk_start, in_chunk = cut, 0
        in_chunk += conversations
    if in_chunk:
        chunks.append(Chunk(chunk_start, end, in_chunk))
    return chunks


def joined_chunks(chunks: list[Chunk], max_conversations: int) -> list[Chunk]:
    """Consecutive `chunks`, cut at the starts of UTC days, joined into chunks of at most `max_conversations`
    conversations each (chunk_window; a chunk above the cap alone)."""
    if not chunks:
        return []
    starts = [(chunk.start.date(), chunk.conversations) for chunk in chunks]
    return chunk_window(chunks[0].start, chunks[-1].end, starts, max_conversations)


def window_params(start: datetime, end: datetime, only_conversation_ids: list[str] | None = None) -> dict[str, object]:
    """What a Front link table's definition and its window's links bind: the conversations' created_at window [start, end),
    and the conversations a scoped run or a batch names."""
    return {"start": start, "end": end, "only_conversation_ids": only_conversation_ids}


def count_conversations_by_day(
    session: Session, conversations: str, start: datetime, end: datetime
) -> list[tuple[date, int]]:
    """(UTC day, conversations created that day) of `conversations` (front_conversations or conversations) in
    [start, end)."""
    statement = session.sql("links/count_conversations_by_day.sql", conversations=conversations)
    return [(day, count) for day, count in session.execute(statement, {"start": start, "end": end})]


def estimate_conversations(session: Session, conversations: str) -> int:
    """How many rows `conversations` (front_conversations or conversations) holds, as the planner estimates it."""
    params = {"source_schema": session.source_schema, "conversations": conversations}
    return session.execute(session.sql("links/select_conversations_estimate.sql"), params).fetchone()[0]


def day_chunks(
    session: Session, conversations: str, start: datetime, end: datetime, max_conversations: int
) -> list[Chunk]:
    """[start, end) of `conversations` cut into chunks of consecutive days of at most `max_conversations` (chunk_window)."""
    return chunk_window(start, end, count_conversations_by_day(session, conversations, start, end), max_conversations)
