-- Compares the deprecated projects.conversation_ids arrays with conversations.project_id (the source of truth): one row per problem kind with its count and up to sample_limit samples.
-- stale: the array lists a conversation that is gone or belongs to no project; mismatched: it lists a
-- conversation of another project; missing: a conversation of an existing project is not in its array
-- (a NULL array lists nothing). Shared by the array_consistency check and the project_conversations
-- asset, which reports the same counts and samples in its materialization.
with listed as (
    select distinct
        p.id as project_id,
        listed_id.conversation_id
    from {source}.projects as p
    cross join lateral unnest(p.conversation_ids) as listed_id (conversation_id)
    where listed_id.conversation_id is not null
),

listed_checked as (
    select
        l.project_id,
        l.conversation_id,
        c.project_id is null as is_stale,
        c.project_id is not null and c.project_id <> l.project_id as is_mismatched
    from listed as l
    left join {source}.conversations as c on c.id = l.conversation_id
),

stale as (
    select lc.project_id, lc.conversation_id
    from listed_checked as lc
    where lc.is_stale
),

mismatched as (
    select lc.project_id, lc.conversation_id
    from listed_checked as lc
    where lc.is_mismatched
),

missing as (
    select p.id as project_id, c.id as conversation_id
    from {source}.conversations as c
    inner join {source}.projects as p on p.id = c.project_id
    where not exists (
        select from listed as l
        where l.project_id = c.project_id and l.conversation_id = c.id
    )
)

select
    'stale' as problem,
    (select count(*) from stale) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.project_id, s.conversation_id), '[]'::jsonb)
        from (select * from stale order by project_id, conversation_id limit %(sample_limit)s) as s
    ) as samples
union all
select
    'mismatched',
    (select count(*) from mismatched),
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.project_id, s.conversation_id), '[]'::jsonb)
        from (select * from mismatched order by project_id, conversation_id limit %(sample_limit)s) as s
    )
union all
select
    'missing',
    (select count(*) from missing),
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.project_id, s.conversation_id), '[]'::jsonb)
        from (select * from missing order by project_id, conversation_id limit %(sample_limit)s) as s
    );
