-- Finds the scoped sessions whose conversation_summaries counts differ from the sum of their histories_sessions days
-- (a summary without days, or days without a summary, count too). The sessions are bound in as a file: those active in the
-- window (select_sessions_active_in_window.sql) or those a run changed a row of (select_sessions_written_since.sql).
with scoped_sessions as (
    {scoped_sessions}
),

day_totals as (
    select
        histories_session.crew_code,
        histories_session.session_id,
        sum(histories_session.message_count) as message_count,
        sum(histories_session.human_message_count) as human_message_count,
        sum(histories_session.ai_message_count) as ai_message_count
    from {analytics}.histories_sessions as histories_session
    inner join scoped_sessions as scoped_session
        on
            scoped_session.crew_code = histories_session.crew_code
            and scoped_session.session_id = histories_session.session_id
    group by histories_session.crew_code, histories_session.session_id
),

summaries as (
    select
        summary.crew_code,
        summary.session_id,
        summary.message_count,
        summary.human_message_count,
        summary.ai_message_count
    from {analytics}.conversation_summaries as summary
    inner join scoped_sessions as scoped_session
        on
            scoped_session.crew_code = summary.crew_code
            and scoped_session.session_id = summary.session_id
),

mismatches as (
    select
        coalesce(summary.crew_code, day_total.crew_code) as crew_code,
        coalesce(summary.session_id, day_total.session_id) as session_id,
        summary.message_count as summary_messages,
        day_total.message_count as days_messages,
        summary.human_message_count as summary_human,
        day_total.human_message_count as days_human,
        summary.ai_message_count as summary_ai,
        day_total.ai_message_count as days_ai
    from summaries as summary
    full join day_totals as day_total
        on
            day_total.crew_code = summary.crew_code
            and day_total.session_id = summary.session_id
    where
        (summary.message_count, summary.human_message_count, summary.ai_message_count)
        is distinct from (day_total.message_count, day_total.human_message_count, day_total.ai_message_count)
)

select
    'count_mismatches' as problem,
    (select count(*) from mismatches) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.crew_code, sample.session_id), '[]'::jsonb)
        from (select * from mismatches order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples;
