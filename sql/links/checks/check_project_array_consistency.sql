-- Compares the deprecated projects.conversation_ids arrays with conversations.project_id (the source of truth), for every project or only those in only_project_ids (a scoped run's): one row per problem kind with its count and up to sample_limit samples.
-- stale: the array lists a conversation that is gone or belongs to no project; mismatched: it lists a
-- conversation of another project; missing: a conversation of an existing project is not in its array
-- (a NULL array lists nothing). Shared by the array_consistency check and the project_conversations
-- asset, which reports the same counts and samples in its materialization.
-- One full join of the listed pairs with the owned ones reads conversations once and keeps only the pairs on
-- one side; each listed pair left over is classified by one probe of its conversation's primary key, so the
-- cost of that step follows the problems, not the table. Only those pairs are deduped (an array may list a
-- conversation twice).
with listed as (
    select
        project.id as project_id,
        listed_id.conversation_id
    from {source}.projects as project
    cross join lateral unnest(project.conversation_ids) as listed_id (conversation_id)
    where
        listed_id.conversation_id is not null
        and (%(only_project_ids)s::uuid[] is null or project.id = any(%(only_project_ids)s::uuid[]))
),

owned as (
    select
        conversation.project_id,
        conversation.id as conversation_id
    from {source}.conversations as conversation
    inner join {source}.projects as project on project.id = conversation.project_id
    where (%(only_project_ids)s::uuid[] is null or conversation.project_id = any(%(only_project_ids)s::uuid[]))
),

unmatched as (
    select distinct
        coalesce(listed_row.project_id, owned_row.project_id) as project_id,
        coalesce(listed_row.conversation_id, owned_row.conversation_id) as conversation_id,
        listed_row.project_id is null as is_missing
    from listed as listed_row
    full join owned as owned_row
        on
            owned_row.project_id = listed_row.project_id
            and owned_row.conversation_id = listed_row.conversation_id
    where listed_row.project_id is null or owned_row.project_id is null
),

problems as (
    select
        unmatched_row.project_id,
        unmatched_row.conversation_id,
        case
            when unmatched_row.is_missing then 'missing'
            when (
                select conversation.project_id
                from {source}.conversations as conversation
                where conversation.id = unmatched_row.conversation_id
            ) is null then 'stale'
            else 'mismatched'
        end as problem
    from unmatched as unmatched_row
)

select
    problem_kind.problem,
    (select count(*) from problems where problems.problem = problem_kind.problem) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.project_id, sample.conversation_id), '[]'::jsonb)
        from (
            select
                problems.project_id,
                problems.conversation_id
            from problems
            where problems.problem = problem_kind.problem
            order by problems.project_id, problems.conversation_id
            limit %(sample_limit)s
        ) as sample
    ) as samples
from (values (1, 'stale'), (2, 'mismatched'), (3, 'missing')) as problem_kind (position, problem)
order by problem_kind.position;
