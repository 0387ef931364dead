-- Inserts a window's staged defined pairs ({analytics}.{window_staged}) into its table, which held no link when they were staged: numbered in the unique pair's order, (conversation, owner), each id the drawn prefix plus its number (select_link_id_draw.sql); pairs the table holds meanwhile are skipped.
-- Both stamps are written here, not left to defaults: a link table the application made has none (Rails' are NOT NULL
-- without a default).
insert into {source}.{links} (id, {owner}, front_conversation_id, front_conversation_created_at, created_at, updated_at)
with numbered as (
    select
        staged.{owner},
        staged.front_conversation_id,
        staged.front_conversation_created_at,
        row_number() over (order by staged.front_conversation_id, staged.{owner}) as position
    from {analytics}.{window_staged} as staged
)

select
    (%(id_prefix)s || lpad(to_hex(%(id_first_counter)s + numbered.position), 15, '0'))::uuid as id,
    numbered.{owner},
    numbered.front_conversation_id,
    numbered.front_conversation_created_at,
    now() as created_at,
    now() as updated_at
from numbered
order by numbered.position
on conflict (front_conversation_id, {owner}) do nothing
