-- Makes the links of a window's Front conversations equal to the oracle pairs in one statement: deletes links that lost their support, inserts missing ones, leaves staying links untouched.
with oracle as materialized (
    {oracle}
),

window_links as (
    select
        link.id,
        link.{owner} as owner_id,
        link.front_conversation_id
    from {source}.front_conversations as conversation
    join {source}.{links} as link
        on link.front_conversation_id = conversation.id
    where conversation.created_at >= %(start)s
      and conversation.created_at < %(end)s
      and (%(only_conversation_ids)s::uuid[] is null or conversation.id = any(%(only_conversation_ids)s::uuid[]))
),

-- One full join finds both sides of the difference: a link with no oracle pair lost its
-- support, an oracle pair with no link is missing.
differences as materialized (
    select
        window_link.id as unsupported_id,
        oracle.{owner} as missing_owner_id,
        oracle.front_conversation_id as missing_front_conversation_id
    from oracle
    full join window_links as window_link
        on window_link.owner_id = oracle.{owner}
       and window_link.front_conversation_id = oracle.front_conversation_id
    where window_link.id is null
       or oracle.front_conversation_id is null
),

deleted as (
    delete from {source}.{links} as link
    using differences as difference
    where link.id = difference.unsupported_id
    returning 1
),

inserted as (
    insert into {source}.{links} ({owner}, front_conversation_id)
    select difference.missing_owner_id, difference.missing_front_conversation_id
    from differences as difference
    where difference.unsupported_id is null
    on conflict ({owner}, front_conversation_id) do nothing
    returning 1
)

select
    (select count(*) from inserted) as rows_inserted,
    (select count(*) from deleted) as rows_deleted,
    (select count(*) from oracle) as rows_in_window
