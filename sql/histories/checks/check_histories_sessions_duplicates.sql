-- Finds (crew_code, session_id, activity_date) grains stored more than once in histories_sessions within the window's days.
with duplicates as (
    select
        hs.crew_code,
        hs.session_id,
        hs.activity_date,
        count(*) as copies
    from {analytics}.histories_sessions as hs
    where hs.activity_date >= %(first_day)s
      and hs.activity_date < %(end_day)s
    group by hs.crew_code, hs.session_id, hs.activity_date
    having count(*) > 1
)

select
    'duplicate_grains' as problem,
    (select count(*) from duplicates) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.crew_code, s.session_id, s.activity_date), '[]'::jsonb)
        from (select * from duplicates order by 1, 2, 3 limit %(sample_limit)s) as s
    ) as samples;
