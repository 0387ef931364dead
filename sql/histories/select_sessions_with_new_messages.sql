-- Lists, in the column's own type, the sessions of one crew with a message at or after the watermark less the late-commit overlap
-- (a created_at range scan): what an incremental run recomputes.
select distinct history.session_id
from {histories_rows} as history
where
    history.created_at >= greatest(%(window_start)s, %(watermark)s - %(late_commit_overlap)s)
    and history.created_at < %(window_end)s
    -- A row without a session belongs to none (it is skipped and counted by histories_sessions).
    and history.session_id is not null
