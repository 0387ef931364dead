"""Run config of the discovery assets: whole windows or only new messages, and transactions' size."""

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE

if TYPE_CHECKING:
    from convo_pipelines.defs.histories.window import Window

# A full run's slice of a crew's window, one transaction each (DiscoveryConfig.max_days_per_transaction).
SLICE_DAYS = 7


class DiscoveryConfig(dg.Config):
    """Run configuration of the discovery job's assets (histories_sessions, conversation_summaries, daily_conversation_stats)."""

    only_new_messages: bool = Field(
        default=False,
        description=(
            "What a discovery schedule tick over today sends. True: per crew, read only the messages "
            "written since the newest one the table already accounts for in the run's day (less "
            f"{int(LATE_COMMIT_ALLOWANCE.total_seconds() // 60)} minutes for transactions that commit late), then recompute "
            "exactly the session-days (histories_sessions) or sessions over all their days "
            "(conversation_summaries) they touch. A crew with no row in the day, and any run of more "
            "than one day, is recomputed fully. Deleted messages and removed crews' rows are not seen "
            "this way, and the window's row counts are skipped. False (the default: manual runs and backfills): recompute the whole window "
            "exactly, deletions included."
        ),
    )

    max_days_per_transaction: int = Field(
        default=SLICE_DAYS,
        ge=1,
        description=(
            "A full run over more days than this merges each crew's window in consecutive slices of at most this "
            "many UTC days, each committed on its own under the crew's lock: a logical subscriber (Zero) receives "
            "a first backfill in bounded transactions, and a killed run keeps the slices it committed. A crew "
            "whose created_at has no index is merged in one transaction (each slice would read its whole table)."
        ),
    )

    only_crews: list[str] | None = Field(
        default=None,
        description=(
            "What the discovery sensor sends: merge only these crew codes (each still in its own transaction, a bad "
            "one skipped with its reason), leaving every other crew's rows as they are. None (the default): every crew."
        ),
    )

    def applies_to(self, window: "Window") -> bool:
        """True when this run reads only new messages: asked for, and the window is one day (a watermark
        per day is sound only when every run that wrote the day read all of it)."""
        return self.only_new_messages and window.one_day
