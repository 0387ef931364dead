-- Counts histories_sessions rows within the window's days (served by the activity_date index).
select count(*)
from {analytics}.histories_sessions as histories_session
where
    histories_session.activity_date >= %(first_day)s
    and histories_session.activity_date < %(end_day)s
