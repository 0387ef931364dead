-- Reconciles project_conversations with conversations.project_id in one statement, for every conversation or only those in only_conversation_ids (a scoped run): deletes links of conversations that left every project, moves links of conversations that changed project (new added_at), refreshes added_by, inserts new links.
-- A scoped run's definition and stored side are both limited to the named conversations, so it reads a few
-- index entries and leaves every other link as it is.
with defined as materialized (
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
),

changes as materialized (
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
),

deleted as (
    delete from {source}.project_conversations as link
    where link.id in (select change.id from changes as change where change.action = 'delete')
    returning 1
),

updated as (
    update {source}.project_conversations as link
    set
        project_id = change.project_id,
        added_by = change.added_by,
        -- a move is a new link in the same row: it is first written now
        added_at = case when change.action = 'move' then now() else link.added_at end
    from changes as change
    where
        change.id = link.id
        and change.action in ('move', 'refresh')
    returning change.action
),

inserted as (
    insert into {source}.project_conversations (project_id, conversation_id, added_by)
    select
        change.project_id,
        change.conversation_id,
        change.added_by
    from changes as change
    where change.action = 'insert'
    on conflict (conversation_id) do nothing
    returning 1
)

select
    (select count(*) from inserted) as rows_inserted,
    (select count(*) from deleted) as rows_deleted,
    (select count(*) from updated where updated.action = 'move') as rows_moved,
    (select count(*) from updated where updated.action = 'refresh') as rows_refreshed,
    (select count(*) from defined) as rows_expected
