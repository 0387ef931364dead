-- Applies the differences create_front_link_differences.sql found: deletes links that lost their support, refreshes a stale copy of the conversation's created_at in place, and puts the missing links in pg_temp.links_to_insert; and counts what it did.
-- A link the app's cascade deleted meanwhile is simply not there to delete or refresh any more.
with deleted as (
    delete from {source}.{links} as link
    using pg_temp.front_link_differences as difference
    where link.id = difference.link_id
      and difference.oracle_front_conversation_id is null
    returning 1
),

refreshed as (
    update {source}.{links} as link
    set front_conversation_created_at = difference.oracle_front_conversation_created_at,
        updated_at = now()
    from pg_temp.front_link_differences as difference
    where link.id = difference.link_id
      and difference.oracle_front_conversation_id is not null
    returning 1
),

pending as (
    -- The missing links are inserted by the next statements, from pg_temp.links_to_insert (see
    -- insert_pending_front_links.sql): short inserts of a bounded batch each, so their foreign-key
    -- checks hold key-share locks on the app's rows for a moment only, each retried alone when the app
    -- deletes a person or conversation between its snapshot and its foreign-key check.
    insert into pg_temp.links_to_insert (owner_id, front_conversation_id, front_conversation_created_at)
    select
        difference.oracle_owner_id,
        difference.oracle_front_conversation_id,
        difference.oracle_front_conversation_created_at
    from pg_temp.front_link_differences as difference
    where difference.link_id is null
    returning 1
)

select
    (select count(*) from pending) as rows_pending,
    (select count(*) from refreshed) as rows_updated,
    (select count(*) from deleted) as rows_deleted
