-- Lists every message of one crew's window (a created_at range scan) with its session as text, UTC day and type, for merge_histories_sessions.sql.
select
    h.session_id::text as session_id,
    (h.created_at at time zone 'UTC')::date as activity_date,
    h.created_at,
    case when {message_typeof}({message}) = 'object' then {message} ->> 'type' end as message_type
from {source}.{histories_table} as h
where h.created_at >= %(window_start)s
  and h.created_at < %(window_end)s
