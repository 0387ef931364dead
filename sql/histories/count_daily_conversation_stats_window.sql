-- Counts daily_conversation_stats rows within the window's days (the filter reaches histories_sessions' index).
select count(*)
from {analytics}.daily_conversation_stats as dcs
where dcs.activity_date >= %(first_day)s
  and dcs.activity_date < %(end_day)s
