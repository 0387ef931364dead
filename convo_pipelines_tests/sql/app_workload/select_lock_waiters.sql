-- Every backend of this database waiting for a heavyweight lock: its application, what blocks it (and which of those are the pipeline's), how long its statement has run, what it awaits.
select
    waiter.pid,
    waiter.application_name,
    waiter.query_start,
    extract(epoch from clock_timestamp() - waiter.query_start) * 1000 as waited_ms,
    blocking.pids as blocking_pids,
    array(
        select blocker.pid
        from pg_stat_activity as blocker
        where
            blocker.pid = any(blocking.pids)
            and blocker.application_name = %(pipeline_application_name)s
    ) as blocking_pipeline_pids,
    -- A row lock is awaited as the holder's transaction id: no relation, the lock type says so.
    coalesce(awaited.relation::regclass::text, awaited.locktype) as awaited_relation,
    awaited.mode as awaited_mode,
    left(waiter.query, 1000) as query
from pg_stat_activity as waiter
-- Lateral subqueries read the waiter's row: they cannot be CTEs.
cross join lateral (select pg_blocking_pids(waiter.pid) as pids) as blocking -- noqa: ST05
left join lateral ( -- noqa: ST05
    select
        lock.relation,
        lock.locktype,
        lock.mode
    from pg_locks as lock
    where
        lock.pid = waiter.pid
        and not lock.granted
    limit 1
) as awaited on true
where
    waiter.datname = current_database()
    -- The wait is read live but the statement from the activity snapshot: 'active' keeps an idle
    -- backend's previous statement from being taken for the one that just began to wait.
    and waiter.state = 'active'
    and waiter.wait_event_type = 'Lock'
