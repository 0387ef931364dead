-- The histories_sessions rows of the window's days: every copy of their grains too, since the copies share the day.
select hs.crew_code, hs.session_id, hs.activity_date
from {analytics}.histories_sessions as hs
where hs.activity_date >= %(first_day)s
  and hs.activity_date < %(end_day)s
