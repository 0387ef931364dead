-- Counts histories_sessions rows within the window's days (served by the activity_date index).
select count(*)
from {analytics}.histories_sessions as hs
where hs.activity_date >= %(first_day)s
  and hs.activity_date < %(end_day)s
