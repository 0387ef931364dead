-- Fills the deprecated projects.conversation_ids of the demo projects, stale on purpose: most exact, the rest
-- missing an id, holding an id of another project's conversation, of a deleted conversation, NULL or empty.
with demo_projects as (
    select
        gs.j as project_number,
        md5(%(salt)s || ':project:' || gs.j)::uuid as id,
        mod(hashtextextended(%(salt)s || ':project-array:' || gs.j, 0) & 9223372036854775807, 100) as dice
    from generate_series(0, %(projects)s::bigint - 1) as gs (j)
),

actual as (
    select
        conversation.project_id,
        array_agg(conversation.id order by conversation.created_at, conversation.id) as ids
    from {source}.conversations as conversation
    inner join demo_projects
        on demo_projects.id = conversation.project_id
    group by conversation.project_id
),

neighbour as (
    select
        demo_projects.id as project_id,
        other.ids[1] as foreign_id
    from demo_projects
    inner join actual as other
        on
            other.project_id
            = md5(%(salt)s || ':project:' || mod(demo_projects.project_number + 1, %(projects)s::bigint))::uuid
),

stale as (
    select
        demo_projects.id as project_id,
        case
            when demo_projects.dice < 60 then coalesce(actual.ids, '{{}}'::uuid[])
            when demo_projects.dice < 72 then coalesce(actual.ids[1:cardinality(actual.ids) - 1], '{{}}'::uuid[])
            when demo_projects.dice < 82
                then
                    coalesce(actual.ids, '{{}}'::uuid[])
                    || coalesce(
                        neighbour.foreign_id,
                        md5(%(salt)s || ':deleted-conversation:' || demo_projects.project_number)::uuid
                    )
            when demo_projects.dice < 90
                then
                    coalesce(actual.ids, '{{}}'::uuid[])
                    || md5(%(salt)s || ':deleted-conversation:' || demo_projects.project_number)::uuid
            when demo_projects.dice < 95 then null
            else '{{}}'::uuid[]
        end as conversation_ids
    from demo_projects
    left join actual
        on actual.project_id = demo_projects.id
    left join neighbour
        on neighbour.project_id = demo_projects.id
)

update {source}.projects as project
set conversation_ids = stale.conversation_ids
from stale
where project.id = stale.project_id;
