-- Finds conversations stored more than once in project_conversations (one project per conversation, so this also covers repeated pairs): one row with the count and up to sample_limit samples.
with duplicates as (
    select
        l.conversation_id,
        count(*) as copies,
        count(distinct l.project_id) as projects
    from {source}.project_conversations as l
    group by l.conversation_id
    having count(*) > 1
)

select
    'duplicate_conversations' as problem,
    (select count(*) from duplicates) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.conversation_id), '[]'::jsonb)
        from (select * from duplicates order by 1 limit %(sample_limit)s) as s
    ) as samples;
