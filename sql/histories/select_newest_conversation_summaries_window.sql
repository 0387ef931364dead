-- Selects the newest conversation summaries that end in the window [window_start, window_end), at most preview_limit: a preview for the run's metadata (a backward scan of the ended_at index).
select
    summary.crew_code,
    summary.session_id,
    summary.client_code,
    summary.message_count,
    summary.started_at,
    summary.ended_at,
    summary.first_human_message
from {analytics}.conversation_summaries as summary
where
    summary.ended_at >= %(window_start)s
    and summary.ended_at < %(window_end)s
order by summary.ended_at desc
limit %(preview_limit)s
