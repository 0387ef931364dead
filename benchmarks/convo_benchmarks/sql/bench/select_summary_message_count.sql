-- Gives the message count conversation_summaries holds for one crew's session (no row: not discovered yet).
select summary.message_count
from {analytics}.conversation_summaries as summary
where
    summary.crew_code = %(crew_code)s
    and summary.session_id = %(session_id)s
