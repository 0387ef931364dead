-- Numbers links (owner, conversation, the conversation's created_at) from 1 in the unique pair's order, (conversation, owner), the order insert_pending_front_links.sql inserts them in: a diff's missing links, a window's staged defined pairs. A first fill's staged pairs carry their number already.
select
    links.owner_id,
    links.front_conversation_id,
    links.front_conversation_created_at,
    row_number() over (order by links.front_conversation_id, links.owner_id) as position
from ({links}) as links (owner_id, front_conversation_id, front_conversation_created_at)
