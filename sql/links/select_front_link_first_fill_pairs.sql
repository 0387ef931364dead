-- Selects the next slice of the pairs a first fill staged ({analytics}.{first_fill}): from after_position on, about slice_links of them, up to the end of the conversation the slice reaches, so that a conversation's links go in by one transaction; with their positions, the order insert_pending_front_links.sql inserts them in.
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
)

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
