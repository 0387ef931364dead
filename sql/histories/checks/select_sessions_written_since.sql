-- The sessions with a histories_sessions day or a conversation_summaries row changed at or after written_since (a run's writes),
-- both from the updated_at indexes.
select
    histories_session.crew_code,
    histories_session.session_id
from {analytics}.histories_sessions as histories_session
where histories_session.updated_at >= %(written_since)s
union
select
    summary.crew_code,
    summary.session_id
from {analytics}.conversation_summaries as summary
where summary.updated_at >= %(written_since)s
