-- Counts one crew's distinct sessions with a row within the window's days: a window merged in several slices reports this instead of a sum, which would count twice a session spanning two slices.
select count(distinct hs.session_id) as sessions
from {analytics}.histories_sessions as hs
where hs.crew_code = %(crew_code)s
  and hs.activity_date >= %(first_day)s
  and hs.activity_date < %(end_day)s
