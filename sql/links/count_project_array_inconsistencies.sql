-- Counts the deprecated projects.conversation_ids entries that disagree with conversations.project_id, by kind (stale, mismatched, missing), with a few samples each.
-- stale: an array entry whose conversation is gone or belongs to no project;
-- mismatched: an array entry whose conversation belongs to another project;
-- missing: a conversation of an existing project that its project's array does not list (a NULL array lists nothing).
with array_entries as (
    select distinct
        project.id as project_id,
        entry.conversation_id
    from {source}.projects as project
    cross join lateral unnest(project.conversation_ids) as entry (conversation_id)
    where entry.conversation_id is not null
),

listed_entries as (
    select
        array_entry.project_id,
        array_entry.conversation_id,
        case
            when conversation.id is null or conversation.project_id is null then 'stale'
            when conversation.project_id <> array_entry.project_id then 'mismatched'
        end as kind
    from array_entries as array_entry
    left join {source}.conversations as conversation
        on conversation.id = array_entry.conversation_id
),

unlisted_entries as (
    select
        conversation.project_id,
        conversation.id as conversation_id,
        'missing' as kind
    from {source}.conversations as conversation
    join {source}.projects as project
        on project.id = conversation.project_id
    where not exists (
        select 1
        from array_entries as array_entry
        where array_entry.project_id = conversation.project_id
          and array_entry.conversation_id = conversation.id
    )
),

inconsistencies as (
    select listed.project_id, listed.conversation_id, listed.kind
    from listed_entries as listed
    where listed.kind is not null
    union all
    select unlisted.project_id, unlisted.conversation_id, unlisted.kind
    from unlisted_entries as unlisted
),

ranked as (
    select
        inconsistency.*,
        row_number() over (
            partition by inconsistency.kind
            order by inconsistency.project_id, inconsistency.conversation_id
        ) as sample_rank
    from inconsistencies as inconsistency
),

kinds (kind) as (
    values ('stale'), ('mismatched'), ('missing')
)

select
    kinds.kind,
    count(ranked.conversation_id) as entries,
    coalesce(
        jsonb_agg(
            jsonb_build_object('project_id', ranked.project_id, 'conversation_id', ranked.conversation_id)
            order by ranked.sample_rank
        ) filter (where ranked.sample_rank <= %(sample_limit)s),
        '[]'::jsonb
    ) as samples
from kinds
left join ranked
    on ranked.kind = kinds.kind
group by kinds.kind
order by kinds.kind
