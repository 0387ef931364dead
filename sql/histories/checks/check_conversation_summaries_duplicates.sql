-- Finds (crew_code, session_id) grains stored more than once in conversation_summaries among summaries overlapping the window.
with duplicates as (
    select
        cs.crew_code,
        cs.session_id,
        count(*) as copies
    from {analytics}.conversation_summaries as cs
    where cs.ended_at >= %(window_start)s
      and cs.started_at < %(window_end)s
    group by cs.crew_code, cs.session_id
    having count(*) > 1
)

select
    'duplicate_grains' as problem,
    (select count(*) from duplicates) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.crew_code, s.session_id), '[]'::jsonb)
        from (select * from duplicates order by 1, 2 limit %(sample_limit)s) as s
    ) as samples;
