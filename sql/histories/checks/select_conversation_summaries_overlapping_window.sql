-- The conversation_summaries rows whose span overlaps the window.
select
    summary.crew_code,
    summary.session_id
from {analytics}.conversation_summaries as summary
where
    summary.ended_at >= %(window_start)s
    and summary.started_at < %(window_end)s
