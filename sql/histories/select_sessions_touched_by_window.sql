-- Lists, in the column's own type, the sessions of one crew a full run recomputes: those with a message in the window,
-- and those whose stored summary overlaps the window (so a session whose messages were deleted is found too).
with window_sessions as (
    select distinct h.session_id
    from {source}.{histories_table} as h
    where h.created_at >= %(window_start)s
      and h.created_at < %(window_end)s
      -- A row without a session belongs to none (it is skipped and counted by histories_sessions).
      and h.session_id is not null
),

overlapping_summaries as (
    select cs.session_id
    from {analytics}.conversation_summaries as cs
    where cs.crew_code = %(crew_code)s
      and cs.ended_at >= %(window_start)s
      and cs.started_at < %(window_end)s
)

select ws.session_id
from window_sessions as ws
union
-- Compared in the column's own type so the session_id index serves the merge's lookup.
select os.session_id::{session_id_type}
from overlapping_summaries as os
