-- What the application's running statements wait on at this instant, counted by wait event ('CPU' when none): a lock, the WAL flush of a commit (IO:WALSync), a data file read. Sampled with the lock polls, it tells what a slow app statement waited for when it was not a lock.
select
    coalesce(activity.wait_event_type || ':' || activity.wait_event, 'CPU') as waiting_on,
    count(*) as backends
from pg_stat_activity as activity
where
    activity.datname = current_database()
    and activity.application_name = %(application_name)s
    and activity.state = 'active'
group by 1
