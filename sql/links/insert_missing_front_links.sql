-- Inserts the missing links a diff found (pg_temp.front_link_differences without a link) whose person or client and conversation still exist: all of them, or one slice, the pairs (conversation, owner) after the `after` pair and up to the `upto` pair (a null bound is open); numbered in that order, the unique pair's, each id the drawn prefix plus its number (select_link_id_draw.sql); pairs the table holds meanwhile are skipped.
-- Both stamps are written here, not left to defaults: a link table the application made has none (Rails' are NOT NULL
-- without a default).
-- A pair whose owner or conversation the app deleted after the diff's snapshot is left out rather than
-- failing the insert's foreign-key check. In the unique pair's order the index takes the rows as one
-- ordered pass, and their ascending ids grow the primary key at its right edge.
insert into {source}.{links} (id, {owner}, front_conversation_id, front_conversation_created_at, created_at, updated_at)
with missing as (
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
),

numbered as (
    select
        missing.defined_owner_id,
        missing.defined_front_conversation_id,
        missing.defined_front_conversation_created_at,
        row_number() over (
            order by missing.defined_front_conversation_id, missing.defined_owner_id
        ) as position
    from missing
)

select
    (%(id_prefix)s || lpad(to_hex(%(id_first_counter)s + numbered.position), 15, '0'))::uuid as id,
    numbered.defined_owner_id,
    numbered.defined_front_conversation_id,
    numbered.defined_front_conversation_created_at,
    now() as created_at,
    now() as updated_at
from numbered
order by numbered.position
on conflict (front_conversation_id, {owner}) do nothing
