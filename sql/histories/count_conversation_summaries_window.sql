-- Counts conversation_summaries rows whose span overlaps the window (served by the ended_at index).
select count(*)
from {analytics}.conversation_summaries as summary
where
    summary.ended_at >= %(window_start)s
    and summary.started_at < %(window_end)s
