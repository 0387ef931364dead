-- Selects the missing links a diff found (pg_temp.front_link_differences without a link) whose person or client and conversation still exist: all of them, or one slice: the pairs (conversation, owner) after the `after` pair and up to the `upto` pair (a null bound is open).
-- A pair whose owner or conversation the app deleted after the diff's snapshot is left out rather than
-- failing the insert's foreign-key check (insert_pending_front_links.sql inserts these).
select
    difference.defined_owner_id,
    difference.defined_front_conversation_id,
    difference.defined_front_conversation_created_at
from pg_temp.front_link_differences as difference
where
    difference.link_id is null
    and (
        %(after_conversation)s::uuid is null
        or (difference.defined_front_conversation_id, difference.defined_owner_id)
        > (%(after_conversation)s::uuid, %(after_owner)s::uuid)
    )
    and (
        %(upto_conversation)s::uuid is null
        or (difference.defined_front_conversation_id, difference.defined_owner_id)
        <= (%(upto_conversation)s::uuid, %(upto_owner)s::uuid)
    )
    and exists (
        select 1 from {source}.{owner_table} as owner_row
        where owner_row.id = difference.defined_owner_id
    )
    and exists (
        select 1 from {source}.front_conversations as conversation_row
        where conversation_row.id = difference.defined_front_conversation_id
    )
