-- Lists ALL the messages that count of the session-days that received one at or after the crew's watermark less the late-commit overlap,
-- with their session as text, UTC day and type, plus the new rows that are skipped (with their skip_reason, to be counted), for merge_histories_sessions.sql.
-- The new messages come from a created_at range scan; their session-days are read back by session_id (always indexed).
with new_rows as materialized (
    select
        history.session_id,
        history.created_at,
        row_check.skip_reason
    from {histories_rows} as history
    cross join lateral ({row_skip_reason}) as row_check -- noqa: ST05
    where
        history.created_at >= greatest(%(window_start)s, %(watermark)s - %(late_commit_overlap)s)
        and history.created_at < %(window_end)s
),

new_session_days as materialized (
    select distinct
        new_row.session_id,
        (new_row.created_at::timestamptz at time zone 'UTC')::date as activity_date
    from new_rows as new_row
    where new_row.skip_reason is null
)

select
    history.session_id::text as session_id,
    new_session_day.activity_date,
    history.created_at::timestamptz as created_at,
    row_check.skip_reason,
    case
        when row_check.skip_reason is not null then null
        when {message_typeof}({message}) = 'object' then {message} ->> 'type'
    end as message_type
from {histories_rows} as history
cross join lateral ({row_skip_reason}) as row_check -- noqa: ST05
inner join new_session_days as new_session_day
    on
        new_session_day.session_id = history.session_id
        and new_session_day.activity_date = (history.created_at::timestamptz at time zone 'UTC')::date
-- The planner cannot size an array built at run time, so this keeps the read on the session_id index
-- even when the new session-days are estimated many (a join alone may pick a scan of the whole table).
where
    history.session_id = any(array(select listed_session_day.session_id from new_session_days as listed_session_day))
    -- Older skipped rows of these session-days are not new: a full run counts them.
    and row_check.skip_reason is null

union all

select
    new_row.session_id::text as session_id,
    null::date as activity_date,
    new_row.created_at::timestamptz as created_at,
    new_row.skip_reason,
    null::text as message_type
from new_rows as new_row
where new_row.skip_reason is not null
