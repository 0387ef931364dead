-- Finds (crew_code, session_id, activity_date) grains stored more than once in histories_sessions among the scoped rows,
-- bound in as a file that returns every copy of the grains it covers: the window's days (select_histories_sessions_of_window_days.sql)
-- or the grains a run changed (select_histories_sessions_of_written_grains.sql).
with scoped_rows as (
    {scoped_rows}
),

duplicates as (
    select
        scoped_row.crew_code,
        scoped_row.session_id,
        scoped_row.activity_date,
        count(*) as copies
    from scoped_rows as scoped_row
    group by scoped_row.crew_code, scoped_row.session_id, scoped_row.activity_date
    having count(*) > 1
)

select
    'duplicate_grains' as problem,
    (select count(*) from duplicates) as violations,
    (
        select
            coalesce(
                jsonb_agg(to_jsonb(sample) order by sample.crew_code, sample.session_id, sample.activity_date),
                '[]'::jsonb
            )
        from (select * from duplicates order by 1, 2, 3 limit %(sample_limit)s) as sample
    ) as samples;
