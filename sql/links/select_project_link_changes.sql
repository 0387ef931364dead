-- Computes how project_conversations differs from conversations.project_id, for every conversation or only those in only_conversation_ids (a scoped run): one row per link to insert, delete, move to another project (keeping its row id) or refresh (added_by), with its action.
-- A SELECT, so that a whole table's comparison runs in parallel: a statement that also writes (the apply,
-- apply_project_link_changes.sql) is planned in one process. A scoped run's definition and stored side are both
-- limited to the named conversations, so it reads a few index entries and leaves every other link as it is.
with defined as (
    {defined_rows}
),

stored as (
    select
        link.id,
        link.project_id,
        link.conversation_id,
        link.added_by
    from {source}.project_conversations as link
    where
        %(only_conversation_ids)s::uuid[] is null
        or link.conversation_id = any(%(only_conversation_ids)s::uuid[])
)

select
    link.id,
    defined.project_id,
    defined.conversation_id,
    defined.added_by,
    case
        when link.id is null then 'insert'
        when defined.conversation_id is null then 'delete'
        when link.project_id <> defined.project_id then 'move'
        else 'refresh'
    end as action
from defined
full join stored as link
    on link.conversation_id = defined.conversation_id
where
    link.id is null
    or defined.conversation_id is null
    or link.project_id <> defined.project_id
    or link.added_by is distinct from defined.added_by
