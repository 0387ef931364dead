-- The people of one Front conversation, through people_front_conversations (one indexed lookup).
select link.person_id
from {source}.people_front_conversations as link
where link.front_conversation_id = %(id)s
