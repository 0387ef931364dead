-- Selects a batch's differences from those its window's diff found, packed in held (select_packed_front_link_differences.sql), but for the conversations in touched (diffed again instead): each link to delete, to refresh or to insert, with the conversation's created_at as it stands now.
-- A conversation gone since takes its links with it (the link tables' keys cascade): none of its rows is kept.
with held as (
    select
        encode(substring(%(held)s::bytea from difference.position * 48 + 1 for 16), 'hex')::uuid
            as front_conversation_id,
        nullif(encode(substring(%(held)s::bytea from difference.position * 48 + 17 for 16), 'hex')::uuid, %(no_id)s)
            as link_id,
        nullif(encode(substring(%(held)s::bytea from difference.position * 48 + 33 for 16), 'hex')::uuid, %(no_id)s)
            as defined_owner_id
    from generate_series(0, length(%(held)s::bytea) / 48 - 1) as difference (position)
)

select
    held.front_conversation_id,
    held.link_id,
    held.defined_owner_id,
    case when held.defined_owner_id is not null then conversation.id end as defined_front_conversation_id,
    case when held.defined_owner_id is not null then conversation.created_at::timestamptz end
        as defined_front_conversation_created_at
from held
inner join {source}.front_conversations as conversation
    on conversation.id = held.front_conversation_id
where held.front_conversation_id <> all(%(touched)s::uuid[])
