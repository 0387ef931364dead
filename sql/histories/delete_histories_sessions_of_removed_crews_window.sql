-- Deletes the window's histories_sessions rows of crews that are no longer in the crews table.
delete from {analytics}.histories_sessions as histories_session
where
    histories_session.activity_date >= %(first_day)s
    and histories_session.activity_date < %(end_day)s
    and not exists (select 1 from {source}.crews as crew where crew.code = histories_session.crew_code)
