-- Makes the links of a window's Front conversations equal to the oracle in one statement: deletes links that lost their support, inserts missing ones, refreshes a stale copy of the conversation's created_at in place, leaves the other staying links untouched.
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

inserted as (
    insert into {source}.{links} ({owner}, front_conversation_id, front_conversation_created_at)
    select
        difference.oracle_owner_id,
        difference.oracle_front_conversation_id,
        difference.oracle_front_conversation_created_at
    from differences as difference
    where difference.link_id is null
      -- Key-share the rows the new link will reference, as its foreign-key check would: a row the app
      -- deleted after this statement's snapshot is then skipped (its link is not inserted) instead of
      -- failing the check, and one the app is deleting right now is waited for, then skipped.
      and exists (
          select 1 from {source}.{owner_table} as owner_row
          where owner_row.id = difference.oracle_owner_id
          for key share
      )
      and exists (
          select 1 from {source}.front_conversations as conversation_row
          where conversation_row.id = difference.oracle_front_conversation_id
          for key share
      )
    on conflict ({owner}, front_conversation_id) do nothing
    returning 1
)

select
    (select count(*) from inserted) as rows_inserted,
    (select count(*) from refreshed) as rows_updated,
    (select count(*) from deleted) as rows_deleted,
    (select count(*) from oracle) as rows_in_window
