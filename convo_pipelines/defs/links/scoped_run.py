"""The late-change sensor's scoped run of a Front link table: only the conversations it names, which is as exact as
a whole-window run for every change the sensor can see, at a fraction of the cost. Read top to bottom:

1. one transaction diffs the named conversations, their defined pairs computed in place through the source's
   indexes, and deletes, refreshes and inserts their links, so each conversation changes at once;
2. when they change more links than a batch, they go by batches of whole conversations instead (diff_batches.py);
3. make the foreign keys whole, and report (the table is not counted: that would cost more than the run).
"""

from __future__ import annotations

from convo_pipelines.defs.links.config import FrontLinksConfig
from convo_pipelines.defs.links.diff_batches import make_exact_by_batches
from convo_pipelines.defs.links.link_diff import diff_named_conversations
from convo_pipelines.defs.links.run_outcome import FrontRun, finish_front_run
from convo_pipelines.defs.links.table_state.indexes import in_front_transaction
from convo_pipelines.defs.links.tables import FrontLinkTable
from convo_pipelines.defs.links.windows import Chunk, RunWindow
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.postgres.timing import StepClock


def make_conversations_exact(
    session: Session, spec: FrontLinkTable, window: RunWindow, scope: list[str], config: FrontLinksConfig
) -> FrontRun:
    """Make the links of the conversations in `scope` (those of them created in the window) exact."""
    clock = StepClock()
    named = Chunk(window.start, window.end, len(scope))
    batch_rows = config.max_insert_batch_rows

    def diff():
        return in_front_transaction(
            session,
            spec,
            lambda _owns: diff_named_conversations(session, spec, named, scope, batch_rows, count_window=True),
        )

    counts, changed = diff()
    if len(changed):
        counts.add_writes(make_exact_by_batches(session, spec, named, changed, batch_rows, diff))
    return finish_front_run(session, spec, "scoped", 1, counts, clock, scope=scope)
