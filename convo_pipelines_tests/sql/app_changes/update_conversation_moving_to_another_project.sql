-- An app moving a conversation to another project: the conversation at or after conversation_pivot gets the project at or after project_pivot (another than its own), stamped now; returns the row project_conversations must hold (owner_id, conversation_id), or no row.
with picked_conversation as (
    select
        conversation.id,
        conversation.project_id
    from {source}.conversations as conversation
    where conversation.id >= %(conversation_pivot)s
    order by conversation.id
    limit 1
),

picked_project as (
    select project.id
    from {source}.projects as project
    cross join picked_conversation
    where project.id >= %(project_pivot)s and project.id is distinct from picked_conversation.project_id
    order by project.id
    limit 1
),

moved as (
    update {source}.conversations as conversation
    set project_id = picked_project.id, updated_at = now()
    from picked_conversation
    cross join picked_project
    where conversation.id = picked_conversation.id
    returning conversation.id, conversation.project_id
)

select
    moved.project_id as owner_id,
    moved.id as conversation_id
from moved;
