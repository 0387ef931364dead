-- Counts daily_conversation_stats rows within the window's days (the filter reaches histories_sessions' index).
select count(*)
from {analytics}.daily_conversation_stats as daily_stats
where
    daily_stats.activity_date >= %(first_day)s
    and daily_stats.activity_date < %(end_day)s
