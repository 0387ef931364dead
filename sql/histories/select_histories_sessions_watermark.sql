-- Finds the newest message time one crew's histories_sessions rows of the run's day account for (null when the crew has no row there):
-- the end of one range of the (crew_code, activity_date, last_message_at) index, whatever the size of the day.
-- Only runs covering the day write its rows, and each read all of the day's committed messages.
-- Rows dated after now (a writer's clock ahead) are left out of the watermark: they would hide messages written since.
select max(hs.last_message_at) as watermark
from {analytics}.histories_sessions as hs
where hs.crew_code = %(crew_code)s
  and hs.activity_date = %(first_day)s
  and hs.last_message_at <= now()
