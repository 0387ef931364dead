-- Inserts missing Front links numbered in their insert order (a diff's, select_missing_front_links.sql, or a window's staged defined pairs, select_staged_link_rows.sql, numbered by number_links_in_key_order.sql; a first fill's slice of staged pairs, select_front_link_first_fill_pairs.sql, by their staged position), skipping pairs already there when skip_existing is bound to skip_existing_front_links.sql (a first fill's slices, the table known to hold none of them, bind nothing). They go in that order, (conversation, owner), each with a new id in the UUIDv7 layout: the statement's millisecond, then one random draw of the statement plus the row's number.
-- Why the order and the ids: a row inserted into a b-tree at random dirties a random page of each of the
-- table's indexes, and once they outgrow the server's buffers each such page is read back, written out and
-- logged whole after a checkpoint. In the unique pair's order, (conversation, owner), that index takes the rows
-- as one ordered pass (a first fill's, into an empty table, at its right edge), and ids that ascend with the
-- rows grow the primary key at its right edge. One random draw per statement rather than gen_random_uuid() per
-- row: a server built without OpenSSL reads the kernel's random source on every call. The id's fixed part is
-- put together once too (materialized: inlined, the planner builds it again for every row), so a row only adds
-- its counter.
-- Why the rows come numbered: a first fill's staged pairs were numbered in this order when they were
-- staged, so its slices sort plain numbers of rows already in order, rather than number pairs of uuids again.
insert into {source}.{links} (id, {owner}, front_conversation_id, front_conversation_created_at)
with id_draw as (
    select
        floor(extract(epoch from clock_timestamp()) * 1000)::bigint as millisecond,
        replace(gen_random_uuid()::text, '-', '') as random_hex
),

id_parts as materialized (
    select
        lpad(to_hex(id_draw.millisecond), 12, '0') || '7' || substr(id_draw.random_hex, 1, 3) || '8' as prefix,
        ('x' || substr(id_draw.random_hex, 4, 12))::bit(48)::bigint as first_counter
    from id_draw
),

pending as (
    select
        missing.owner_id,
        missing.front_conversation_id,
        missing.front_conversation_created_at,
        missing.position
    from ({missing_links}) as missing (owner_id, front_conversation_id, front_conversation_created_at, position)
)

select
    (id_parts.prefix || lpad(to_hex(id_parts.first_counter + pending.position), 15, '0'))::uuid as id,
    pending.owner_id,
    pending.front_conversation_id,
    pending.front_conversation_created_at
from pending
cross join id_parts
order by pending.position
{skip_existing}
