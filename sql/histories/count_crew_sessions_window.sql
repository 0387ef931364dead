-- Counts one crew's distinct sessions with a row within the window's days: a window merged in several slices reports this instead of a sum, which would count twice a session spanning two slices.
select count(distinct histories_session.session_id) as sessions
from {analytics}.histories_sessions as histories_session
where
    histories_session.crew_code = %(crew_code)s
    and histories_session.activity_date >= %(first_day)s
    and histories_session.activity_date < %(end_day)s
