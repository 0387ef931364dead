-- Applies the removals and refreshes create_front_link_differences.sql found: deletes links that lost their support, refreshes a stale copy of the conversation's created_at in place; and counts them.
-- A link the app's cascade deleted meanwhile is simply not there to delete or refresh any more.
-- Each side names `link_id is not null` although its join implies it: with the differences' statistics
-- (analyze_front_link_differences.sql) the planner then expects the few stored links a diff changes and
-- looks each up by its id. Without it, it expects every difference to match and hashes the whole link table,
-- once per transaction, though a first fill's differences are all missing links.
with deleted as (
    delete from {source}.{links} as link
    using pg_temp.front_link_differences as difference
    where
        link.id = difference.link_id
        and difference.link_id is not null
        and difference.defined_front_conversation_id is null
    returning 1
),

refreshed as (
    update {source}.{links} as link
    set
        front_conversation_created_at = difference.defined_front_conversation_created_at,
        updated_at = now()
    from pg_temp.front_link_differences as difference
    where
        link.id = difference.link_id
        and difference.link_id is not null
        and difference.defined_front_conversation_id is not null
    returning 1
)

select
    (select count(*) from refreshed) as rows_updated,
    (select count(*) from deleted) as rows_deleted
