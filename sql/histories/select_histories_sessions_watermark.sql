-- Finds the newest message time one crew's histories_sessions rows of the window's day account for (null when the crew has no row there),
-- and those rows' figures, which an incremental merge then adjusts by what it changes (one read of the day's rows for both).
-- Only runs covering the day write its rows, and each read all of the day's committed messages.
-- Rows dated after now (a writer's clock ahead) are left out of the watermark: they would hide messages written since.
select
    max(hs.last_message_at) filter (where hs.last_message_at <= now()) as watermark,
    count(*) as stored_rows,
    coalesce(sum(hs.message_count), 0) as stored_messages,
    coalesce(sum(hs.malformed_message_count), 0) as stored_malformed_messages
from {analytics}.histories_sessions as hs
where hs.crew_code = %(crew_code)s
  and hs.activity_date >= %(first_day)s
  and hs.activity_date < %(end_day)s
