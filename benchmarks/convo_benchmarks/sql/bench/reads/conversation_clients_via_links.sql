-- The clients of one Front conversation, through clients_front_conversations (one indexed lookup).
select link.client_id
from {source}.clients_front_conversations as link
where link.front_conversation_id = %(id)s
