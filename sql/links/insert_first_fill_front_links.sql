-- Inserts the next slice of the pairs a first fill staged ({analytics}.{first_fill}): from after_position on, about slice_links of them, up to the end of the conversation the slice reaches, so that a conversation's links go in by one transaction; in their staged order, (conversation, owner), each id the drawn prefix plus its position (select_link_id_draw.sql).
-- Both stamps are written here, not left to defaults: a link table the application made has none (Rails' are NOT NULL
-- without a default).
-- The table holds none of them (it was empty when they were staged, no other writer has written since,
-- and each slice commits once), so none is checked for: the check would cost each row a speculative
-- insertion. The pairs were numbered when they were staged, so a slice sorts plain numbers of rows
-- already in order rather than pairs of uuids.
insert into {source}.{links} (id, {owner}, front_conversation_id, front_conversation_created_at, created_at, updated_at)
with slice_end as (
    select
        coalesce(
            (
                select staged.conversation_end
                from {analytics}.{first_fill} as staged
                where staged.position = %(after_position)s + %(slice_links)s
            ),
            %(after_position)s + %(slice_links)s
        ) as upto_position
),

slice as (
    select
        staged.{owner},
        staged.front_conversation_id,
        staged.front_conversation_created_at,
        staged.position
    from {analytics}.{first_fill} as staged
    cross join slice_end
    where
        staged.position > %(after_position)s
        and staged.position <= slice_end.upto_position
)

select
    (%(id_prefix)s || lpad(to_hex(%(id_first_counter)s + slice.position), 15, '0'))::uuid as id,
    slice.{owner},
    slice.front_conversation_id,
    slice.front_conversation_created_at,
    now() as created_at,
    now() as updated_at
from slice
order by slice.position
