"""Run config of the link assets: how a Front run cuts its window into transactions and batches, and which
conversations a scoped run (the late-change sensor's) recomputes."""

# No `from __future__ import annotations`: Dagster reads the config class from the real annotation.
import uuid

import dagster as dg
from pydantic import Field

# Conversations per transaction while a table without its foreign keys is diffed: small enough that a logical
# subscriber applies each without holding much in memory, large enough to stay a few parallel statements each.
FILL_CHUNK_CONVERSATIONS = 50_000
# Links per transaction of a first fill that staged its pairs: the same bound for a subscriber, in links.
FILL_SLICE_LINKS = 100_000


class FrontLinksConfig(dg.Config):
    """Run configuration of the Front link assets."""

    max_chunk_conversations: int = Field(
        default=10_000_000,
        ge=1,
        description=(
            "When a range is diffed, consecutive days are grouped into transactions of at most this many "
            "conversations (a single busier day is one chunk). Every chunk reads every recipient once, in "
            "parallel, whatever its size, so fewer, larger chunks are faster (by default a range of up to "
            "10,000,000 conversations is one); smaller ones hold a shorter snapshot, and their deletes' row "
            "locks for less time."
        ),
    )
    max_fill_chunk_conversations: int = Field(
        default=FILL_CHUNK_CONVERSATIONS,
        ge=1,
        description=(
            "While the table has none of its foreign keys yet but holds links (what a killed first fill "
            "left), consecutive days are diffed in transactions of at most this many conversations, each "
            "committed on its own: a logical subscriber (Zero) receives the fill in bounded transactions, "
            "and a killed run keeps what it committed."
        ),
    )
    max_fill_slice_links: int = Field(
        default=FILL_SLICE_LINKS,
        ge=1,
        description=(
            "A first fill (the table empty, without its foreign keys) stages the pairs of its whole range "
            "once, then inserts them in transactions of about this many links, in conversation order, each "
            "ending with a conversation and committed on its own: the same bound for a logical subscriber, "
            "counted in links."
        ),
    )
    keep_newest_index_during_fill: bool = Field(
        default=False,
        description=(
            "A first fill drops the table's index by owner newest first and builds it once after its rows are in, "
            "which makes the fill several times faster, but until then the app's newest-first page of a person or "
            "a client reads the table without it (a scan that grows with the table). True keeps the index up row "
            "by row instead: slower fill, newest-first page as fast as ever."
        ),
    )
    max_insert_batch_rows: int = Field(
        default=1_000,
        ge=1,
        description=(
            "Once the table has its foreign keys, a window with more links to change (missing, lost or stale) "
            "than this changes them in transactions of whole conversations holding about this many changes, "
            "in conversation order: each transaction deletes, refreshes and inserts all the links of its "
            "conversations, so the app never reads a conversation between its old and its new links. "
            "Each insert's foreign-key checks hold the linked people and conversations against the app's "
            "deletes until commit, so a smaller batch makes the app's delete of a person wait less; a window "
            "with fewer changes (every usual run) is diffed in one transaction."
        ),
    )
    only_conversation_ids: list[str] = Field(
        default_factory=list,
        description=(
            "Recompute only these Front conversations of the window (what the late-change sensor asks "
            "for); empty recomputes the whole window."
        ),
    )

    def conversation_scope(self) -> list[str] | None:
        """The validated conversation ids of a scoped run, or None for a whole-window run."""
        return validated_conversation_scope(self.only_conversation_ids)


class ProjectLinksConfig(dg.Config):
    """Run configuration of project_conversations."""

    only_conversation_ids: list[str] = Field(
        default_factory=list,
        description=(
            "Reconcile only the links of these conversations (what the late-change sensor asks for when few "
            "changed); empty reconciles the whole table."
        ),
    )

    def conversation_scope(self) -> list[str] | None:
        """The validated conversation ids of a scoped run, or None for a whole-table run."""
        return validated_conversation_scope(self.only_conversation_ids)


def validated_conversation_scope(conversation_ids: list[str]) -> list[str] | None:
    """The distinct ids, sorted, or None when there are none; a run fails at once on a value that is not a uuid
    (a retry could not fix it)."""
    if not conversation_ids:
        return None
    for value in conversation_ids:
        try:
            uuid.UUID(value)
        except ValueError:
            raise dg.Failure(
                f"only_conversation_ids holds {value!r}, which is not a uuid", allow_retries=False
            ) from None
    return sorted(set(conversation_ids))
