-- Finds the scoped sessions whose conversation_summaries counts differ from the sum of their histories_sessions days
-- (a summary without days, or days without a summary, count too). The sessions are bound in as a file: those active in the
-- window (select_sessions_active_in_window.sql) or those a run changed a row of (select_sessions_written_since.sql).
with scoped_sessions as (
    {scoped_sessions}
),

day_totals as (
    select
        hs.crew_code,
        hs.session_id,
        sum(hs.message_count) as message_count,
        sum(hs.human_message_count) as human_message_count,
        sum(hs.ai_message_count) as ai_message_count
    from {analytics}.histories_sessions as hs
    join scoped_sessions as ss
        on ss.crew_code = hs.crew_code
       and ss.session_id = hs.session_id
    group by hs.crew_code, hs.session_id
),

summaries as (
    select cs.crew_code, cs.session_id, cs.message_count, cs.human_message_count, cs.ai_message_count
    from {analytics}.conversation_summaries as cs
    join scoped_sessions as ss
        on ss.crew_code = cs.crew_code
       and ss.session_id = cs.session_id
),

mismatches as (
    select
        coalesce(su.crew_code, dt.crew_code) as crew_code,
        coalesce(su.session_id, dt.session_id) as session_id,
        su.message_count as summary_messages,
        dt.message_count as days_messages,
        su.human_message_count as summary_human,
        dt.human_message_count as days_human,
        su.ai_message_count as summary_ai,
        dt.ai_message_count as days_ai
    from summaries as su
    full join day_totals as dt
        on dt.crew_code = su.crew_code
       and dt.session_id = su.session_id
    where (su.message_count, su.human_message_count, su.ai_message_count)
        is distinct from (dt.message_count, dt.human_message_count, dt.ai_message_count)
)

select
    'count_mismatches' as problem,
    (select count(*) from mismatches) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.crew_code, s.session_id), '[]'::jsonb)
        from (select * from mismatches order by 1, 2 limit %(sample_limit)s) as s
    ) as samples;
