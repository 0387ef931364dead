-- Finds conversations stored more than once in project_conversations (one project per conversation, so this also covers repeated pairs): one row with the count, up to sample_limit samples, and the unique index that made a scan needless.
-- When trust_constraints is true (the check that follows a run) and a valid unique index on conversation_id
-- exists, PostgreSQL already guarantees there is no duplicate and nothing is scanned.
with guaranteeing_index as (
    {guaranteeing_index}
),

duplicates as (
    select
        link.conversation_id,
        count(*) as copies,
        count(distinct link.project_id) as projects
    from {source}.project_conversations as link
    where not exists (select from guaranteeing_index)
    group by link.conversation_id
    having count(*) > 1
)

select
    'duplicate_conversations' as problem,
    (select count(*) from duplicates) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.conversation_id), '[]'::jsonb)
        from (select * from duplicates order by 1 limit %(sample_limit)s) as sample
    ) as samples,
    (select 'unique index ' || unique_index.index_name from guaranteeing_index as unique_index) as verified_by;
