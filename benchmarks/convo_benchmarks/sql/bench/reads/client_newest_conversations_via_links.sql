-- One client's 50 newest Front conversations, through clients_front_conversations: one range scan of its (client_id, front_conversation_created_at desc) index.
select
    link.front_conversation_id as id,
    link.front_conversation_created_at as created_at
from {source}.clients_front_conversations as link
where link.client_id = %(id)s
order by link.front_conversation_created_at desc, link.front_conversation_id desc
limit 50
