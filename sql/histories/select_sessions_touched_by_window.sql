-- Lists, in the column's own type, the sessions of one crew a full run recomputes: those with a message in the window,
-- and those whose stored summary overlaps the window (so a session whose messages were deleted is found too).
with window_sessions as (
    select distinct history.session_id
    from {histories_rows} as history
    where
        history.created_at >= %(window_start)s
        and history.created_at < %(window_end)s
        -- A row without a session belongs to none (it is skipped and counted by histories_sessions).
        and history.session_id is not null
),

overlapping_summaries as (
    select summary.session_id
    from {analytics}.conversation_summaries as summary
    where
        summary.crew_code = %(crew_code)s
        and summary.ended_at >= %(window_start)s
        and summary.started_at < %(window_end)s
)

select window_session.session_id
from window_sessions as window_session
union
-- Compared in the column's own type so the session_id index serves the merge's lookup.
select overlapping_summary.session_id::{session_id_type}
from overlapping_summaries as overlapping_summary
