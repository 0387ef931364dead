-- Selects the pairs a first fill staged ({analytics}.{first_fill}) at positions (after_position, upto_position]: one slice's links with their positions, the order insert_pending_front_links.sql inserts them in.
select
    staged.{owner},
    staged.front_conversation_id,
    staged.front_conversation_created_at,
    staged.position
from {analytics}.{first_fill} as staged
where
    staged.position > %(after_position)s
    and staged.position <= %(upto_position)s
