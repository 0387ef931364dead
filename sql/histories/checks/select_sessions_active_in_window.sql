-- The sessions with a histories_sessions day in the window or a conversation_summaries span overlapping it.
select
    histories_session.crew_code,
    histories_session.session_id
from {analytics}.histories_sessions as histories_session
where
    histories_session.activity_date >= %(first_day)s
    and histories_session.activity_date < %(end_day)s
union
select
    summary.crew_code,
    summary.session_id
from {analytics}.conversation_summaries as summary
where
    summary.ended_at >= %(window_start)s
    and summary.started_at < %(window_end)s
