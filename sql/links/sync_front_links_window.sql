-- Makes the links of a window's Front conversations equal to the oracle, but for inserting the missing ones: deletes links that lost their support, refreshes a stale copy of the conversation's created_at in place, leaves the other staying links untouched, and puts the missing links in pg_temp.links_to_insert.
with oracle as materialized (
    {oracle}
),

window_links as (
    select
        link.id,
        link.{owner} as owner_id,
        link.front_conversation_id,
        link.front_conversation_created_at
    from {source}.front_conversations as conversation
    join {source}.{links} as link
        on link.front_conversation_id = conversation.id
    where conversation.created_at >= %(start)s
      and conversation.created_at < %(end)s
      and (%(only_conversation_ids)s::uuid[] is null or conversation.id = any(%(only_conversation_ids)s::uuid[]))
),

-- One full join finds every side of the difference: a link with no oracle pair lost its
-- support, an oracle pair with no link is missing, a pair on both sides whose created_at
-- copy differs is stale (it keeps its id).
differences as materialized (
    select
        window_link.id as link_id,
        oracle.{owner} as oracle_owner_id,
        oracle.front_conversation_id as oracle_front_conversation_id,
        oracle.front_conversation_created_at as oracle_front_conversation_created_at
    from oracle
    full join window_links as window_link
        on window_link.owner_id = oracle.{owner}
       and window_link.front_conversation_id = oracle.front_conversation_id
    where window_link.id is null
       or oracle.front_conversation_id is null
       or window_link.front_conversation_created_at is distinct from oracle.front_conversation_created_at
),

deleted as (
    delete from {source}.{links} as link
    using differences as difference
    where link.id = difference.link_id
      and difference.oracle_front_conversation_id is null
    returning 1
),

refreshed as (
    update {source}.{links} as link
    set front_conversation_created_at = difference.oracle_front_conversation_created_at,
        updated_at = now()
    from differences as difference
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
    from differences as difference
    where difference.link_id is null
    returning 1
)

select
    (select count(*) from pending) as rows_pending,
    (select count(*) from refreshed) as rows_updated,
    (select count(*) from deleted) as rows_deleted,
    (select count(*) from oracle) as rows_in_window
