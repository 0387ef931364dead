-- Applies a reconcile's changes (pg_temp.project_link_changes, select_project_link_changes.sql) to project_conversations in one statement: deletes the links of conversations that left every project, moves those of conversations that changed project (same row id, new added_at), refreshes added_by, inserts new links; returns how many of each.
with deleted as (
    delete from {source}.project_conversations as link
    where link.id in (select change.id from pg_temp.project_link_changes as change where change.action = 'delete')
    returning 1
),

updated as (
    update {source}.project_conversations as link
    set
        project_id = change.project_id,
        added_by = change.added_by,
        -- a move is a new link in the same row: it is first written now
        added_at = case when change.action = 'move' then now() else link.added_at end
    from pg_temp.project_link_changes as change
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
    from pg_temp.project_link_changes as change
    where change.action = 'insert'
    on conflict (conversation_id) do nothing
    returning 1
)

select
    (select count(*) from inserted) as rows_inserted,
    (select count(*) from deleted) as rows_deleted,
    (select count(*) from updated where updated.action = 'move') as rows_moved,
    (select count(*) from updated where updated.action = 'refresh') as rows_refreshed
