-- The app's "a client's 50 newest Front conversations", through clients_front_conversations.
select
    link.front_conversation_id,
    link.front_conversation_created_at
from {source}.clients_front_conversations as link
where link.client_id = %(id)s
order by link.front_conversation_created_at desc, link.front_conversation_id desc
limit 50
