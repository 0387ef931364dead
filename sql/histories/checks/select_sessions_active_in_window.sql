-- The sessions with a histories_sessions day in the window or a conversation_summaries span overlapping it.
select hs.crew_code, hs.session_id
from {analytics}.histories_sessions as hs
where hs.activity_date >= %(first_day)s
  and hs.activity_date < %(end_day)s
union
select cs.crew_code, cs.session_id
from {analytics}.conversation_summaries as cs
where cs.ended_at >= %(window_start)s
  and cs.started_at < %(window_end)s
