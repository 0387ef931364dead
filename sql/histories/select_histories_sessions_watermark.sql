-- Finds the newest message time the histories_sessions rows of the run's day of one crew (alias crew, the embedding statement's: no FROM of its own for it) account for (null when the crew has no row there):
-- the end of one range of the (crew_code, activity_date, last_message_at) index, whatever the size of the day.
-- Only runs covering the day write its rows, and each read all of the day's committed messages.
-- Rows dated after now (a writer's clock ahead) are left out of the watermark: they would hide messages written since.
-- day_written: whether that watermark exists, the crew's day written by a run that read it.
-- noqa: disable=RF01
select
    max(histories_session.last_message_at) as watermark,
    max(histories_session.last_message_at) is not null as day_written
from {analytics}.histories_sessions as histories_session
where
    histories_session.crew_code = crew.crew_code
    and histories_session.activity_date = %(first_day)s
    and histories_session.last_message_at <= now()
