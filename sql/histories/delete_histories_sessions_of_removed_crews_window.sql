-- Deletes the window's histories_sessions rows of crews that are no longer in the crews table.
delete from {analytics}.histories_sessions as hs
where hs.activity_date >= %(first_day)s
  and hs.activity_date < %(end_day)s
  and not exists (select 1 from {source}.crews as cr where cr.code = hs.crew_code)
