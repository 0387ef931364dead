-- Lists ALL the messages of the session-days that received a message at or after the crew's watermark less the late-commit overlap,
-- with their session as text, UTC day and type, for merge_histories_sessions.sql.
-- The new messages come from a created_at range scan; their session-days are read back by session_id (always indexed).
with new_session_days as materialized (
    select distinct
        nm.session_id,
        (nm.created_at at time zone 'UTC')::date as activity_date
    from {source}.{histories_table} as nm
    where nm.created_at >= greatest(%(window_start)s, %(watermark)s - %(late_commit_overlap)s)
      and nm.created_at < %(window_end)s
)

select
    h.session_id::text as session_id,
    nsd.activity_date,
    h.created_at,
    case when {message_typeof}({message}) = 'object' then {message} ->> 'type' end as message_type
from {source}.{histories_table} as h
inner join new_session_days as nsd
    on nsd.session_id = h.session_id
   and nsd.activity_date = (h.created_at at time zone 'UTC')::date
-- The planner cannot size an array built at run time, so this keeps the read on the session_id index
-- even when the new session-days are estimated many (a join alone may pick a scan of the whole table).
where h.session_id = any(array(select nsd_ids.session_id from new_session_days as nsd_ids))
