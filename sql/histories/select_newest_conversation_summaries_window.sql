-- Selects the newest conversation summaries that end in the window [window_start, window_end), at most preview_limit: a preview for the run's metadata (a backward scan of the ended_at index).
select
    cs.crew_code,
    cs.session_id,
    cs.client_code,
    cs.message_count,
    cs.started_at,
    cs.ended_at,
    cs.first_human_message
from {analytics}.conversation_summaries as cs
where cs.ended_at >= %(window_start)s
    and cs.ended_at < %(window_end)s
order by cs.ended_at desc
limit %(preview_limit)s
