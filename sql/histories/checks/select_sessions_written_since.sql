-- The sessions with a histories_sessions day or a conversation_summaries row changed at or after written_since (a run's writes),
-- both from the updated_at indexes.
select hs.crew_code, hs.session_id
from {analytics}.histories_sessions as hs
where hs.updated_at >= %(written_since)s
union
select cs.crew_code, cs.session_id
from {analytics}.conversation_summaries as cs
where cs.updated_at >= %(written_since)s
