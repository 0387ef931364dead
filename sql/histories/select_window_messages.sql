-- Lists every row of one crew's window (a created_at range scan) with its session as text, UTC day, type and skip_reason (null when it counts), for merge_histories_sessions.sql.
-- With count_undated (a full run), also the crew's rows in no partition's window (created_at null, or before or after every partition),
-- which no window ever reads: they are skipped too, so a full run counts them.
select
    history.session_id::text as session_id,
    (history.created_at::timestamptz at time zone 'UTC')::date as activity_date,
    history.created_at::timestamptz as created_at,
    row_check.skip_reason,
    case
        -- Skipped rows stay in the list to be counted, but their message may not be readable at all.
        when row_check.skip_reason is not null then null
        when {message_typeof}({message}) = 'object' then {message} ->> 'type'
    end as message_type
from {histories_rows} as history
cross join lateral ({row_skip_reason}) as row_check -- noqa: ST05
where
    (history.created_at >= %(window_start)s and history.created_at < %(window_end)s)
    or (
        %(count_undated)s
        and (
            history.created_at is null
            or history.created_at < %(timeline_start)s
            or history.created_at >= %(timeline_end)s
        )
    )
