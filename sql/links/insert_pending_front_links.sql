-- Inserts the missing links a diff found (pg_temp.front_link_differences without a link) whose person or client and conversation still exist, skipping pairs already there: all of them, or one slice: the pairs (owner, conversation) after the `after` pair and up to the `upto` pair (a null bound is open). They go in (owner, conversation) order, each with a new id in the UUIDv7 layout: the statement's millisecond, then one random draw of the statement plus the row's position in that order.
-- Why the order and the ids: a row inserted into a b-tree at random dirties a random page of each of the
-- table's four indexes, and once they outgrow the server's buffers each such page is read back, written
-- out and logged whole after a checkpoint. In key order the unique pair and the owner's newest-first index
-- take the rows as one ordered pass, and ids that ascend with the rows grow the primary key at its right
-- edge. One random draw per statement rather than gen_random_uuid() per row: a server built without
-- OpenSSL reads the kernel's random source on every call.
insert into {source}.{links} (id, {owner}, front_conversation_id, front_conversation_created_at)
with id_draw as (
    select
        floor(extract(epoch from clock_timestamp()) * 1000)::bigint as millisecond,
        replace(gen_random_uuid()::text, '-', '') as random_hex
),

pending as (
    select
        difference.oracle_owner_id,
        difference.oracle_front_conversation_id,
        difference.oracle_front_conversation_created_at,
        row_number() over (
            order by difference.oracle_owner_id, difference.oracle_front_conversation_id
        ) as position
    from pg_temp.front_link_differences as difference
    where
        difference.link_id is null
        and (
            %(after_owner)s::uuid is null
            or (difference.oracle_owner_id, difference.oracle_front_conversation_id)
            > (%(after_owner)s::uuid, %(after_conversation)s::uuid)
        )
        and (
            %(upto_owner)s::uuid is null
            or (difference.oracle_owner_id, difference.oracle_front_conversation_id)
            <= (%(upto_owner)s::uuid, %(upto_conversation)s::uuid)
        )
        and exists (
            select 1 from {source}.{owner_table} as owner_row
            where owner_row.id = difference.oracle_owner_id
        )
        and exists (
            select 1 from {source}.front_conversations as conversation_row
            where conversation_row.id = difference.oracle_front_conversation_id
        )
)

select
    (
        lpad(to_hex(id_draw.millisecond), 12, '0')
        || '7'
        || substr(id_draw.random_hex, 1, 3)
        || '8'
        || lpad(to_hex(('x' || substr(id_draw.random_hex, 4, 12))::bit(48)::bigint + pending.position), 15, '0')
    )::uuid as id,
    pending.oracle_owner_id,
    pending.oracle_front_conversation_id,
    pending.oracle_front_conversation_created_at
from pending
cross join id_draw
order by pending.oracle_owner_id, pending.oracle_front_conversation_id
on conflict ({owner}, front_conversation_id) do nothing
