-- Compares the deprecated projects.conversation_ids arrays with conversations.project_id (the source of truth), for every project or only those in only_project_ids (a scoped run's): one row per problem kind with its count and up to sample_limit samples.
-- stale: the array lists a conversation that is gone or belongs to no project; mismatched: it lists a
-- conversation of another project; missing: a conversation of an existing project is not in its array
-- (a NULL array lists nothing). Shared by the array_consistency check and the project_conversations
-- asset, which reports the same counts and samples in its materialization.
with listed as (
    select distinct
        project.id as project_id,
        listed_id.conversation_id
    from {source}.projects as project
    cross join lateral unnest(project.conversation_ids) as listed_id (conversation_id)
    where
        listed_id.conversation_id is not null
        and (%(only_project_ids)s::uuid[] is null or project.id = any(%(only_project_ids)s::uuid[]))
),

listed_checked as (
    select
        listed_row.project_id,
        listed_row.conversation_id,
        conversation.project_id is null as is_stale,
        conversation.project_id is not null and conversation.project_id <> listed_row.project_id as is_mismatched
    from listed as listed_row
    left join {source}.conversations as conversation on conversation.id = listed_row.conversation_id
),

stale as (
    select
        checked_row.project_id,
        checked_row.conversation_id
    from listed_checked as checked_row
    where checked_row.is_stale
),

mismatched as (
    select
        checked_row.project_id,
        checked_row.conversation_id
    from listed_checked as checked_row
    where checked_row.is_mismatched
),

missing as (
    select
        project.id as project_id,
        conversation.id as conversation_id
    from {source}.conversations as conversation
    inner join {source}.projects as project on project.id = conversation.project_id
    where
        (%(only_project_ids)s::uuid[] is null or conversation.project_id = any(%(only_project_ids)s::uuid[]))
        and not exists (
            select from listed as listed_row
            where listed_row.project_id = conversation.project_id and listed_row.conversation_id = conversation.id
        )
)

select
    'stale' as problem,
    (select count(*) from stale) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.project_id, sample.conversation_id), '[]'::jsonb)
        from (select * from stale order by project_id, conversation_id limit %(sample_limit)s) as sample
    ) as samples
union all
select
    'mismatched' as problem,
    (select count(*) from mismatched) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.project_id, sample.conversation_id), '[]'::jsonb)
        from (select * from mismatched order by project_id, conversation_id limit %(sample_limit)s) as sample
    ) as samples
union all
select
    'missing' as problem,
    (select count(*) from missing) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.project_id, sample.conversation_id), '[]'::jsonb)
        from (select * from missing order by project_id, conversation_id limit %(sample_limit)s) as sample
    ) as samples;
