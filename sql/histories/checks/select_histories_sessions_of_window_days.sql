-- The histories_sessions rows of the window's days: every copy of their grains too, since the copies share the day.
select
    histories_session.crew_code,
    histories_session.session_id,
    histories_session.activity_date
from {analytics}.histories_sessions as histories_session
where
    histories_session.activity_date >= %(first_day)s
    and histories_session.activity_date < %(end_day)s
