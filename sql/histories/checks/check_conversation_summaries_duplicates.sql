-- Finds (crew_code, session_id) grains stored more than once in conversation_summaries among the scoped rows, bound in as a file:
-- the summaries overlapping the window (select_conversation_summaries_overlapping_window.sql) or every copy of the grains a run
-- changed (select_conversation_summaries_of_written_grains.sql).
with scoped_rows as (
    {scoped_rows}
),

duplicates as (
    select
        scoped_row.crew_code,
        scoped_row.session_id,
        count(*) as copies
    from scoped_rows as scoped_row
    group by scoped_row.crew_code, scoped_row.session_id
    having count(*) > 1
)

select
    'duplicate_grains' as problem,
    (select count(*) from duplicates) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.crew_code, sample.session_id), '[]'::jsonb)
        from (select * from duplicates order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples;
