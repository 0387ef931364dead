-- The conversation_summaries rows whose span overlaps the window.
select cs.crew_code, cs.session_id
from {analytics}.conversation_summaries as cs
where cs.ended_at >= %(window_start)s
  and cs.started_at < %(window_end)s
